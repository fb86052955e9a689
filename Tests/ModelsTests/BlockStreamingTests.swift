import XCTest
import Models
import Tensor

/// Low-VRAM mode's machinery run on the CPU backend, whose `AsyncUploading` copies at once: the DiT
/// with streamed blocks must compute exactly what the resident DiT computes, pass after pass, with
/// the copies the plan promises; likewise T5.
/// (The same code on a GPU, where the copies run on a second stream, is checked by `cuda-check stream`.)
final class BlockStreamingTests: XCTestCase {
    static let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-models"

    /// The tiny DiT widened to 3 double and 5 single blocks, each block a scaled copy of block 0 (so
    /// blocks differ and a block run from the wrong slot shows).
    func widenedDiT() throws -> (FluxConfig, DictionaryWeights) {
        let base = try FluxCheckpointLayout.canonical(CheckpointWeights(path: Self.dir + "/flux-comfy.safetensors"))
        var tensors: [String: Tensor] = [:]
        for name in base.names {
            let t = try base.tensor(name).to(.f32)
            if name.hasPrefix("double_blocks.0.") {
                for i in 0..<3 { tensors[name.replacingOccurrences(of: "double_blocks.0.", with: "double_blocks.\(i).")] = t * Float(1 - 0.1 * Double(i)) }
            } else if name.hasPrefix("single_blocks.0.") {
                for i in 0..<5 { tensors[name.replacingOccurrences(of: "single_blocks.0.", with: "single_blocks.\(i).")] = t * Float(1 + 0.05 * Double(i)) }
            } else if !name.hasPrefix("double_blocks.") && !name.hasPrefix("single_blocks.") {
                tensors[name] = t
            }
        }
        let config = try FluxConfig.infer(shape: { tensors[$0]?.shape }, names: Array(tensors.keys))
        XCTAssertEqual(config.numLayers, 3)
        XCTAssertEqual(config.numSingleLayers, 5)
        return (config, DictionaryWeights(tensors))
    }

    func run(_ dit: FluxTransformer, seed: UInt64) -> [Float] {
        let c = dit.config
        let img = TorchGenerator(seed: seed).randn([1, 12, c.inChannels])
        let txt = TorchGenerator(seed: seed + 1).randn([1, 8, c.jointAttentionDim])
        let pooled = TorchGenerator(seed: seed + 2).randn([1, c.pooledProjectionDim])
        return dit(img: img, height: 3, width: 4, txt: txt, pooled: pooled, timestep: [0.6], guidance: [3.5]).floats()
    }

    func testStreamedBlocksComputeExactlyWhatResidentBlocksDo() throws {
        let (config, weights) = try widenedDiT()
        let resident = try FluxTransformer(config: config, weights: weights)
        let expected = [run(resident, seed: 1), run(resident, seed: 7)]

        // A budget that holds everything: all 8 blocks resident, nothing copied while running.
        let roomy = try FluxTransformer(config: config, weights: weights, streaming: BlockStreaming(weightBudget: 1 << 40))
        let all = try XCTUnwrap(roomy.residency)
        XCTAssertEqual(all.residentBlocks, 8)
        XCTAssertEqual(all.streamedBlocks, 0)
        XCTAssertEqual(run(roomy, seed: 1), expected[0])
        XCTAssertEqual(try XCTUnwrap(roomy.residency).copies, 0)

        // The prefix plan: the longest prefix of blocks (in running order) that fits resident, beside
        // `slots` buffers as large as the largest streamed block.
        let sizes = all.blockBytes, outside = all.otherWeightBytes
        XCTAssertEqual(sizes.count, 8)
        XCTAssertGreaterThan(outside, 0)
        func need(_ r: Int, slots: Int = 2) -> Int {
            outside + sizes[..<r].reduce(0, +) + min(slots, 8 - r) * (sizes[r...].max() ?? 0)
        }
        let budget = outside + sizes[0] + 2 * sizes.max()!
        let tight = try FluxTransformer(config: config, weights: weights, streaming: BlockStreaming(weightBudget: budget, layout: .prefix))
        let plan = try XCTUnwrap(tight.residency)
        let r = plan.residentBlocks
        XCTAssertLessThanOrEqual(need(r), budget)
        XCTAssertTrue((r + 1...8).allSatisfy { need($0) > budget }, "a longer resident prefix would have fitted")
        XCTAssertGreaterThan(plan.streamedBlocks, 2, "this budget must make blocks take turns in the slots")
        XCTAssertEqual(plan.residentBlocks + plan.streamedBlocks, 8)
        XCTAssertEqual(plan.slots, 2)
        XCTAssertEqual(plan.slotBytes, sizes[r...].max()!)
        XCTAssertEqual(plan.deviceBytes + outside, need(r))
        XCTAssertEqual(plan.bytesPerPass, sizes[r...].reduce(0, +))
        // Pass 1 copies every streamed block and prefetches the next pass's first two; each later
        // pass copies every streamed block once. Outputs are bit-identical to the resident model's.
        let n = plan.streamedBlocks
        XCTAssertEqual(run(tight, seed: 1), expected[0])
        XCTAssertEqual(try XCTUnwrap(tight.residency).copies, n + 2)
        XCTAssertEqual(run(tight, seed: 7), expected[1])
        XCTAssertEqual(try XCTUnwrap(tight.residency).copies, 2 * n + 2)
        XCTAssertEqual(run(tight, seed: 1), expected[0])

        // Streaming the last blocks through as many slots as there are of them would cost as much
        // memory as keeping them: the plan keeps them all.
        let last = try FluxTransformer(config: config, weights: weights, streaming: BlockStreaming(weightBudget: need(6), layout: .prefix))
        XCTAssertEqual(last.residency?.residentBlocks, 8)

        // Everything streamed through three slots: another rotation, the same numbers.
        let three = try FluxTransformer(config: config, weights: weights,
                                        streaming: BlockStreaming(weightBudget: need(0, slots: 3), slots: 3))
        XCTAssertEqual(three.residency?.residentBlocks, 0)
        XCTAssertEqual(three.residency?.slots, 3)
        XCTAssertEqual(run(three, seed: 7), expected[1])
        XCTAssertEqual(run(three, seed: 1), expected[0])
        XCTAssertEqual(three.residency?.copies, 8 + 8 + 3)
    }

    /// A streaming DiT keeps its blocks' modulation Linears out of the streamed weights and computes
    /// their outputs for all steps at once: the same numbers as step by step.
    func testModulationIsComputedAheadAndNotStreamed() throws {
        let (config, weights) = try widenedDiT()
        let resident = try FluxTransformer(config: config, weights: weights)
        let streamed = try FluxTransformer(config: config, weights: weights, streaming: BlockStreaming(weightBudget: 1 << 40))
        let r = try XCTUnwrap(streamed.residency)
        let d = config.hiddenSize
        let modulationBytes = (config.numLayers * 2 * (6 * d * d + 6 * d) + config.numSingleLayers * (3 * d * d + 3 * d)) * 4
        let blockLinearBytes = resident.weightByteCount - r.otherWeightBytes
        let slack = 8 * 40 * 256  // padding of ~40 tensors per block, norms
        XCTAssertLessThan(abs(r.blockBytes.reduce(0, +) + modulationBytes - blockLinearBytes), slack,
                          "streamed blocks hold everything but the modulation Linears")

        let timesteps: [Float] = [1, 0.75, 0.4]
        let img = TorchGenerator(seed: 11).randn([1, 12, config.inChannels])
        let txt = TorchGenerator(seed: 12).randn([1, 8, config.jointAttentionDim])
        let pooled = TorchGenerator(seed: 13).randn([1, config.pooledProjectionDim])
        streamed.prepareModulation(timesteps: timesteps, guidance: 4, pooled: pooled)
        for t in timesteps {
            let want = resident(img: img, height: 3, width: 4, txt: txt, pooled: pooled, timestep: [t], guidance: [4]).floats()
            let got = streamed(img: img, height: 3, width: 4, txt: txt, pooled: pooled, timestep: [t], guidance: [4]).floats()
            let scale = want.map { abs($0) }.max()!
            let err = zip(want, got).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(err, 1e-5 * scale, "timestep \(t)")
            XCTAssertNotEqual(want, run(resident, seed: 1), "inputs matter")
        }
        // Unprepared values are prepared on the spot, exactly as the resident model computes them.
        streamed.clearModulation()
        XCTAssertEqual(run(streamed, seed: 1), run(resident, seed: 1))
    }

    func testEvictedBlocksPlacedAgainComputeTheSame() throws {
        let (config, weights) = try widenedDiT()
        let resident = try FluxTransformer(config: config, weights: weights)
        let expected = run(resident, seed: 5)
        let roomy = try FluxTransformer(config: config, weights: weights,
                                        streaming: BlockStreaming(weightBudget: 1 << 40, keepsHostCopies: true))
        let plan = try XCTUnwrap(roomy.residency)
        XCTAssertEqual(run(roomy, seed: 5), expected)
        roomy.evictBlocks()
        XCTAssertTrue(roomy.blocksEvicted)
        XCTAssertEqual(roomy.residency?.deviceBytes, 0)
        // Placed again under a tighter budget: a different plan, the same output.
        let tighter = plan.otherWeightBytes + plan.blockBytes[0] + 2 * plan.blockBytes.max()!
        try roomy.placeBlocks(weightBudget: tighter)
        XCTAssertFalse(roomy.blocksEvicted)
        XCTAssertLessThan(try XCTUnwrap(roomy.residency).residentBlocks, 8)
        XCTAssertEqual(run(roomy, seed: 5), expected)
        XCTAssertEqual(run(roomy, seed: 5), expected)
        roomy.evictBlocks()
        try roomy.placeBlocks(weightBudget: 1 << 40)
        XCTAssertEqual(roomy.residency?.residentBlocks, 8)
        XCTAssertEqual(run(roomy, seed: 5), expected)
        // Without host copies of resident blocks, evicting does nothing.
        let plain = try FluxTransformer(config: config, weights: weights, streaming: BlockStreaming(weightBudget: 1 << 40))
        plain.evictBlocks()
        XCTAssertFalse(plain.blocksEvicted)
        XCTAssertEqual(run(plain, seed: 5), expected)
    }

    func testTooSmallABudgetIsRefusedWithTheSizeNeeded() throws {
        let (config, weights) = try widenedDiT()
        XCTAssertThrowsError(try FluxTransformer(config: config, weights: weights, streaming: BlockStreaming(weightBudget: 1000))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("Raise --vram-budget"), text)
            XCTAssertTrue(text.contains("at least"), text)
        }
    }

    func testLayersQuantizedForTheCPUCannotStream() throws {
        let (config, weights) = try widenedDiT()
        XCTAssertThrowsError(try FluxTransformer(config: config, weights: weights, quantization: .fluxInt8,
                                                 streaming: BlockStreaming(weightBudget: 1 << 40))) { error in
            XCTAssertTrue("\(error)".contains("cannot be moved between memories"), "\(error)")
        }
    }

    func testStreamedT5MatchesTheResidentEncoder() throws {
        let config = try ConfigFile.load(T5Config.self, path: Self.dir + "/t5/config.json", what: "T5 config")
        XCTAssertEqual(config.numLayers, 2)
        let weights = try CheckpointWeights(path: Self.dir + "/t5/model.safetensors")
        let ids = [[3, 17, 250, 9, 1, 0, 0, 0]], other = [[5, 6, 7, 1, 0, 0, 0, 0]]
        let resident = try T5Encoder(config: config, weights: weights)
        let expected = [resident(ids).floats(), resident(other).floats()]
        let roomy = try T5Encoder(config: config, weights: weights, streaming: BlockStreaming(weightBudget: 1 << 40))
        let sizes = try XCTUnwrap(roomy.residency).blockBytes, outside = try XCTUnwrap(roomy.residency).otherWeightBytes
        XCTAssertEqual(roomy.residency?.residentBlocks, 2)
        XCTAssertEqual(roomy(ids).floats(), expected[0])
        // One slot for both blocks: each pass copies both (the first also prefetches block 0 again).
        let tight = try T5Encoder(config: config, weights: weights,
                                  streaming: BlockStreaming(weightBudget: outside + sizes.max()!, slots: 1))
        XCTAssertEqual(tight.residency?.residentBlocks, 0)
        XCTAssertEqual(tight.residency?.streamedBlocks, 2)
        XCTAssertEqual(tight(ids).floats(), expected[0])
        XCTAssertEqual(tight.residency?.copies, 3)
        XCTAssertEqual(tight(other).floats(), expected[1])
        XCTAssertEqual(tight.residency?.copies, 5)
        XCTAssertThrowsError(try T5Encoder(config: config, weights: weights, streaming: BlockStreaming(weightBudget: outside))) { error in
            XCTAssertTrue("\(error)".contains("the T5 encoder needs at least"), "\(error)")
        }
    }

    func testStreamedT5StillNamesEveryMissingTensor() throws {
        let config = try ConfigFile.load(T5Config.self, path: Self.dir + "/t5/config.json", what: "T5 config")
        let full = try CheckpointWeights(path: Self.dir + "/t5/model.safetensors")
        var tensors: [String: Tensor] = [:]
        for n in full.names { tensors[n] = try full.tensor(n) }
        let last = "encoder.block.\(config.numLayers - 1).layer.1.DenseReluDense.wo.weight"
        XCTAssertNotNil(tensors[last])
        tensors[last] = nil
        XCTAssertThrowsError(try T5Encoder(config: config, weights: DictionaryWeights(tensors),
                                           streaming: BlockStreaming(weightBudget: 1 << 40))) { error in
            XCTAssertTrue("\(error)".contains("missing \(last)"), "\(error)")
        }
    }

    /// The whole pipeline under a budget (the CLI allows one only with CUDA; on the CPU the same
    /// stages run through `BlockStreamer` without device accounting): the same picture as without,
    /// both encoders' residencies reported, and a budget below T5's activations refused by name.
    func testPipelineUnderABudgetMakesTheSamePicture() throws {
        let files = try FluxModelFiles.resolve(modelDir: Bundle.module.resourcePath! + "/Fixtures/tiny-flux")
        var request = GenerationRequest(prompt: "a red circle on a blue background", seed: 3, steps: 2, width: 64, height: 48)
        request.maxSequenceLength = 64
        let plain = try FluxPipeline(files: files).generate(request)
        let budgeted = try FluxPipeline(files: files, keepLoaded: true, vramBudget: 1 << 30)
        XCTAssertEqual(try budgeted.generate(request).rgb, plain.rgb)
        let dit = try XCTUnwrap(budgeted.lastDiTResidency), t5 = try XCTUnwrap(budgeted.lastT5Residency)
        XCTAssertEqual(dit.residentBlocks + dit.streamedBlocks, 3)
        XCTAssertEqual(t5.residentBlocks + t5.streamedBlocks, 2)
        XCTAssertEqual(try budgeted.generate(request).rgb, plain.rgb, "a kept DiT placed again computes the same")

        let config = try ConfigFile.load(T5Config.self, path: files.t5Config!, what: "T5 config")
        let tooSmall = FluxPipeline.t5DeviceWorkingBytes(config, tokens: 512) / 2
        XCTAssertThrowsError(try FluxPipeline(files: files, vramBudget: tooSmall).generate(request)) { error in
            XCTAssertTrue("\(error)".contains("Raise --vram-budget"), "\(error)")
        }
    }
}

/// LoRAs on a streaming DiT: beside the streamed blocks' Linears and the modulation Linears kept in
/// host memory, the same output as on the resident DiT, and still there after evicting and placing.
extension BlockStreamingTests {
    func testLoRAsOnStreamedBlocksComputeWhatTheResidentDiTDoes() throws {
        let (config, weights) = try widenedDiT()
        var tensors: [(String, Tensor)] = []
        for (i, layer) in ["double_blocks.0.img_attn.qkv", "double_blocks.2.img_mod.lin", "double_blocks.1.txt_mlp.2",
                           "single_blocks.4.linear1", "single_blocks.1.modulation.lin", "img_in"].enumerated() {
            let shape = try XCTUnwrap(weights.shape(of: layer + ".weight"))
            let module = "lora_unet_" + layer.replacingOccurrences(of: ".", with: "_")
            tensors.append(("\(module).lora_down.weight", TorchGenerator(seed: UInt64(10 + 2 * i)).randn([2, shape[1]]) * 0.3))
            tensors.append(("\(module).lora_up.weight", TorchGenerator(seed: UInt64(11 + 2 * i)).randn([shape[0], 2]) * 0.3))
        }
        let lora = try LoRA(contentsOf: LoRAFormatTests.write(tensors))
        let resident = try FluxTransformer(config: config, weights: weights)
        let base = run(resident, seed: 1)
        try resident.setLoRAs([LoRAUse(lora, weight: 0.8)])
        let expected = run(resident, seed: 1)
        XCTAssertGreaterThan(zip(base, expected).map { abs($0 - $1) }.max()!, 1e-2, "the LoRA changes the output")

        let all = try XCTUnwrap(try FluxTransformer(config: config, weights: weights, streaming: BlockStreaming(weightBudget: 1 << 40)).residency)
        let budget = all.otherWeightBytes + all.blockBytes[..<2].reduce(0, +) + 2 * all.blockBytes[2...].max()!
        let streamed = try FluxTransformer(config: config, weights: weights,
                                           streaming: BlockStreaming(weightBudget: budget, keepsHostCopies: true))
        XCTAssertGreaterThan(try XCTUnwrap(streamed.residency).streamedBlocks, 0)
        try streamed.setLoRAs([LoRAUse(lora, weight: 0.8)])
        XCTAssertEqual(run(streamed, seed: 1), expected)
        streamed.evictBlocks()
        try streamed.placeBlocks(weightBudget: budget)
        XCTAssertEqual(run(streamed, seed: 1), expected, "the LoRAs survive evicting and placing the blocks")
        try streamed.setLoRAs([])
        XCTAssertEqual(run(streamed, seed: 1), base)
        XCTAssertThrowsError(try streamed.fuseLoRAs([LoRAUse(lora)])) { XCTAssertTrue("\($0)".contains("streamed"), "\($0)") }
    }
}

/// The default plan spreads the resident blocks among the streamed ones (so the copy queue works
/// while resident blocks compute) and prefetches the first streamed blocks when placed.
extension BlockStreamingTests {
    func testSpreadPlanComputesExactlyWhatResidentBlocksDo() throws {
        let (config, weights) = try widenedDiT()
        let resident = try FluxTransformer(config: config, weights: weights)
        let expected = [run(resident, seed: 1), run(resident, seed: 7)]
        let all = try XCTUnwrap(try FluxTransformer(config: config, weights: weights, streaming: BlockStreaming(weightBudget: 1 << 40)).residency)
        let sizes = all.blockBytes, outside = all.otherWeightBytes, largest = sizes.max()!
        // Room for one double and one single block beside three slots as large as the largest block.
        let budget = outside + 3 * largest + sizes[0] + sizes[3]
        // On the test backend copies land only when their fence is waited on: a block run before its
        // copy, or from the wrong slot, computes with other weights and the output shows it.
        let backend = CapabilityTestBackend()
        let spread = try FluxTransformer(config: config, weights: weights, backend: backend,
                                         streaming: BlockStreaming(weightBudget: budget, slots: 3))
        let plan = try XCTUnwrap(spread.residency)
        let room = budget - outside - 3 * largest
        let residentBytes = sizes.indices.filter { !plan.streamed.contains($0) }.reduce(0) { $0 + sizes[$1] }
        XCTAssertLessThanOrEqual(residentBytes, room)
        XCTAssertTrue(plan.streamed.allSatisfy { residentBytes + sizes[$0] > room }, "a streamed block would have fitted: \(plan.map)")
        XCTAssertEqual(plan.slots, 3)
        XCTAssertEqual(plan.slotBytes, plan.streamed.map { sizes[$0] }.max())
        XCTAssertEqual(plan.deviceBytes, residentBytes + 3 * plan.slotBytes)
        XCTAssertEqual(plan.residentBlocks + plan.streamedBlocks, 8)
        XCTAssertGreaterThan(plan.residentBlocks, 0)
        XCTAssertNotEqual(plan.map, String(repeating: "R", count: plan.residentBlocks) + String(repeating: "s", count: plan.streamedBlocks),
                          "not a prefix: resident blocks among the streamed ones")
        XCTAssertEqual(plan.copies, 3, "the first three streamed blocks are copied when placed")
        let n = plan.streamedBlocks
        XCTAssertEqual(run(spread, seed: 1), expected[0])
        XCTAssertEqual(try XCTUnwrap(spread.residency).copies, n + 3)
        XCTAssertEqual(run(spread, seed: 7), expected[1])
        XCTAssertEqual(try XCTUnwrap(spread.residency).copies, 2 * n + 3)
        // Evicted and placed again (a server between jobs): the same plan, the same numbers.
        let kept = try FluxTransformer(config: config, weights: weights, backend: backend,
                                       streaming: BlockStreaming(weightBudget: budget, slots: 3, keepsHostCopies: true))
        kept.evictBlocks()
        try kept.placeBlocks(weightBudget: budget)
        XCTAssertEqual(kept.residency?.map, plan.map)
        XCTAssertEqual(run(kept, seed: 7), expected[1])
        XCTAssertEqual(run(kept, seed: 1), expected[0])
    }

    /// FLUX.1-dev's shape (19 double blocks twice the size of its 38 single ones) at the proportions
    /// of a 6 GiB budget: the plan `Tools/stream_plan_model.py --toy` makes (its model of record).
    func testSpreadPlanMatchesTheModel() throws {
        struct Toy: Module {
            var w: Tensor
            mutating func visit<V: ModuleVisitor>(_ v: inout V) throws { try v.parameter("w", &w) }
        }
        func plan(budget: Int, slots: Int) throws -> String {
            let s = try BlockStreamer(backend: CPUBackend.shared, slots: slots)
            for i in 0..<57 { _ = try s.adopt(Toy(w: Tensor.zeros([i < 19 ? 2048 : 1024]))) }
            try s.place(budget: budget, what: "toy")
            return String((0..<57).map { s.isResident($0) ? "R" : "s" })
        }
        XCTAssertEqual(try plan(budget: 3 * 8192 + 143196, slots: 3), "ssRsRssRsRsRssRsRsRRsRsRsRsRssRsRsRsRssRsRsRsRssRsRsRsRsR")
        XCTAssertEqual(try plan(budget: 2 * 8192 + 100000, slots: 2), "sssRssRssRssRssRssRsssRssRssRssRssRssRsssRssRssRssRssRssR")
    }
}
