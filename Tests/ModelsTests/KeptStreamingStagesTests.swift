import XCTest
import Models
import Tensor

/// A server under a VRAM budget (`keepLoaded` + `vramBudget`) keeps T5, like the DiT, as host
/// copies of its blocks between generations: a warm job gives the device memory back and takes it
/// again, but never reads the checkpoint again, and computes the same.
final class KeptStreamingStagesTests: XCTestCase {
    static let files = try! FluxModelFiles.resolve(modelDir: Bundle.module.resourcePath! + "/Fixtures/tiny-flux")
    static var request: GenerationRequest {
        var r = GenerationRequest(prompt: "a red circle on a blue background", seed: 3, steps: 2, width: 64, height: 48)
        r.maxSequenceLength = 64
        return r
    }

    func testAServerUnderABudgetReadsT5AndTheDiTOnce() throws {
        let plain = try FluxPipeline(files: Self.files).generate(Self.request)
        let backend = CapabilityTestBackend()
        let pipeline = try FluxPipeline(files: Self.files, keepLoaded: true, backend: backend, vramBudget: 1 << 30)
        let first = try pipeline.generate(Self.request)
        XCTAssertEqual(first.rgb, plain.rgb)
        let stages = pipeline.stagePeaks.map(\.stage)
        XCTAssertEqual(pipeline.checkpointLoads["T5"], 1)
        XCTAssertEqual(pipeline.checkpointLoads["DiT"], 1)
        XCTAssertNotNil(pipeline.lastT5Residency)
        let copiesBefore = backend.copiesRun
        let second = try pipeline.generate(Self.request)
        XCTAssertEqual(second.rgb, first.rgb, "T5 and the DiT placed again from their host copies compute the same")
        XCTAssertEqual(pipeline.checkpointLoads["T5"], 1, "a warm job must not read T5 from its checkpoint again")
        XCTAssertEqual(pipeline.checkpointLoads["DiT"], 1)
        // Stages that are not kept under a budget are read per job.
        XCTAssertEqual(pipeline.checkpointLoads["CLIP"], 2)
        XCTAssertEqual(pipeline.checkpointLoads["VAE"], 2)
        // The warm job still runs T5 as a device stage of its own (its blocks uploaded again from host memory).
        XCTAssertEqual(pipeline.stagePeaks.map(\.stage), stages)
        XCTAssertGreaterThan(backend.copiesRun, copiesBefore, "the kept blocks were uploaded again")

        // A one-off run (the CLI's `generate`) keeps nothing: the counter counts every read.
        let once = try FluxPipeline(files: Self.files, keepLoaded: false, backend: CapabilityTestBackend(), vramBudget: 1 << 30)
        XCTAssertEqual(try once.generate(Self.request).rgb, plain.rgb)
        XCTAssertEqual(try once.generate(Self.request).rgb, plain.rgb)
        XCTAssertEqual(once.checkpointLoads["T5"], 2)
        XCTAssertEqual(once.checkpointLoads["DiT"], 2)
    }

    /// T5 streamed through one slot on the test backend (copies land only when their fence is
    /// waited on), its device memory given back and taken again: the resident encoder's numbers,
    /// pass after pass, its embedding table never on the device.
    func testAKeptT5EvictedAndPlacedAgainEncodesTheSame() throws {
        let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-models"
        let config = try ConfigFile.load(T5Config.self, path: dir + "/t5/config.json", what: "T5 config")
        let weights = try CheckpointWeights(path: dir + "/t5/model.safetensors")
        let ids = [[3, 17, 250, 9, 1, 0, 0, 0]], other = [[5, 6, 7, 1, 0, 0, 0, 0]]
        let resident = try T5Encoder(config: config, weights: weights)
        let expected = [resident(ids).floats(), resident(other).floats()]

        let backend = CapabilityTestBackend()
        let probe = try T5Encoder(config: config, weights: weights, backend: backend, streaming: BlockStreaming(weightBudget: 1 << 40))
        let all = try XCTUnwrap(probe.residency)
        let tableBytes = config.vocabSize * config.dModel * 4
        XCTAssertLessThan(all.otherWeightBytes, tableBytes, "the embedding table stays in host memory")
        let budget = all.otherWeightBytes + all.blockBytes.max()!
        let t5 = try T5Encoder(config: config, weights: weights, backend: backend,
                               streaming: BlockStreaming(weightBudget: budget, slots: 1, keepsHostCopies: true))
        XCTAssertEqual(t5.residency?.streamedBlocks, 2)
        XCTAssertEqual(t5(ids).floats(), expected[0])
        t5.evictBlocks()
        XCTAssertTrue(t5.blocksEvicted)
        XCTAssertEqual(t5.residency?.deviceBytes, 0)
        // Placed again with room for everything: both blocks resident, nothing streamed.
        try t5.placeBlocks(weightBudget: 1 << 40)
        XCTAssertFalse(t5.blocksEvicted)
        XCTAssertEqual(t5.residency?.residentBlocks, 2)
        let copies = try XCTUnwrap(t5.residency).copies
        XCTAssertEqual(t5(other).floats(), expected[1])
        XCTAssertEqual(t5.residency?.copies, copies, "resident blocks are not copied per pass")
        t5.evictBlocks()
        try t5.placeBlocks(weightBudget: budget)
        XCTAssertEqual(t5.residency?.residentBlocks, 0)
        XCTAssertEqual(t5(ids).floats(), expected[0])
        XCTAssertEqual(t5(other).floats(), expected[1])
        // Without host copies, evicting does nothing (the encoder stays usable).
        let plain = try T5Encoder(config: config, weights: weights, backend: backend, streaming: BlockStreaming(weightBudget: budget, slots: 1))
        plain.evictBlocks()
        XCTAssertFalse(plain.blocksEvicted)
        XCTAssertEqual(plain(ids).floats(), expected[0])
    }
}
