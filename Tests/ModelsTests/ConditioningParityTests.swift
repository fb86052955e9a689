import XCTest
import Tensor
import Models

/// "Same seed, same picture" for the image-conditioned pipelines: the tiny model (and tiny Fill and
/// Control DiTs) run through ours and through diffusers' FluxImg2ImgPipeline, FluxInpaintPipeline,
/// FluxFillPipeline, FluxControlPipeline and FluxKontextPipeline (Tools/make_conditioning_fixtures.py,
/// f32 on the CPU; Fixtures/conditioning/README.md and SEMANTICS.md). The start latents (VAE samples
/// and noise drawn in diffusers' order) must agree to 1e-3 and the pictures at PSNR >= 40 dB.
final class ConditioningParityTests: XCTestCase {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"
    static let dir = fixtures + "/conditioning"

    struct Case: Decodable {
        let name: String
        let prompt: String?
        let seed: UInt64?
        let steps: Int?, width: Int?, height: Int?, max_sequence_length: Int?
        let guidance: Float?, strength: Float?
        let input: String?, mask: String?, control: String?, reference: String?
        let auto_resize: Bool?
        let steps_run: Int?
    }

    func cases() throws -> [String: Case] {
        let list = try JSONDecoder().decode([Case].self, from: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/cases.json")))
        return Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
    }

    func picture(_ name: String) throws -> PNGImage { try PNG.read(Self.dir + "/" + name).image }

    /// The tiny model with `dit` (a file in the fixture folder) as its DiT, under `name` (detection
    /// reads the kind from the file's name and weights).
    func pipeline(dit: String? = nil, named name: String? = nil) throws -> FluxPipeline {
        var ditPath = dit.map { Self.dir + "/" + $0 }
        if let name {
            let tmp = FileManager.default.temporaryDirectory.path + "/majicflux-cond-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            addTeardownBlock { try? FileManager.default.removeItem(atPath: tmp) }
            let source = ditPath ?? Self.fixtures + "/tiny-flux-dit-comfy.safetensors"
            ditPath = tmp + "/" + name
            try FileManager.default.createSymbolicLink(atPath: ditPath!, withDestinationPath: source)
        }
        return try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.fixtures + "/tiny-flux", dit: ditPath), keepLoaded: true, precision: .f32)
    }

    /// Runs case `name` with `conditioning` through `pipeline` and compares with diffusers.
    @discardableResult
    func check(_ name: String, _ pipeline: FluxPipeline, _ conditioning: ImageConditioning,
               file: StaticString = #filePath, line: UInt = #line) throws -> GeneratedImage {
        let c = try XCTUnwrap(try cases()[name], "case \(name)")
        let expected = try CheckpointWeights(path: Self.dir + "/expected.safetensors")
        var r = GenerationRequest(prompt: c.prompt!, seed: c.seed!, steps: c.steps!, width: c.width!, height: c.height!)
        r.guidance = c.guidance!
        r.maxSequenceLength = c.max_sequence_length!
        r.conditioning = conditioning
        var steps: [Int] = []
        let image = try pipeline.generate(r) { p in
            if p.stage == .denoising { steps.append(p.step); XCTAssertEqual(p.totalSteps, c.steps_run, "\(name) total steps") }
            return true
        }
        XCTAssertEqual(steps, Array(0...c.steps_run!), "\(name): steps run", file: file, line: line)
        let ref = try expected.tensor("\(name).rgb").integers()
        let psnr = PictureComparison.psnr(image.rgb, ref), worst = PictureComparison.maxDifference(image.rgb, ref)
        print("\(name) vs diffusers: PSNR \(psnr) dB, max pixel difference \(worst)")
        XCTAssertGreaterThanOrEqual(psnr, 40, "\(name) PSNR", file: file, line: line)
        return image
    }

    func testImg2ImgMatchesDiffusersAtStrengths() throws {
        let p = try pipeline()
        XCTAssertEqual(p.preset.conditioning, .base)
        let input = try picture("input.png")
        let half = try check("img2img_s060", p, ImageConditioning(image: input, strength: 0.6))
        let full = try check("img2img_s100", p, ImageConditioning(image: input, strength: 1))
        XCTAssertNotEqual(half.rgb, full.rgb, "strength changes the picture")
    }

    func testImg2ImgResizesTheInputLikePillow() throws {
        try check("img2img_resize_s060", try pipeline(), ImageConditioning(image: try picture("input_48x80.png"), strength: 0.6))
    }

    func testInpaintingMatchesDiffusers() throws {
        let p = try pipeline()
        let (input, mask) = (try picture("input.png"), try picture("mask.png"))
        let inpainted = try check("inpaint_s080", p, ImageConditioning(image: input, mask: mask, strength: 0.8))
        try check("inpaint_s100", p, ImageConditioning(image: input, mask: mask, strength: 1))
        let img2img = try check("img2img_s100", p, ImageConditioning(image: input, strength: 1))
        XCTAssertNotEqual(inpainted.rgb, img2img.rgb)
    }

    func testFillMatchesDiffusers() throws {
        let p = try pipeline(dit: "tiny-flux-fill.safetensors")
        XCTAssertEqual(p.preset.kind, .fluxFill)
        XCTAssertEqual(p.preset.guidance, 30)
        try check("fill", p, ImageConditioning(image: try picture("input.png"), mask: try picture("mask.png")))
    }

    func testControlMatchesDiffusers() throws {
        let p = try pipeline(dit: "tiny-flux-control.safetensors")
        XCTAssertEqual(p.preset.kind, .fluxCanny)
        try check("control", p, ImageConditioning(control: try picture("control_image.png")))
    }

    func testKontextMatchesDiffusersWithTheReferenceAtItsOwnSize() throws {
        let p = try pipeline(named: "tiny-flux-kontext.safetensors")
        XCTAssertEqual(p.preset.kind, .fluxKontext)
        try check("kontext_off", p, ImageConditioning(reference: try picture("reference.png"), referenceResize: .off))
    }

    func testKontextMatchesDiffusersWithThePreferredResolution() throws {
        let p = try pipeline(named: "tiny-flux-kontext.safetensors")
        try check("kontext_auto", p, ImageConditioning(reference: try picture("reference.png"), referenceResize: .auto))
    }

    /// The VAE encoder's distribution and a sample drawn with the request's generator, against
    /// diffusers' `latent_dist` and `.sample(Generator(42))`.
    func testVAEEncodingSamplesLikeDiffusers() throws {
        let files = try FluxModelFiles.resolve(modelDir: Self.fixtures + "/tiny-flux")
        let config = try ConfigFile.load(AutoencoderConfig.self, path: files.vaeConfig!, what: "VAE config")
        let vae = try AutoencoderKL(config: config, weights: VAECheckpointLayout.canonical(CheckpointWeights(path: files.vae), config: config))
        let expected = try CheckpointWeights(path: Self.dir + "/expected.safetensors")
        let d = try vae.latentDistribution(try picture("input.png").tensor(), mode: .off)
        func maxDiff(_ a: Tensor, _ b: Tensor) -> Float { zip(a.floats(), b.floats()).map { abs($0 - $1) }.max() ?? .infinity }
        XCTAssertLessThan(maxDiff(d.mean, try expected.tensor("vae_encode.mean")), 1e-4)
        XCTAssertLessThan(maxDiff(d.sample(TorchGenerator(seed: 42)), try expected.tensor("vae_encode.sample")), 1e-4)
        XCTAssertLessThan(maxDiff(vae.scaled(d.sample(TorchGenerator(seed: 42))), try expected.tensor("vae_encode.scaled")), 1e-4)
    }

    /// diffusers' strength arithmetic (float64 on the decimal value), including the rows where
    /// float32 arithmetic would cut one step more or less.
    func testStrengthCutsTheScheduleLikeDiffusers() throws {
        struct Row: Decodable { let steps: Int; let strength: Float; let t_start: Int }
        struct Table: Decodable { let name: String; let rows: [Row]? }
        let all = try JSONDecoder().decode([Table].self, from: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/cases.json")))
        let rows = try XCTUnwrap(all.first { $0.name == "strength_table" }?.rows)
        XCTAssertGreaterThan(rows.count, 10)
        for row in rows {
            XCTAssertEqual(FluxPipeline.firstStep(steps: row.steps, strength: row.strength), row.t_start, "\(row.steps) steps at \(row.strength)")
        }
    }
}
