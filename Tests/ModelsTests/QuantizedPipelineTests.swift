import XCTest
import Models
import Quant
import Tensor

/// The Flux DiT with quantized Linear weights: quantized on load (`--precision fp8|int8`) and read from
/// a ComfyUI-style scaled fp8 checkpoint (`scale_weight` + `scaled_fp8`), on the tiny pipeline fixture.
final class QuantizedPipelineTests: XCTestCase {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"
    static let dir = fixtures + "/tiny-flux"

    func request() -> GenerationRequest {
        var r = GenerationRequest(prompt: "a red circle on a blue background, 一只红色的圆", seed: 42, steps: 4, width: 64, height: 48)
        r.maxSequenceLength = 64
        return r
    }


    /// Writes the tiny DiT as a ComfyUI scaled-fp8 file: block Linears in F8_E4M3 with a per-tensor
    /// `scale_weight`, everything else as stored, plus the `scaled_fp8` marker.
    func writeScaledFP8(to path: String) throws {
        let source = try CheckpointWeights(path: Self.fixtures + "/tiny-flux-dit-comfy.safetensors")
        let policy = QuantPolicy.fluxDiT(format: .fp8e4m3fn, granularity: .tensor)
        var out: [(String, Tensor)] = [("scaled_fp8", Tensor.zeros([2], dtype: .f8e4m3fn))]
        for name in source.names.sorted() {
            let t = try source.tensor(name)
            if policy.shouldQuantize(name, shape: t.shape) {
                let q = try QuantizedWeight.quantize(t, format: .fp8e4m3fn, granularity: .tensor)
                let layer = String(name.dropLast(".weight".count))
                out.append((name, q.data))
                out.append((layer + ".scale_weight", try XCTUnwrap(q.scales).reshaped([])))
            } else {
                out.append((name, t))
            }
        }
        try SafeTensorsWriter.write(out, to: path)
    }

    func testFP8AndInt8WeightsStayCloseToBF16AndScaledFileMatchesOnLoadQuantization() throws {
        let files = try FluxModelFiles.resolve(modelDir: Self.dir)
        let reference = try FluxPipeline(files: files, precision: .bf16).generate(request()).rgb
        let f32 = try FluxPipeline(files: files, precision: .f32).generate(request()).rgb
        XCTAssertGreaterThanOrEqual(PictureComparison.psnr(f32, reference), 60, "f32 weights hold the same bf16 values")

        let fp8 = try FluxPipeline(files: files, precision: .fp8).generate(request()).rgb
        let int8 = try FluxPipeline(files: files, precision: .int8).generate(request()).rgb
        let (pFP8, pInt8) = (PictureComparison.psnr(fp8, reference), PictureComparison.psnr(int8, reference))
        print("tiny pipeline PSNR vs bf16 weights: fp8 e4m3fn/channel \(pFP8) dB, int8/channel \(pInt8) dB")
        XCTAssertGreaterThanOrEqual(pFP8, 35)  // measured 43.5 dB
        XCTAssertGreaterThanOrEqual(pInt8, 35)  // measured 51.9 dB
        XCTAssertNotEqual(fp8, reference, "the fp8 path must really quantize")

        // A ComfyUI scaled fp8 file passed as --dit loads without "unexpected" scale tensors and gives
        // exactly the picture of quantizing the same weights on load with per-tensor scales.
        let path = NSTemporaryDirectory() + "/majicflux-scaled-fp8-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeScaledFP8(to: path)
        let scaled = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.dir, dit: path)).generate(request()).rgb
        let source = try FluxCheckpointLayout.canonical(CheckpointWeights(path: Self.fixtures + "/tiny-flux-dit-comfy.safetensors"))
        let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names,
                                          declared: ConfigFile.load(FluxConfig.self, path: Self.dir + "/transformer/config.json", what: "config"))
        let onLoad = try FluxTransformer(config: config, weights: source,
                                         quantization: LinearQuantization(policy: .fluxDiT(format: .fp8e4m3fn, granularity: .tensor)))
        let fromFile = try FluxTransformer(config: config, weights: FluxCheckpointLayout.canonical(CheckpointWeights(path: path)))
        let img = TorchGenerator(seed: 1).randn([1, 12, 64]), txt = TorchGenerator(seed: 2).randn([1, 8, 32])
        let pooled = TorchGenerator(seed: 3).randn([1, 16])
        let a = onLoad(img: img, height: 3, width: 4, txt: txt, pooled: pooled, timestep: [0.5], guidance: [3.5])
        let b = fromFile(img: img, height: 3, width: 4, txt: txt, pooled: pooled, timestep: [0.5], guidance: [3.5])
        XCTAssertEqual(a.floats(), b.floats())
        print("tiny pipeline PSNR vs bf16 weights: ComfyUI scaled fp8 file \(PictureComparison.psnr(scaled, reference)) dB")
        XCTAssertGreaterThanOrEqual(PictureComparison.psnr(scaled, reference), 35)  // measured 41.4 dB
    }

    /// Files written by `majicflux quantize` (QuantizeConverter) load as `--dit` in either layout: a
    /// BFL single file keeps its scaled layers as stored (int4 too: its packing is read from the file's
    /// metadata), and a diffusers `transformer/` quantized layer by layer (q, k, v scaled apart, fused
    /// into qkv by the loader) is dequantized before its tensors are fused, not read as bare codes.
    /// Measured before the fix: the diffusers fp8 file 15.1 dB, int8 a crash, int4 "packed format unknown".
    func testQuantizedFilesOfBothLayoutsLoadAsDiT() throws {
        let files = try FluxModelFiles.resolve(modelDir: Self.dir)
        let reference = try FluxPipeline(files: files, precision: .bf16).generate(request()).rgb
        let inputs = [("BFL", Self.fixtures + "/tiny-flux-dit-comfy.safetensors"), ("diffusers", Self.dir + "/transformer")]
        let formats: [(QuantFormat, ScaleGranularity)] = [(.fp8e4m3fn, .tensor), (.fp8e4m3fn, .channel), (.int8, .channel), (.int4, .block(16))]
        for (layout, input) in inputs {
            for (format, granularity) in formats {
                let what = "\(layout) \(format.rawValue)/\(granularity)"
                let path = NSTemporaryDirectory() + "/majicflux-quantized-\(UUID().uuidString).safetensors"
                defer { try? FileManager.default.removeItem(atPath: path) }
                let converter = try QuantizeConverter(source: try SafeTensorsCheckpoint(path: input),
                                                      policy: .fluxDiT(format: format, granularity: granularity))
                XCTAssertGreaterThan(converter.quantizedLayerCount, 0, what)
                _ = try converter.write(to: path)
                let picture = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.dir, dit: path)).generate(request()).rgb
                let psnr = PictureComparison.psnr(picture, reference)
                print("tiny pipeline PSNR vs bf16 weights: quantize \(what) file as --dit \(psnr) dB")
                XCTAssertGreaterThanOrEqual(psnr, format == .int4 ? 25 : 35, what)
            }
        }
    }

    /// The layer types a module holds, by checkpoint name.
    struct LinearKinds: ModuleVisitor {
        var path: [String] = []
        var kinds: [String: String] = [:]
        mutating func parameter(_ key: String, _ tensor: inout Tensor) throws {}
        mutating func linear(_ key: String, _ layer: inout any LinearLayer) throws {
            kinds[name(key)] = "\(type(of: layer))"
            try child(key, &layer)
        }
    }

    /// A quantized DiT file (`quantize` output: scaled fp8, int8, int4) on a backend other than the
    /// CPU: Quant's CPU kernel cannot run there (on CUDA it stopped the process at the first step), so
    /// its layers load dequantized as dense Linears, or as e4m3 per tensor with `--precision fp8` on an
    /// fp8 GEMM; resident or streamed, they compute what the CPU computes from the same file.
    func testQuantizedFilesOnAnotherBackendLoadDequantized() throws {
        let dir = Self.fixtures + "/tiny-models"
        let plain = try FluxCheckpointLayout.canonical(CheckpointWeights(path: dir + "/flux-comfy.safetensors"))
        let config = try FluxConfig.infer(shape: plain.shape(of:), names: plain.names)
        func run(_ dit: FluxTransformer) -> [Float] {
            let img = TorchGenerator(seed: 1).randn([1, 12, config.inChannels])
            let txt = TorchGenerator(seed: 2).randn([1, 8, config.jointAttentionDim])
            let pooled = TorchGenerator(seed: 3).randn([1, config.pooledProjectionDim])
            return dit(img: img, height: 3, width: 4, txt: txt, pooled: pooled, timestep: [0.6], guidance: [3.5]).floats()
        }
        func relativeError(_ a: [Float], _ b: [Float]) -> Float {
            let num = zip(a, b).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            return (num / b.reduce(Float(0)) { $0 + $1 * $1 }).squareRoot()
        }
        let formats: [(QuantFormat, ScaleGranularity)] = [(.fp8e4m3fn, .channel), (.int8, .channel), (.int4, .block(16))]
        for (format, granularity) in formats {
            let what = "\(format.rawValue)/\(granularity)"
            let path = NSTemporaryDirectory() + "/majicflux-quantized-\(UUID().uuidString).safetensors"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let converter = try QuantizeConverter(source: try SafeTensorsCheckpoint(path: dir + "/flux-comfy.safetensors"),
                                                  policy: .fluxDiT(format: format, granularity: granularity))
            _ = try converter.write(to: path)
            let file = try FluxCheckpointLayout.canonical(CheckpointWeights(path: path))
            let onCPU = try FluxTransformer(config: config, weights: file)
            var cpuKinds = LinearKinds()
            var cpuModel = onCPU
            try cpuModel.visit(&cpuKinds)
            XCTAssertEqual(cpuKinds.kinds["double_blocks.0.img_attn.qkv"], "CPUQuantizedLinear", what)
            let expected = run(onCPU)

            let backend = CapabilityTestBackend()
            var other = try FluxTransformer(config: config, weights: file, backend: backend)
            var kinds = LinearKinds()
            try other.visit(&kinds)
            XCTAssertFalse(kinds.kinds.values.contains("CPUQuantizedLinear"), "\(what): \(kinds.kinds)")
            XCTAssertEqual(kinds.kinds["double_blocks.0.img_attn.qkv"], "Linear", what)
            XCTAssertLessThan(relativeError(run(other), expected), 1e-5, what)

            // Streamed through one slot (it refused before: such layers cannot move between memories).
            let roomy = try XCTUnwrap(try FluxTransformer(config: config, weights: file, backend: backend,
                                                          streaming: BlockStreaming(weightBudget: 1 << 40)).residency)
            let streamed = try FluxTransformer(config: config, weights: file, backend: backend,
                                               streaming: BlockStreaming(weightBudget: roomy.otherWeightBytes + roomy.blockBytes.max()!, slots: 1))
            XCTAssertEqual(streamed.residency?.residentBlocks, 0, what)
            XCTAssertLessThan(relativeError(run(streamed), expected), 1e-5, what)

            // `--precision fp8` on the backend's fp8 GEMM: every block Linear in e4m3, near the file's values.
            var fp8 = try FluxTransformer(config: config, weights: file, quantization: .fluxFP8, backend: backend)
            var fp8Kinds = LinearKinds()
            try fp8.visit(&fp8Kinds)
            XCTAssertEqual(fp8Kinds.kinds["double_blocks.0.img_attn.qkv"], "FP8Linear", what)
            XCTAssertLessThan(relativeError(run(fp8), expected), 0.1, what)
        }
    }

    /// A block Linear stored as int8 codes without their scale is a load error naming it (it used to
    /// reach the matmul and stop the process on a precondition).
    func testIntegerCodesWithoutScalesAreAnErrorNotACrash() throws {
        let source = try CheckpointWeights(path: Self.fixtures + "/tiny-flux-dit-comfy.safetensors")
        let victim = try XCTUnwrap(source.names.sorted().first { $0.hasSuffix("img_attn.qkv.weight") })
        var out: [(String, Tensor)] = []
        for name in source.names.sorted() {
            let t = try source.tensor(name)
            out.append((name, name == victim ? try QuantizedWeight.quantize(t, format: .int8, granularity: .channel).data : t))
        }
        let path = NSTemporaryDirectory() + "/majicflux-bare-int8-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensorsWriter.write(out, to: path)
        XCTAssertThrowsError(try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.dir, dit: path)).generate(request())) { e in
            XCTAssertTrue("\(e)".contains("img_attn.qkv.weight is i8, not a float type"), "\(e)")
        }
    }

    /// `quantize --all-linear` also quantizes tensors the models read as plain tensors (T5's and CLIP's
    /// embedding tables, the DiT's embedders): they are taken as codes times scales. Before, int8 and
    /// int4 tables were refused (or stopped the process) and fp8 ones were read without their scale.
    func testAllLinearFilesOfEveryComponentLoad() throws {
        let files = try FluxModelFiles.resolve(modelDir: Self.dir)
        let reference = try FluxPipeline(files: files, precision: .bf16).generate(request()).rgb
        let components: [(String, String, (String) -> FluxModelFiles.Overrides, String?)] = [
            ("T5", Self.dir + "/text_encoder_2", { FluxModelFiles.Overrides(t5: $0) }, nil),
            ("CLIP", Self.dir + "/text_encoder", { FluxModelFiles.Overrides(clip: $0) }, nil),
            ("DiT", Self.dir + "/transformer", { _ in FluxModelFiles.Overrides() }, ""),
        ]
        for (component, input, overrides, dit) in components {
            for (format, granularity) in [(QuantFormat.fp8e4m3fn, ScaleGranularity.tensor), (.int8, .channel), (.int4, .block(16))] {
                let what = "\(component) \(format.rawValue) --all-linear"
                let path = NSTemporaryDirectory() + "/majicflux-all-linear-\(UUID().uuidString).safetensors"
                defer { try? FileManager.default.removeItem(atPath: path) }
                var policy = QuantPolicy.fluxDiT(format: format, granularity: granularity)
                policy.selects = { name, shape in shape.count == 2 && name.hasSuffix(".weight") }
                _ = try QuantizeConverter(source: try SafeTensorsCheckpoint(path: input), policy: policy).write(to: path)
                let picked = try FluxModelFiles.resolve(modelDir: Self.dir, dit: dit == nil ? nil : path, overrides: overrides(path))
                let psnr = PictureComparison.psnr(try FluxPipeline(files: picked).generate(request()).rgb, reference)
                print("tiny pipeline PSNR vs bf16 weights: \(what) \(psnr) dB")
                XCTAssertGreaterThanOrEqual(psnr, format == .int4 ? 25 : 35, what)
            }
        }
    }
}
