import XCTest
import Models
import Tensor

/// A backend Models has never heard of (`CapabilityTestBackend`: the CPU's kernels behind the
/// optional capabilities) runs the tiny pipeline, streaming and stage bookkeeping included, and
/// gives the CPU's picture: proof that adding a backend needs no edit in Models.
final class CapabilityBackendTests: XCTestCase {
    static let files = try! FluxModelFiles.resolve(modelDir: Bundle.module.resourcePath! + "/Fixtures/tiny-flux")
    static var request: GenerationRequest {
        var r = GenerationRequest(prompt: "a red circle on a blue background", seed: 3, steps: 2, width: 64, height: 48)
        r.maxSequenceLength = 64
        return r
    }

    func testTheTinyPipelineUnderABudgetMakesTheCPUsPicture() throws {
        let plain = try FluxPipeline(files: Self.files).generate(Self.request)
        let backend = CapabilityTestBackend()
        let pipeline = try FluxPipeline(files: Self.files, keepLoaded: true, backend: backend, vramBudget: 1 << 30)
        XCTAssertEqual(try pipeline.generate(Self.request).rgb, plain.rgb)
        // Stage bookkeeping through `DeviceMemoryInfo`: every stage's peak, counted by the backend.
        XCTAssertEqual(pipeline.stagePeaks.map(\.stage), ["CLIP", "T5", "DiT", "VAE"])
        XCTAssertTrue(pipeline.stagePeaks.allSatisfy { $0.bytes > 0 }, "\(pipeline.stagePeaks)")
        XCTAssertNotNil(backend.allocatorLimit, "the budget capped the backend's allocator")
        XCTAssertNotNil(pipeline.lastDiTResidency)
        XCTAssertEqual(try pipeline.generate(Self.request).rgb, plain.rgb, "a kept DiT placed again computes the same")
    }

    /// Streamed blocks on the test backend, whose copies only land when a fence is waited on: the
    /// streamer's ordering is what makes the output right.
    func testStreamedDiTOnTheTestBackendComputesWhatTheCPUDoes() throws {
        let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-models"
        let source = try FluxCheckpointLayout.canonical(CheckpointWeights(path: dir + "/flux-comfy.safetensors"))
        let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names)
        func run(_ dit: FluxTransformer) -> [Float] {
            let img = TorchGenerator(seed: 1).randn([1, 12, config.inChannels])
            let txt = TorchGenerator(seed: 2).randn([1, 8, config.jointAttentionDim])
            let pooled = TorchGenerator(seed: 3).randn([1, config.pooledProjectionDim])
            return dit(img: img, height: 3, width: 4, txt: txt, pooled: pooled, timestep: [0.6], guidance: [3.5]).floats()
        }
        let expected = run(try FluxTransformer(config: config, weights: source))
        let backend = CapabilityTestBackend()
        let roomy = try FluxTransformer(config: config, weights: source, backend: backend, streaming: BlockStreaming(weightBudget: 1 << 40))
        let r = try XCTUnwrap(roomy.residency)
        // Everything outside the blocks, then one slot for the largest block: every block streams.
        let tight = try FluxTransformer(config: config, weights: source, backend: backend,
                                        streaming: BlockStreaming(weightBudget: r.otherWeightBytes + r.blockBytes.max()!, slots: 1))
        XCTAssertEqual(try XCTUnwrap(tight.residency).residentBlocks, 0)
        let before = backend.copiesRun
        XCTAssertEqual(run(tight), expected)
        XCTAssertEqual(run(tight), expected, "second pass")
        XCTAssertGreaterThanOrEqual(backend.copiesRun - before, 2 * r.blockBytes.count - 1)
    }

    /// `--precision fp8` on a backend with an fp8 GEMM keeps the block Linears as e4m3 codes there
    /// (`FP8Linear`) and multiplies through the backend: close to the dense picture.
    func testFP8OnABackendWithAnFP8GEMM() throws {
        let plain = try FluxPipeline(files: Self.files).generate(Self.request)
        let backend = CapabilityTestBackend()
        let image = try FluxPipeline(files: Self.files, precision: .fp8, backend: backend).generate(Self.request)
        XCTAssertGreaterThan(backend.fp8Calls, 0)
        let diffs = zip(image.rgb, plain.rgb).map { abs(Int($0) - Int($1)) }
        let mean = Double(diffs.reduce(0, +)) / Double(diffs.count)
        print("fp8 on the test backend vs dense: mean pixel difference \(mean), max \(diffs.max()!)")
        XCTAssertNotEqual(image.rgb, plain.rgb)
        XCTAssertLessThan(mean, 8)
    }

    /// On a backend that reads back without waiting (`AsyncDownloading`), each step's preview is
    /// reported after the next step is queued: the same steps in order, the same preview values (the
    /// copy is waited for before the report), the same picture, and cancelling still stops the run.
    func testPreviewsReadBackWithoutWaitingMatchTheCPUs() throws {
        var request = Self.request
        request.steps = 4
        func run(_ pipeline: FluxPipeline) throws -> (steps: [Int], previews: [[Float]], rgb: [UInt8]) {
            var steps: [Int] = [], previews: [[Float]] = []
            let image = try pipeline.generate(request) { p in
                if p.stage == .denoising { steps.append(p.step) }
                if let d = p.denoised { previews.append(d.floats()) }
                return true
            }
            return (steps, previews, image.rgb)
        }
        let cpu = try run(FluxPipeline(files: Self.files))
        let backend = CapabilityTestBackend()
        let async = try run(FluxPipeline(files: Self.files, backend: backend))
        XCTAssertEqual(cpu.steps, [0, 1, 2, 3, 4])
        XCTAssertEqual(async.steps, cpu.steps)
        XCTAssertEqual(async.previews.count, 4)
        XCTAssertEqual(async.previews, cpu.previews, "a preview read before its copy landed would be 0xFF garbage")
        XCTAssertEqual(async.rgb, cpu.rgb)
        var seen: [Int] = []
        XCTAssertThrowsError(try FluxPipeline(files: Self.files, backend: backend).generate(request) { p in
            if p.stage == .denoising { seen.append(p.step) }
            return p.step < 2
        }) { error in
            guard case ModelError.cancelled = error else { return XCTFail("expected cancelled, got \(error)") }
        }
        XCTAssertEqual(seen, [0, 1, 2], "no report after the cancelling one")
    }
}
