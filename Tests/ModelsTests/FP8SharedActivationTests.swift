import XCTest
import Models
import Tensor

/// fp8 Linears on one quantised activation (`QuantizedActivation`, Flux/FluxBlocks+FP8.swift): the
/// activation is quantised once for the GEMMs that share it, and the results are those of each GEMM
/// quantising its own input (the test backend's fp8 GEMM, which quantises activations per tensor as
/// CUDA's tensor-core path does).
final class FP8SharedActivationTests: XCTestCase {
    private static func values(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        TorchGenerator(seed: seed).randn([n]).floats().map { $0 * scale }
    }

    /// Two row slices of one fp8 Linear (Flux single blocks' linear1 as two GEMMs) on one quantised
    /// input: the same outputs as each slice quantising the input itself, with one quantisation.
    func testTwoGEMMsOnOneQuantisedInputMatchAndQuantiseOnce() throws {
        let backend = CapabilityTestBackend()
        let (k, n) = (48, 40)
        let w = Tensor(Self.values(n * k, seed: 1, scale: 0.2), shape: [n, k]).moved(to: backend)
        let (codes, scale) = backend.quantizeTensorE4M3(w)
        let bias = Tensor(Self.values(n, seed: 2, scale: 0.1), shape: [n]).moved(to: backend)
        let layer = FP8Linear(codes: codes, scale: scale, bias: bias)
        let first = try XCTUnwrap(layer.rows(0, 24)), second = try XCTUnwrap(layer.rows(24, n))
        let x = Tensor(Self.values(2 * 5 * k, seed: 3, scale: 3), shape: [2, 5, k]).moved(to: backend)

        let q0 = backend.quantizations
        let separate = (first(x).floats(), second.geluTanh(x).floats())
        XCTAssertEqual(backend.quantizations - q0, 2, "each GEMM quantised its input")

        let shared = try XCTUnwrap(FP8Linear.sharedQuantization(x, [first, second]))
        let q1 = backend.quantizations
        let q = shared.backend.quantizeActivation(x)
        XCTAssertEqual(q.shape, [2, 5, k])
        let a = shared.layers[0](q, on: shared.backend), b = shared.backend.fp8Linear(q, codes: shared.layers[1].codes,
            scale: shared.layers[1].scale, bias: shared.layers[1].bias, gelu: true)
        XCTAssertEqual(backend.quantizations - q1, 1, "one quantisation for both GEMMs")
        XCTAssertEqual(a.shape, [2, 5, 24])
        XCTAssertEqual(b.shape, [2, 5, n - 24])
        XCTAssertEqual(a.floats(), separate.0)
        XCTAssertEqual(b.floats(), separate.1)
        // The quantised input is not the input: the GEMM did see e4m3 values.
        let dequantised = (codes.to(.f32) * scale.reshaped([1, 1])).slice(dim: 0, start: 0, end: 24)
        XCTAssertNotEqual(a.floats(), linear(x, weight: dequantised, bias: bias.slice(dim: 0, start: 0, end: 24)).floats())

        // Per-channel weights, other layer forms and a backend that declines take the plain path.
        backend.sharesQuantizedActivations = false
        XCTAssertNil(FP8Linear.sharedQuantization(x, [first, second]))
        backend.sharesQuantizedActivations = true
        XCTAssertNil(FP8Linear.sharedQuantization(x, [first, Linear(weight: w, bias: nil)]))
        let perChannel = FP8Linear(codes: codes, scale: Tensor([Float](repeating: 0.01, count: n), shape: [n]).moved(to: backend), bias: nil)
        XCTAssertNil(FP8Linear.sharedQuantization(x, [perChannel]))
        // The CPU has no fp8 GEMM: its Linears never take this path.
        XCTAssertNil(FP8Linear.sharedQuantization(Tensor([Float](repeating: 1, count: k), shape: [1, k]), [first]))
    }

    /// GGUF layers that run on fp8 tensor cores (blocks expanded to e4m3, one scale) share the
    /// quantised input too, with the results of their own fp8 path; per-row scales keep them apart.
    func testGGUFLayersOnFP8ShareTheQuantisedInput() throws {
        let backend = FusedCapabilityTestBackend()
        let (k, n) = (64, 40)
        let (u8, _) = try GGUFLinearTests.blocks(.q8_0, rows: n, columns: k, seed: 5)
        let bias = Tensor(Self.values(n, seed: 6, scale: 0.1), shape: [n]).moved(to: backend)
        var layer = try GGUFLinear(blocks: u8.moved(to: backend), format: .q8_0, inFeatures: k, outFeatures: n, bias: bias)
        layer.computesInFP8 = true
        let first = try XCTUnwrap(layer.rows(0, 24)), second = try XCTUnwrap(layer.rows(24, n))
        let x = Tensor(Self.values(3 * k, seed: 7, scale: 2), shape: [1, 3, k]).moved(to: backend)
        let q0 = backend.quantizations
        let separate = (first(x).floats(), second.geluTanh(x).floats())
        XCTAssertEqual(backend.quantizations - q0, 2)
        let shared = try XCTUnwrap(FP8Linear.sharedQuantization(x, [first, second]))
        let q1 = backend.quantizations
        let q = shared.backend.quantizeActivation(x)
        let a = shared.layers[0](q, on: shared.backend)
        let b = shared.backend.fp8Linear(q, codes: shared.layers[1].codes, scale: shared.layers[1].scale,
                                         bias: shared.layers[1].bias, gelu: true)
        XCTAssertEqual(backend.quantizations - q1, 1)
        XCTAssertEqual(a.floats(), separate.0)
        XCTAssertEqual(b.floats(), separate.1)
        layer.fp8RowScales = true
        XCTAssertNil(FP8Linear.sharedQuantization(x, [try XCTUnwrap(layer.rows(0, 24))]))
        layer.fp8RowScales = false
        layer.computesInFP8 = false
        XCTAssertNil(FP8Linear.sharedQuantization(x, [try XCTUnwrap(layer.rows(0, 24))]))
    }

    /// A layer's delayed GELU scale (`DelayedE4M3Scale`, kept by the backend across calls) survives
    /// the forms the blocks make again at every call: row slices (single blocks' linear1), copies,
    /// the shared-quantisation layers and a GGUF layer's e4m3 form; another layer has its own.
    func testLayersKeepTheirDelayedGeluScaleAcrossTheFormsMadePerCall() throws {
        let backend = FusedCapabilityTestBackend()
        let (k, n) = (64, 40)
        let w = Tensor(Self.values(n * k, seed: 11, scale: 0.2), shape: [n, k]).moved(to: backend)
        let (codes, scale) = backend.quantizeTensorE4M3(w)
        let layer = FP8Linear(codes: codes, scale: scale, bias: nil)
        let copy = layer
        XCTAssertTrue(copy.geluScale === layer.geluScale)
        let part = try XCTUnwrap(layer.rows(24, n) as? FP8Linear)
        XCTAssertTrue(part.geluScale === layer.geluScale, "a row slice keeps the layer's scales")
        XCTAssertTrue(part.inputScale === layer.inputScale)
        XCTAssertFalse(layer.inputScale === layer.geluScale)
        XCTAssertFalse(FP8Linear(codes: codes, scale: scale, bias: nil).geluScale === layer.geluScale, "another layer has its own")
        let x = Tensor(Self.values(3 * k, seed: 12, scale: 2), shape: [1, 3, k]).moved(to: backend)
        let shared = try XCTUnwrap(FP8Linear.sharedQuantization(x, [part]))
        XCTAssertTrue(shared.layers[0].geluScale === layer.geluScale)
        // The test backend quantises exactly: the scale is handed over but never calibrated.
        _ = shared.layers[0].geluTanhE4M3(shared.backend.quantizeActivation(x), on: shared.backend)
        XCTAssertFalse(layer.geluScale.withState { $0.calibrated })

        let (u8, _) = try GGUFLinearTests.blocks(.q8_0, rows: n, columns: k, seed: 13)
        var gguf = try GGUFLinear(blocks: u8.moved(to: backend), format: .q8_0, inFeatures: k, outFeatures: n, bias: nil)
        gguf.computesInFP8 = true
        let slice = try XCTUnwrap(gguf.rows(24, n))
        let a = try XCTUnwrap(FP8Linear.sharedQuantization(x, [slice])), b = try XCTUnwrap(FP8Linear.sharedQuantization(x, [slice]))
        XCTAssertTrue(a.layers[0].geluScale === b.layers[0].geluScale, "a GGUF layer's e4m3 form keeps one scale across calls")
        let other = try XCTUnwrap(FP8Linear.sharedQuantization(x, [try XCTUnwrap(gguf.rows(0, 24))]))
        XCTAssertTrue(a.layers[0].geluScale === other.layers[0].geluScale)
    }

    /// A tiny fp8 Flux DiT on the test backend with `FusedGEMMEpilogue` (single blocks run linear1 as
    /// two GEMMs, as on CUDA): with shared quantised activations (the modulated LayerNorm and GELU
    /// outputs quantised through the `FP8GEMM` calls, the attention handed over through
    /// `qkNormRoPEAttentionE4M3` / `fp8AttentionConcatLinearGeluTanhE4M3`) the output is bit for bit the
    /// plain path's, the GEMM count is the same, each single block quantises one activation fewer and
    /// the modulation Linears share one quantised silu(vec).
    func testTinyFP8DiTWithSharedActivationsIsThePlainPath() throws {
        let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-models"
        let source = try FluxCheckpointLayout.canonical(CheckpointWeights(path: dir + "/flux-comfy.safetensors"))
        let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names)
        XCTAssertGreaterThan(config.numSingleLayers, 0)
        XCTAssertGreaterThan(config.numLayers, 0)
        let backend = FusedCapabilityTestBackend()
        let dit = try FluxTransformer(config: config, weights: source, quantization: .fluxFP8, backend: backend)
        // Delayed scales: a double block's four LayerNorm outputs and two GELU outputs, a single
        // block's one of each, all distinct.
        XCTAssertEqual(dit.fp8DelayedScales.count, 6 * config.numLayers + 2 * config.numSingleLayers)
        XCTAssertEqual(Set(dit.fp8DelayedScales.map(ObjectIdentifier.init)).count, dit.fp8DelayedScales.count)
        let img = TorchGenerator(seed: 1).randn([1, 12, config.inChannels]).moved(to: backend)
        let txt = TorchGenerator(seed: 2).randn([1, 8, config.jointAttentionDim]).moved(to: backend)
        let pooled = TorchGenerator(seed: 3).randn([1, config.pooledProjectionDim]).moved(to: backend)
        func run(sharing: Bool) -> (out: [Float], quantizations: Int, gemms: Int, attention: Int) {
            backend.sharesQuantizedActivations = sharing
            let (q0, g0, a0) = (backend.quantizations, backend.fp8Calls, backend.attentionE4M3Calls)
            let out = dit(img: img, height: 3, width: 4, txt: txt, pooled: pooled, timestep: [0.6], guidance: [3.5]).floats()
            return (out, backend.quantizations - q0, backend.fp8Calls - g0, backend.attentionE4M3Calls - a0)
        }
        let plain = run(sharing: false), shared = run(sharing: true)
        XCTAssertGreaterThan(plain.gemms, 0, "the block Linears ran as fp8 GEMMs")
        XCTAssertEqual(plain.quantizations, plain.gemms, "plain: every GEMM quantised its own input")
        XCTAssertEqual(shared.out, plain.out)
        XCTAssertTrue(shared.out.allSatisfy(\.isFinite))
        XCTAssertEqual(shared.gemms, plain.gemms)
        // One quantisation of linear1's input per single block instead of two; silu(vec) quantised once
        // for every block's modulation Linear instead of once per Linear.
        let modulationLinears = 2 * config.numLayers + config.numSingleLayers
        XCTAssertEqual(plain.quantizations - shared.quantizations, config.numSingleLayers + modulationLinears - 1)
        XCTAssertEqual(plain.attention, 0)
        XCTAssertEqual(shared.attention, config.numLayers + config.numSingleLayers,
                       "every block handed its attention to the fp8 GEMMs through the backend's call")
    }
}
