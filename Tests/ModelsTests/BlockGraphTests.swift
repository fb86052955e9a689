import XCTest
@testable import Models
import Tensor

/// The DiT's blocks captured once and replayed (`GraphCapturing`, FluxTransformer+Graphs.swift) on
/// `GraphTestBackend`, whose replays recompute and overwrite the captured outputs: every step equals
/// the CPU's eager step, and a new shape, new weights (a LoRA) or new settings capture again.
final class BlockGraphTests: XCTestCase {
    static let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-models"

    func weights() throws -> WeightSource {
        try FluxCheckpointLayout.canonical(CheckpointWeights(path: Self.dir + "/flux-comfy.safetensors"))
    }

    func dit(on backend: any Backend = CPUBackend.shared) throws -> FluxTransformer {
        let source = try weights()
        let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names)
        return try FluxTransformer(config: config, weights: source, backend: backend)
    }

    /// One step's velocity for inputs drawn from `seed` on a `height` x `width` grid.
    func step(_ dit: FluxTransformer, seed: UInt64, height: Int = 3, width: Int = 4, t: Float = 0.6,
              cache: FirstBlockCache? = nil) -> [Float] {
        let c = dit.config
        let img = TorchGenerator(seed: seed).randn([1, height * width, c.inChannels])
        let txt = TorchGenerator(seed: seed + 1).randn([1, 8, c.jointAttentionDim])
        let pooled = TorchGenerator(seed: seed + 2).randn([1, c.pooledProjectionDim])
        return dit(img: img, height: height, width: width, txt: txt, pooled: pooled, timestep: [t], guidance: [3.5], cache: cache).floats()
    }

    func testReplayedStepsEqualTheCPUsEagerSteps() throws {
        let cpu = try dit()
        let backend = GraphTestBackend()
        let graphed = try dit(on: backend)
        for (i, seed) in [UInt64(1), 5, 9, 13, 17].enumerated() {
            let t = 1 - Float(i) * 0.2
            XCTAssertEqual(step(graphed, seed: seed, t: t), step(cpu, seed: seed, t: t), "step \(i)")
        }
        // First step eager (it warms up), second captured and replayed, then replays only.
        XCTAssertEqual(graphed.blockGraphUse, BlockGraphUse(captures: 1, replays: 4, eager: 1, lastRefusal: ""))
        XCTAssertEqual(backend.replays, 4)
        XCTAssertEqual(cpu.blockGraphUse, BlockGraphUse(), "the CPU backend does not capture")
    }

    /// `restartDelayedScales` (each generation's start): where a backend keeps delayed GELU scales it
    /// marks them for calibration and the next step runs eagerly (exact quantisation, calibrating
    /// them), the steps after it replaying the graph again; where none is in use it changes nothing.
    func testRestartingDelayedScalesRunsOneStepEagerly() throws {
        let source = try weights()
        let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names)
        let fp8 = try FluxTransformer(config: config, weights: source, quantization: .fluxFP8, backend: GraphTestBackend())
        XCTAssertFalse(fp8.fp8DelayedScales.isEmpty)
        fp8.restartDelayedScales()  // this backend quantises exactly: no scale in use
        XCTAssertFalse(fp8.calibrationPending.withLock { $0 })
        // A scale the backend has calibrated, as CUDA's are.
        let scale = fp8.fp8DelayedScales[0]
        scale.withState { $0.device = Tensor([Float](repeating: 0, count: 3), shape: [3]); $0.calibrated = true }
        fp8.restartDelayedScales()
        XCTAssertFalse(scale.withState { $0.calibrated })
        XCTAssertTrue(fp8.calibrationPending.withLock { $0 })
        _ = step(fp8, seed: 1)
        XCTAssertFalse(fp8.calibrationPending.withLock { $0 }, "the step took the pending calibration")

        // What a pending calibration does to the graph cache (a dense DiT, whose steps capture here).
        let cpu = try dit(), graphed = try dit(on: GraphTestBackend())
        _ = step(graphed, seed: 1)
        _ = step(graphed, seed: 2)
        graphed.calibrationPending.withLock { $0 = true }
        XCTAssertEqual(step(graphed, seed: 3), step(cpu, seed: 3))
        XCTAssertEqual(graphed.blockGraphUse, BlockGraphUse(captures: 1, replays: 1, eager: 2, lastRefusal: ""), "eager after the restart")
        XCTAssertEqual(step(graphed, seed: 4), step(cpu, seed: 4))
        XCTAssertEqual(graphed.blockGraphUse, BlockGraphUse(captures: 1, replays: 2, eager: 2, lastRefusal: ""), "then replayed again")
    }

    func testANewShapeCapturesAgainAndStaysRight() throws {
        let cpu = try dit()
        let graphed = try dit(on: GraphTestBackend())
        for (h, w) in [(3, 4), (3, 4), (4, 4), (4, 4), (4, 4), (3, 4), (3, 4)] {
            XCTAssertEqual(step(graphed, seed: UInt64(h * 10 + w), height: h, width: w),
                           step(cpu, seed: UInt64(h * 10 + w), height: h, width: w), "\(h)x\(w)")
        }
        // Same token count, other layout (2x6 against 3x4): other rotary tables, so another graph.
        XCTAssertEqual(step(graphed, seed: 3, height: 2, width: 6), step(cpu, seed: 3, height: 2, width: 6))
        XCTAssertEqual(step(graphed, seed: 4, height: 2, width: 6), step(cpu, seed: 4, height: 2, width: 6))
        let use = graphed.blockGraphUse
        XCTAssertEqual(use.captures, 4)
        XCTAssertEqual(use.eager, 4)
        XCTAssertEqual(use.replays, 5)
    }

    func testALoRAAttachedAfterCapturingIsUsed() throws {
        let cpu = try dit(), graphed = try dit(on: GraphTestBackend())
        XCTAssertEqual(step(graphed, seed: 1), step(cpu, seed: 1))
        XCTAssertEqual(step(graphed, seed: 2), step(cpu, seed: 2))
        XCTAssertEqual(graphed.blockGraphUse.captures, 1)
        var tensors: [(String, Tensor)] = []
        for (i, layer) in ["double_blocks.0.img_attn.qkv", "single_blocks.0.linear2"].enumerated() {
            let shape = try XCTUnwrap(try weights().shape(of: layer + ".weight"))
            let module = "lora_unet_" + layer.replacingOccurrences(of: ".", with: "_")
            tensors.append(("\(module).lora_down.weight", TorchGenerator(seed: UInt64(10 + 2 * i)).randn([2, shape[1]]) * 0.3))
            tensors.append(("\(module).lora_up.weight", TorchGenerator(seed: UInt64(11 + 2 * i)).randn([shape[0], 2]) * 0.3))
        }
        let lora = try LoRA(contentsOf: LoRAFormatTests.write(tensors))
        let before = step(cpu, seed: 3)
        try cpu.setLoRAs([LoRAUse(lora, weight: 0.8)])
        try graphed.setLoRAs([LoRAUse(lora, weight: 0.8)])
        let expected = step(cpu, seed: 3)
        XCTAssertGreaterThan(zip(before, expected).map { abs($0 - $1) }.max()!, 1e-3, "the LoRA changes the output")
        XCTAssertEqual(step(graphed, seed: 3), expected)
        XCTAssertEqual(step(graphed, seed: 4), step(cpu, seed: 4))
        XCTAssertEqual(step(graphed, seed: 5), step(cpu, seed: 5))
        XCTAssertEqual(graphed.blockGraphUse.captures, 2, "new weights, new graph")
        try cpu.setLoRAs([])
        try graphed.setLoRAs([])
        XCTAssertEqual(step(graphed, seed: 6), step(cpu, seed: 6))
        XCTAssertEqual(step(graphed, seed: 7), step(cpu, seed: 7))
        XCTAssertEqual(graphed.blockGraphUse.captures, 3)
    }

    /// With the step cache the first block runs alone (its residual is read back to decide), and
    /// the graph holds the blocks after it.
    func testTheStepCacheRunsTheFirstBlockEagerlyAndReplaysTheRest() throws {
        let cpu = try dit()
        let backend = GraphTestBackend()
        let graphed = try dit(on: backend)
        let cpuCache = FirstBlockCache(threshold: 0.05), graphCache = FirstBlockCache(threshold: 0.05)
        // Inputs repeated (reused steps) and changed (computed ones).
        for i in 0..<8 {
            let seed: UInt64 = [1, 1, 2, 2, 2, 3, 4, 4][i]
            let t: Float = i < 5 ? 0.9 : 0.5
            XCTAssertEqual(step(graphed, seed: seed, t: t, cache: graphCache), step(cpu, seed: seed, t: t, cache: cpuCache), "step \(i)")
        }
        XCTAssertEqual(graphCache.reused, cpuCache.reused)
        XCTAssertGreaterThan(graphCache.reused, 0)
        XCTAssertGreaterThan(graphCache.computed, 2)
        let use = graphed.blockGraphUse
        XCTAssertEqual(use.captures, 1)
        XCTAssertEqual(use.replays + use.eager, graphCache.computed)
        XCTAssertEqual(use.lastRefusal, "", "the cache's read back happens outside the capture")
    }

    func testWithoutGraphsOrWithARefusedCaptureTheBlocksRunEagerly() throws {
        let cpu = try dit()
        let off = GraphTestBackend()
        off.graphsEnabled = false
        let plain = try dit(on: off)
        let refusing = GraphTestBackend()
        refusing.refuseCaptures = true
        let refused = try dit(on: refusing)
        for seed in [UInt64(1), 2, 3] {
            let expected = step(cpu, seed: seed)
            XCTAssertEqual(step(plain, seed: seed), expected)
            XCTAssertEqual(step(refused, seed: seed), expected)
        }
        XCTAssertEqual(plain.blockGraphUse, BlockGraphUse())
        XCTAssertEqual(refused.blockGraphUse.captures, 0)
        XCTAssertEqual(refused.blockGraphUse.eager, 3)
        XCTAssertEqual(refused.blockGraphUse.lastRefusal, "refused by the test")
        // Settings changed (another epoch): the kept graph is not replayed, a new one is captured.
        let backend = GraphTestBackend()
        let graphed = try dit(on: backend)
        _ = step(graphed, seed: 1); _ = step(graphed, seed: 2)
        backend.graphEpoch = 1
        XCTAssertEqual(step(graphed, seed: 3), step(cpu, seed: 3))
        XCTAssertEqual(step(graphed, seed: 4), step(cpu, seed: 4))
        XCTAssertEqual(graphed.blockGraphUse.captures, 2)
    }
}
