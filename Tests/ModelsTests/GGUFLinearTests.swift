import Foundation
import XCTest
import Models
import Quant
import Tensor

/// `GGUFLinear`: Linears kept in ggml blocks (`--precision gguf`), on the CPU (Quant's block kernel)
/// and on a backend that expands blocks itself (`BlockDequantizing`, the test backend), against a
/// dense Linear over the dequantised weight; the tiny pipeline and a streamed DiT with kept blocks.
final class GGUFLinearTests: XCTestCase {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"
    static let q8DiT = fixtures + "/gguf/tiny-flux-dit-q8_0.gguf"

    /// Random values in about -1.4...1.4.
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int((s >> 33) % 20001) - 10000) / 7000
        }
    }

    /// `rows` x `columns` weights quantised to `format`: the blocks as a u8 tensor and their exact
    /// dequantisation (f32).
    static func blocks(_ format: BlockQuantFormat, rows: Int, columns: Int, seed: UInt64) throws -> (Tensor, Tensor) {
        let type = GGMLType(format)
        let w = values(rows * columns, seed: seed)
        var bytes = [UInt8](repeating: 0, count: rows * format.rowBytes(columns: columns))
        try w.withUnsafeBufferPointer { s in
            try bytes.withUnsafeMutableBytes { try GGUFQuantize.quantize(type, from: s.baseAddress!, count: w.count, into: $0.baseAddress!) }
        }
        let u8 = Tensor(bytes.map(Float.init), shape: [rows, bytes.count / rows]).to(.u8)
        var back = [Float](repeating: 0, count: w.count)
        try bytes.withUnsafeBytes { r in try back.withUnsafeMutableBufferPointer { try GGUFDequantize.dequantize(type, from: r.baseAddress!, count: w.count, into: $0.baseAddress!) } }
        return (u8, Tensor(back, shape: [rows, columns]))
    }

    static func maxRelativeDifference(_ a: [Float], _ b: [Float]) -> Float {
        let scale = b.map(abs).max() ?? 1
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    func testOutputIsTheDenseDequantisedLinearForEveryFormat() throws {
        let (rows, columns) = (40, 512)
        let x = Tensor(Self.values(3 * 7 * columns, seed: 1), shape: [3, 7, columns])
        let bias = Tensor(Self.values(rows, seed: 2), shape: [rows])
        let backend = CapabilityTestBackend()
        for format in BlockQuantFormat.allCases {
            let (u8, dense) = try Self.blocks(format, rows: rows, columns: columns, seed: 3)
            XCTAssertEqual(u8.shape, [rows, format.rowBytes(columns: columns)])
            let layer = try GGUFLinear(blocks: u8, format: format, inFeatures: columns, outFeatures: rows, bias: bias)
            let reference = Linear(weight: dense, bias: bias)
            let want = reference(x).floats()
            let cpu = layer(x)
            XCTAssertEqual(cpu.shape, [3, 7, rows])
            let cpuOut = cpu.floats()
            XCTAssertLessThan(Self.maxRelativeDifference(cpuOut, want), 1e-5, "\(format) on the CPU")
            let g = layer.geluTanh(x).floats(), gWant = reference.geluTanh(x).floats()
            XCTAssertLessThan(Self.maxRelativeDifference(g, gWant), 1e-5, "\(format) gelu")
            let half = try XCTUnwrap(layer.rows(8, 24)), referenceHalf = try XCTUnwrap(reference.rows(8, 24))
            let halfOut = half(x).floats(), halfWant = referenceHalf(x).floats()
            XCTAssertLessThan(Self.maxRelativeDifference(halfOut, halfWant), 1e-5, "\(format) rows")
            // The same layer with its blocks on a backend that expands them itself.
            let before = backend.blockExpansions
            let moved = try GGUFLinear(blocks: u8.moved(to: backend), format: format, inFeatures: columns, outFeatures: rows,
                                       bias: bias.moved(to: backend))
            let onBackend = moved(x.moved(to: backend))
            XCTAssertEqual(backend.blockExpansions, before + 1, "\(format): expanded by the backend")
            let backendOut = onBackend.floats()
            XCTAssertLessThan(Self.maxRelativeDifference(backendOut, want), 1e-5, "\(format) on the test backend")
            let expanded = moved.denseWeight(like: x.moved(to: backend)).floats(), exact = dense.floats()
            XCTAssertEqual(expanded, exact, "\(format): the backend's expansion is ggml's")
        }
    }

    func testBadBlocksAreRefusedByName() throws {
        let (u8, _) = try Self.blocks(.q4_K, rows: 4, columns: 256, seed: 4)
        XCTAssertThrowsError(try GGUFLinear(blocks: u8, format: .q4_K, inFeatures: 256, outFeatures: 5, bias: nil)) {
            XCTAssertTrue("\($0)".contains("q4_K"), "\($0)")
        }
        XCTAssertThrowsError(try GGUFLinear(blocks: u8, format: .q4_K, inFeatures: 100, outFeatures: 4, bias: nil))
        XCTAssertThrowsError(try GGUFLinear(blocks: u8.to(.f32), format: .q4_K, inFeatures: 256, outFeatures: 4, bias: nil))
    }

    /// The GGUF Linears of a loaded model.
    static func ggufLinears(_ dit: FluxTransformer) throws -> [String] {
        var m = dit, names: [String] = []
        try m.replaceLinears { name, layer in
            if layer is GGUFLinear { names.append(name) }
            return nil
        }
        return names
    }

    func testLoaderKeepsTheFilesBlocksUnderPrecisionGGUF() throws {
        let source = try FluxCheckpointLayout.canonical(GGUFWeights(path: Self.q8DiT))
        let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names)
        let kept = try FluxTransformer(config: config, weights: source, quantization: .ggufBlocks)
        let keptLinears = try Self.ggufLinears(kept)
        XCTAssertEqual(keptLinears.count, 16, "the Q8_0 block Linears (embedders and final layer are F32 in the file)")
        // Their delayed scales (four LayerNorm outputs and two GELU outputs a double block, one each a
        // single block), restarted with each generation (`restartDelayedScales`).
        XCTAssertEqual(kept.fp8DelayedScales.count, 6 * config.numLayers + 2 * config.numSingleLayers)
        let dense = try FluxTransformer(config: config, weights: source, computeDType: .f32)
        let denseLinears = try Self.ggufLinears(dense)
        XCTAssertEqual(denseLinears.count, 0)
        // The 16 Linears hold 34 bytes per 32 weights instead of f32's 128; nothing else changes.
        let file = try GGUFFile(path: Self.q8DiT)
        let saved = file.tensorInfos.filter { $0.type == .q8_0 }.reduce(0) { $0 + $1.count * 4 - $1.byteCount }
        XCTAssertEqual(kept.weightByteCount, dense.weightByteCount - saved, "blocks: 34 bytes per 32 weights")
        // One DiT step: blocks kept vs dequantised at load.
        func run(_ dit: FluxTransformer) -> [Float] {
            let img = TorchGenerator(seed: 1).randn([1, 12, config.inChannels])
            let txt = TorchGenerator(seed: 2).randn([1, 8, config.jointAttentionDim])
            let pooled = TorchGenerator(seed: 3).randn([1, config.pooledProjectionDim])
            return dit(img: img, height: 3, width: 4, txt: txt, pooled: pooled, timestep: [0.6], guidance: [3.5]).floats()
        }
        let expected = run(dense)
        let keptOut = run(kept)
        XCTAssertLessThan(Self.maxRelativeDifference(keptOut, expected), 1e-4)

        // Streamed on the test backend (one slot: every block's u8 blocks copied in as it runs).
        let backend = CapabilityTestBackend()
        let roomy = try FluxTransformer(config: config, weights: source, quantization: .ggufBlocks, backend: backend,
                                        streaming: BlockStreaming(weightBudget: 1 << 40))
        let r = try XCTUnwrap(roomy.residency)
        let tight = try FluxTransformer(config: config, weights: source, quantization: .ggufBlocks, backend: backend,
                                        streaming: BlockStreaming(weightBudget: r.otherWeightBytes + r.blockBytes.max()!, slots: 1))
        XCTAssertEqual(try XCTUnwrap(tight.residency).residentBlocks, 0)
        // The modulation Linears are kept aside in host memory (run ahead of the steps): the rest is in the blocks.
        let tightLinears = try Self.ggufLinears(tight)
        XCTAssertEqual(tightLinears.count, 16 - (2 * config.numLayers + config.numSingleLayers))
        let copies = backend.copiesRun, expansions = backend.blockExpansions
        let tightOut = run(tight)
        XCTAssertLessThan(Self.maxRelativeDifference(tightOut, expected), 1e-4, "streamed")
        XCTAssertGreaterThan(backend.copiesRun, copies)
        XCTAssertGreaterThanOrEqual(backend.blockExpansions - expansions, 16)
        let roomyOut = run(roomy)
        XCTAssertLessThan(Self.maxRelativeDifference(roomyOut, expected), 1e-4, "resident on the backend")
    }

    func testTinyPipelineWithKeptBlocksGivesTheDequantisedPicture() throws {
        var request = GenerationRequest(prompt: "a red circle on a blue background", seed: 42, steps: 3, width: 64, height: 48)
        request.maxSequenceLength = 64
        let files = try FluxModelFiles.resolve(modelDir: Self.fixtures + "/tiny-flux", dit: Self.q8DiT)
        let dequantised = try FluxPipeline(files: files, precision: .f32).generate(request).rgb
        let kept = try FluxPipeline(files: files, precision: .gguf).generate(request).rgb
        let p = PictureComparison.psnr(kept, dequantised)
        print("tiny pipeline PSNR, Q8_0 blocks kept (CPU kernel) vs dequantised at load: \(p) dB")
        XCTAssertGreaterThanOrEqual(p, 40)
        // Streamed under a budget on the test backend (blocks expanded by the backend).
        let backend = CapabilityTestBackend()
        let streamed = try FluxPipeline(files: files, precision: .gguf, backend: backend, vramBudget: 1 << 30).generate(request).rgb
        let ps = PictureComparison.psnr(streamed, dequantised)
        print("tiny pipeline PSNR, Q8_0 blocks on the test backend vs dequantised at load: \(ps) dB")
        XCTAssertGreaterThanOrEqual(ps, 40)
        XCTAssertGreaterThan(backend.blockExpansions, 0)
    }

    /// The memory check before loading counts ggml blocks at their stored size (bytes per weight from
    /// the file's types), and the GGUF precisions at their types' sizes.
    func testMemoryEstimateKnowsGGUFSizes() throws {
        let r = MemoryRequest(width: 64, height: 64, sequenceLength: 64)
        func ditBytes(_ f: FluxModelFiles, _ p: WeightPrecision) throws -> Int64 {
            try f.estimateMemory(precision: p, request: r).stages.first { $0.name == "DiT" }!.weightBytes
        }
        let gguf = try FluxModelFiles.resolve(modelDir: Self.fixtures + "/tiny-flux", dit: Self.q8DiT)
        let file = try GGUFFile(path: Self.q8DiT)
        // Q8_0 blocks and F32 tensors, both as stored.
        XCTAssertEqual(try ditBytes(gguf, .gguf), Int64(file.tensorInfos.reduce(0) { $0 + $1.byteCount }))
        XCTAssertEqual(try ditBytes(gguf, .bf16), try ditBytes(gguf, .gguf), "bf16 keeps a GGUF DiT's blocks")
        XCTAssertGreaterThan(try ditBytes(gguf, .f32), try ditBytes(gguf, .gguf))

        // A bf16 safetensors DiT under --precision q8_0 / q4_k: the block Linears at 34/32 and 144/256 bytes per weight.
        let st = try FluxModelFiles.resolve(modelDir: DefaultModelQualityTests.modelDir)
        let source = try CheckpointWeights(path: st.transformer)
        let blockWeights = source.names.filter { QuantPolicy.isFluxBlockLinearWeight($0, shape: source.shape(of: $0)!) }
            .map { Int64(source.shape(of: $0)!.reduce(1, *)) }.reduce(0, +)
        XCTAssertGreaterThan(blockWeights, 0)
        let bf16 = try ditBytes(st, .bf16)
        XCTAssertEqual(try ditBytes(st, .q8_0), bf16 - blockWeights * 2 + blockWeights / 32 * 34)
        XCTAssertEqual(try ditBytes(st, .q4_k), bf16 - blockWeights * 2 + blockWeights / 256 * 144)
    }
}
