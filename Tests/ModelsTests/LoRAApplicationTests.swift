import XCTest
import Models
import Quant
import Tensor

/// LoRAs beside the base layers: the math of one layer, the checks before attaching, detaching back
/// to the exact base, streamed blocks, fusing, and every weight precision on the tiny pipeline.
final class LoRAApplicationTests: XCTestCase {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"
    static let tinyFlux = fixtures + "/tiny-flux"


    func request() -> GenerationRequest {
        var r = GenerationRequest(prompt: "a red circle on a blue background", seed: 42, steps: 4, width: 64, height: 48)
        r.maxSequenceLength = 64
        return r
    }

    /// A kohya LoRA over every block Linear of the tiny DiT (and CLIP's q/fc1 of layer 0), random
    /// factors of `rank` scaled by `magnitude`.
    func tinyLoRA(rank: Int = 4, magnitude: Float = 0.2, seed: UInt64 = 3, name: String = "tiny") throws -> LoRA {
        let dit = try FluxCheckpointLayout.canonical(CheckpointWeights(path: Self.fixtures + "/tiny-flux-dit-comfy.safetensors"))
        var tensors: [(String, Tensor)] = []
        var s = seed
        for name in dit.names.sorted() where name.hasSuffix(".weight") && (name.hasPrefix("double_blocks") || name.hasPrefix("single_blocks")) {
            guard let shape = dit.shape(of: name), shape.count == 2 else { continue }
            let module = "lora_unet_" + name.dropLast(".weight".count).replacingOccurrences(of: ".", with: "_")
            tensors.append(("\(module).lora_down.weight", TorchGenerator(seed: s).randn([rank, shape[1]]) * magnitude))
            tensors.append(("\(module).lora_up.weight", TorchGenerator(seed: s + 1).randn([shape[0], rank]) * magnitude))
            tensors.append(("\(module).alpha", Tensor([Float(rank) / 2], shape: [])))
            s += 2
        }
        let clip = try CheckpointWeights(path: Self.tinyFlux + "/text_encoder/model.safetensors")
        for (l, dotted) in [("self_attn_q_proj", "self_attn.q_proj"), ("mlp_fc1", "mlp.fc1")] {
            let w = try XCTUnwrap(clip.shape(of: "encoder.layers.0.\(dotted).weight") ?? clip.shape(of: "text_model.encoder.layers.0.\(dotted).weight"))
            tensors.append(("lora_te1_text_model_encoder_layers_0_\(l).lora_down.weight", TorchGenerator(seed: s).randn([rank, w[1]]) * magnitude))
            tensors.append(("lora_te1_text_model_encoder_layers_0_\(l).lora_up.weight", TorchGenerator(seed: s + 1).randn([w[0], rank]) * magnitude))
            s += 2
        }
        return try LoRA(contentsOf: LoRAFormatTests.write(tensors, name: name))
    }

    func testALoRALinearAddsItsScaledLowRankUpdate() throws {
        let w = TorchGenerator(seed: 1).randn([6, 5]), b = TorchGenerator(seed: 2).randn([6])
        let down = TorchGenerator(seed: 3).randn([2, 5]), up = TorchGenerator(seed: 4).randn([6, 2])
        let x = TorchGenerator(seed: 5).randn([3, 5])
        let layer = LoRALinear(base: Linear(weight: w, bias: b), down: down, up: up)
        let dense = Linear(weight: w + matmul(up, down), bias: b)
        let got = layer(x).floats(), want = dense(x).floats()
        for (g, e) in zip(got, want) { XCTAssertEqual(g, e, accuracy: 1e-4) }
        // Row slices (Flux single blocks' two GEMMs) keep the update of those rows.
        let rows = try XCTUnwrap(layer.rows(2, 5))
        XCTAssertEqual(rows(x).floats().count, 9)
        for (g, e) in zip(rows(x).floats(), dense.rows(2, 5)!(x).floats()) { XCTAssertEqual(g, e, accuracy: 1e-4) }
        for (g, e) in zip(layer.geluTanh(x).floats(), dense.geluTanh(x).floats()) { XCTAssertEqual(g, e, accuracy: 1e-4) }
    }

    func testLoRAsChangeAndDetachWithoutReloadingAndWeightsScaleTheChange() throws {
        let p = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.tinyFlux), keepLoaded: true, precision: .f32)
        let base = try p.generate(request()).rgb
        let lora = try tinyLoRA()
        try p.setLoRAs([LoRAUse(lora)])
        let full = try p.generate(request())
        XCTAssertLessThan(PictureComparison.psnr(full.rgb, base), 30, "the LoRA must change the picture")
        XCTAssertEqual(full.request.loras?.map(\.weight), [1])
        let infotext = full.parameterText(model: "tiny")[0].value
        XCTAssertTrue(infotext.hasPrefix("a red circle on a blue background <lora:tiny:1>"), infotext)
        XCTAssertTrue(infotext.contains("Lora hashes: \"tiny: \(lora.shortHash!)\""), infotext)
        // A weight of 0 is the base picture; 0.5 lies between.
        var r = request()
        r.loras = [LoRAUse(lora, weight: 0)]
        XCTAssertEqual(try p.generate(r).rgb, base)
        r.loras = [LoRAUse(lora, weight: 0.5)]
        let half = try p.generate(r).rgb
        XCTAssertGreaterThan(PictureComparison.psnr(half, base), PictureComparison.psnr(full.rgb, base))
        // Two uses of a LoRA at 0.25 each add up to one at 0.5.
        r.loras = [LoRAUse(lora, weight: 0.25), LoRAUse(lora, weight: 0.25)]
        XCTAssertGreaterThan(PictureComparison.psnr(try p.generate(r).rgb, half), 45)
        // Detached: exactly the base again (the base weights were never touched).
        try p.setLoRAs([])
        XCTAssertEqual(try p.generate(request()).rgb, base)
    }

    /// A LoRA for another model fails when it is set, before anything loads (the DiT file's header
    /// gives the layers' shapes), not after the text encoders ran.
    func testALoRAForAnotherModelFailsBeforeAnythingLoads() throws {
        let p = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.tinyFlux), keepLoaded: false, precision: .f32)
        let wide = try LoRA(contentsOf: LoRAFormatTests.write(LoRAFormatTests.pair("lora_unet_double_blocks_0_img_attn_qkv", in: 3072, out: 9216)))
        XCTAssertThrowsError(try p.setLoRAs([LoRAUse(wide)])) { XCTAssertTrue("\($0)".contains("9216x3072"), "\($0)") }
        let deeper = try LoRA(contentsOf: LoRAFormatTests.write(LoRAFormatTests.pair("lora_unet_double_blocks_7_img_mlp_0", in: 32, out: 128)))
        XCTAssertThrowsError(try p.setLoRAs([LoRAUse(deeper)])) { XCTAssertTrue("\($0)".contains("double_blocks.7.img_mlp.0"), "\($0)") }
        XCTAssertEqual(p.loras.count, 0, "nothing attached")
        XCTAssertNoThrow(try p.setLoRAs([LoRAUse(try tinyLoRA())]), "a LoRA that fits is taken")
        XCTAssertEqual(p.lastTimings.ditLoad, 0, "and the DiT was never loaded")
    }

    /// A LoRA whose finite but huge factors overflow the DiT: the run ends with an error saying the
    /// latent is not finite, not a black picture.
    func testALatentThatIsNotFiniteIsAnErrorNotABlackPicture() throws {
        let p = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.tinyFlux), keepLoaded: true, precision: .f32)
        var r = request()
        r.loras = [LoRAUse(try tinyLoRA(magnitude: 1e18), weight: 10)]
        XCTAssertThrowsError(try p.generate(r)) { XCTAssertTrue("\($0)".contains("not finite"), "\($0)") }
        r.loras = []  // a request's LoRAs stay attached: detached here
        XCTAssertNoThrow(try p.generate(r), "the pipeline still works after")
    }

    func testALoRAForAnotherModelFailsNamingTheLayerAndKeepsTheLoRAsBefore() throws {
        let p = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.tinyFlux), keepLoaded: true, precision: .f32)
        let good = try tinyLoRA()
        try p.setLoRAs([LoRAUse(good)])
        let withGood = try p.generate(request()).rgb
        let wide = try LoRA(contentsOf: LoRAFormatTests.write(LoRAFormatTests.pair("lora_unet_double_blocks_0_img_attn_qkv", in: 3072, out: 9216)))
        XCTAssertThrowsError(try p.setLoRAs([LoRAUse(wide)])) { error in
            let s = "\(error)"
            XCTAssertTrue(s.contains("double_blocks.0.img_attn.qkv") && s.contains("9216x3072") && s.contains("96x32"), s)
        }
        let deeper = try LoRA(contentsOf: LoRAFormatTests.write(LoRAFormatTests.pair("lora_unet_double_blocks_7_img_mlp_0", in: 32, out: 128)))
        XCTAssertThrowsError(try p.setLoRAs([LoRAUse(deeper)])) { XCTAssertTrue("\($0)".contains("double_blocks.7.img_mlp.0"), "\($0)") }
        XCTAssertEqual(p.loras.count, 1)
        XCTAssertEqual(try p.generate(request()).rgb, withGood)
        // A request with a bad LoRA fails the same way and leaves the pipeline's LoRAs alone.
        var r = request()
        r.loras = [LoRAUse(wide)]
        XCTAssertThrowsError(try p.generate(r))
        XCTAssertEqual(try p.generate(request()).rgb, withGood)
    }

    func testLoRAsRunOnEveryCPUPrecisionAndFuseWithTheErrorReported() throws {
        let lora = try tinyLoRA()
        let f32 = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.tinyFlux), keepLoaded: true, precision: .f32)
        try f32.setLoRAs([LoRAUse(lora)])
        let reference = try f32.generate(request()).rgb
        for precision in [WeightPrecision.bf16, .fp8, .int8, .int4] {
            let p = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.tinyFlux), keepLoaded: true, precision: precision)
            let base = try p.generate(request()).rgb
            try p.setLoRAs([LoRAUse(lora)])
            let unfused = try p.generate(request()).rgb
            try p.setLoRAs([LoRAUse(lora)], fuse: true)
            let fused = try p.generate(request()).rgb
            let errors = p.loraFusionErrors
            let worst = errors.map(\.relativeError).max() ?? -1
            print("LoRA on \(precision): unfused vs f32 \(PictureComparison.psnr(unfused, reference)) dB, fused vs unfused \(PictureComparison.psnr(fused, unfused)) dB, worst fusion error \(worst) over \(errors.count) layers; base vs f32+LoRA \(PictureComparison.psnr(base, reference)) dB")
            XCTAssertEqual(errors.count, 16 + 0, "\(precision): every block Linear fused")
            XCTAssertGreaterThan(PictureComparison.psnr(unfused, reference), PictureComparison.psnr(base, reference) + 5, "\(precision): the LoRA moves the picture towards the f32 one")
            XCTAssertGreaterThan(PictureComparison.psnr(fused, unfused), precision == .int4 ? 20 : 30, "\(precision)")
            XCTAssertLessThan(worst, precision == .int4 ? 0.2 : 0.05)
            XCTAssertGreaterThan(worst, 0, "\(precision): storing the merged weight rounds")
            // Back to unfused: the DiT loads again.
            try p.setLoRAs([LoRAUse(lora)])
            XCTAssertEqual(try p.generate(request()).rgb, unfused)
            XCTAssertTrue(p.loraFusionErrors.isEmpty)
        }
    }
}
