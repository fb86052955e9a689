import XCTest
import Models
import Tensor

/// LoRAs in every format against diffusers + peft (Tools/make_lora_fixtures.py): the tiny pipeline in
/// f32 with each file at weight 1.0, peft and kohya at 0.6, and peft 1.0 + kohya 0.6 together
/// (`set_adapters`) must give diffusers' pictures at PSNR >= 40 dB; one DiT forward with the peft
/// LoRA and CLIP's pooled output with kohya's text-encoder part must match closely.
final class LoRAParityTests: XCTestCase {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"
    static let dir = fixtures + "/lora"

    struct Use: Decodable { let file: String; let weight: Float }
    struct Case: Decodable {
        let name: String, loras: [Use], prompt: String, seed: UInt64, steps: Int, width: Int, height: Int
        let guidance: Float, max_sequence_length: Int, psnr_vs_none: Double?
    }

    func expected() throws -> (CheckpointWeights, [Case]) {
        let e = try CheckpointWeights(path: Self.dir + "/expected.safetensors")
        let json = try XCTUnwrap(e.checkpoint.metadata["cases"]?.string)
        return (e, try JSONDecoder().decode([Case].self, from: Data(json.utf8)))
    }


    func testEveryFormatWeightAndPairMatchesDiffusers() throws {
        let (expected, cases) = try expected()
        XCTAssertEqual(cases.count, 10)
        let pipeline = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.fixtures + "/tiny-flux"), keepLoaded: true, precision: .f32)
        var loaded: [String: LoRA] = [:]
        for (n, c) in cases.enumerated() {
            var r = GenerationRequest(prompt: c.prompt, seed: c.seed, steps: c.steps, width: c.width, height: c.height)
            r.guidance = c.guidance
            r.maxSequenceLength = c.max_sequence_length
            r.loras = try c.loras.map { u in
                if loaded[u.file] == nil { loaded[u.file] = try LoRA(contentsOf: Self.dir + "/" + u.file) }
                return LoRAUse(loaded[u.file]!, weight: u.weight)
            }
            let image = try pipeline.generate(r)
            let ref = try expected.tensor("case\(n).rgb").integers()
            XCTAssertEqual(image.rgb.count, ref.count)
            let q = PictureComparison.psnr(image.rgb, ref)
            print("LoRA case \(c.name) vs diffusers: PSNR \(q) dB (diffusers' picture is \(c.psnr_vs_none.map { "\($0) dB" } ?? "-") from the one without LoRA)")
            XCTAssertGreaterThanOrEqual(q, 40, c.name)
        }
        XCTAssertEqual(Set(loaded.values.flatMap(\.formats)), [.diffusers, .kohya, .xlabs, .bfl])
    }

    func testOneDiTForwardAndCLIPPooledWithLoRAs() throws {
        let (e, _) = try expected()
        let source = try FluxCheckpointLayout.canonical(CheckpointWeights(path: Self.fixtures + "/tiny-flux/transformer"))
        let declared = try ConfigFile.load(FluxConfig.self, path: Self.fixtures + "/tiny-flux/transformer/config.json", what: "transformer config")
        let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names, declared: declared)
        let dit = try FluxTransformer(config: config, weights: source, computeDType: .f32)
        func forward() throws -> [Float] {
            dit(img: try e.tensor("forward.hidden_states").to(.f32), height: 3, width: 4,
                txt: try e.tensor("forward.encoder_hidden_states").to(.f32), pooled: try e.tensor("forward.pooled_projections").to(.f32),
                timestep: try e.tensor("forward.timestep").to(.f32).floats(), guidance: try e.tensor("forward.guidance").to(.f32).floats()).floats()
        }
        func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? .infinity }
        let none = try e.tensor("forward.out.none").to(.f32).floats(), peft = try e.tensor("forward.out.peft").to(.f32).floats()
        XCTAssertLessThan(maxDiff(try forward(), none), 1e-4)
        try dit.setLoRAs([LoRAUse(try LoRA(contentsOf: Self.dir + "/peft.safetensors"))])
        let withLoRA = try forward()
        print("DiT forward with the peft LoRA vs diffusers: max abs difference \(maxDiff(withLoRA, peft)) (the LoRA moves it by \(maxDiff(none, peft)))")
        XCTAssertLessThan(maxDiff(withLoRA, peft), 1e-3)
        try dit.setLoRAs([])
        XCTAssertLessThan(maxDiff(try forward(), none), 1e-4, "detached: the base again")

        let pipeline = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.fixtures + "/tiny-flux"), keepLoaded: true, precision: .f32)
        try pipeline.setLoRAs([LoRAUse(try LoRA(contentsOf: Self.dir + "/kohya.safetensors"))])
        let pooled = try pipeline.encode(prompt: "a red circle on a blue background, 一只红色的圆", maxSequenceLength: 64).pooled.floats()
        XCTAssertLessThan(maxDiff(pooled, try e.tensor("clip_pooled.kohya").to(.f32).floats()), 1e-4)
        XCTAssertGreaterThan(maxDiff(pooled, try e.tensor("clip_pooled.none").to(.f32).floats()), 0.1)
    }

    func testLyCORISFilesAreRefusedByNameAndHashesAreA1111s() throws {
        XCTAssertThrowsError(try LoRA(contentsOf: Self.dir + "/lokr.safetensors")) { XCTAssertTrue("\($0)".contains("LyCORIS LoKr"), "\($0)") }
        XCTAssertThrowsError(try LoRA(contentsOf: Self.dir + "/loha.safetensors")) { XCTAssertTrue("\($0)".contains("LyCORIS LoHa"), "\($0)") }
        // hashlib's addnet hashes (Tools/make_lora_fixtures.py).
        let want = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/hashes.json")))
        for (file, hash) in want where !file.hasPrefix("lo") {
            XCTAssertEqual(try LoRA(contentsOf: Self.dir + "/" + file).shortHash, hash, file)
        }
    }
}
