import Foundation
import XCTest
import Models
import Tensor

/// `ModelPreset`: the kind of model read from its folder, the settings a request gets from it, and
/// `GenerationLimits`, the one check of a request.
final class ModelPresetTests: XCTestCase {
    static let tiny = Bundle.module.resourcePath! + "/Fixtures/tiny-flux"
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "majicflux-preset-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A safetensors file named `name` holding only tensors `names` (headers are all detection reads).
    private func checkpoint(_ name: String, _ names: [String]) throws -> String {
        let path = dir + "/" + name
        let entries = names.map { SafeTensorsWriter.Entry(name: $0, dtype: .bf16, shape: [2, 2]) }
        let header = SafeTensorsWriter.headerBytes(entries, metadata: [:])
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(header) + Data(count: names.count * 8)))
        return path
    }

    /// The tiny FLUX.1-dev style folder: FLUX.1-dev's row, refined by the folder's files.
    func testTinyModelIsFluxDevRefinedByItsFiles() throws {
        let files = try FluxModelFiles.resolve(modelDir: Self.tiny)
        var warnings: [String] = []
        let preset = try ModelPreset.detect(files: files, warnings: &warnings)
        XCTAssertEqual(preset.kind, .fluxDev)
        XCTAssertEqual(preset.name, "FLUX.1-dev")
        XCTAssertEqual(preset.imageSize, 1024, "sample_size 32 is below 64: the kind's size, with a warning")
        XCTAssertEqual(preset.sequenceLength, 512, "tokenizer_2 says 'no limit': the kind's length")
        XCTAssertEqual(preset.steps, 20)
        XCTAssertEqual(preset.guidance, 3.5)
        XCTAssertTrue(preset.usesGuidance)
        XCTAssertEqual(preset.scheduler, try FlowMatchSchedulerConfig.load(path: files.schedulerConfig!))
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.contains("sample_size 32") == true, "\(warnings)")

        let pipeline = try FluxPipeline(files: files)
        XCTAssertEqual(pipeline.preset, preset)
        XCTAssertEqual(pipeline.schedulerConfig, preset.scheduler)
        XCTAssertEqual(pipeline.preferredImageSize, preset.imageSize)
        XCTAssertEqual(pipeline.preferredSequenceLength, preset.sequenceLength)
        let r = pipeline.request(prompt: "a red circle", seed: 9)
        XCTAssertEqual([r.steps, r.width, r.height, r.maxSequenceLength, Int(r.seed)], [20, 1024, 1024, 512, 9])
        XCTAssertEqual(r.guidance, 3.5)
        XCTAssertEqual(r.schedule, .model)
    }

    /// A DiT without guidance embedder weights is schnell: 4 steps, 256 T5 tokens, guidance unused,
    /// no shift when the folder has no scheduler config; the weights decide over a config that
    /// claims otherwise (a schnell file given with --dit over a dev folder).
    func testDiTWithoutGuidanceEmbedderIsSchnell() throws {
        var files = try FluxModelFiles.resolve(modelDir: Self.tiny)
        files.transformer = try checkpoint("flux1-schnell.safetensors", ["img_in.weight", "time_in.in_layer.weight"])
        files.schedulerConfig = nil
        var warnings: [String] = []
        let preset = try ModelPreset.detect(files: files, warnings: &warnings)
        XCTAssertEqual(preset.kind, .fluxSchnell)
        XCTAssertEqual([preset.steps, preset.sequenceLength, preset.imageSize], [4, 256, 1024])
        XCTAssertFalse(preset.usesGuidance)
        XCTAssertEqual(preset.scheduler, .fluxSchnell)
        XCTAssertEqual(FlowMatchSchedule(steps: 4, imageSeqLen: 4096, config: preset.scheduler).sigmas, [1, 0.75, 0.5, 0.25, 0])

        let r = GenerationRequest(prompt: "x", preset: preset)
        XCTAssertEqual([r.steps, r.maxSequenceLength], [4, 256])
        XCTAssertEqual(r.guidance, 0)
        XCTAssertNoThrow(try GenerationLimits().check(r, preset: preset))
        var guided = r
        guided.guidance = 3.5
        XCTAssertThrowsError(try GenerationLimits().check(guided, preset: preset)) { e in
            XCTAssertEqual((e as? GenerationIssue)?.field, .guidance)
            XCTAssertTrue("\(e)".contains("FLUX.1-schnell has no guidance embedder"), "\(e)")
        }
        XCTAssertNoThrow(try GenerationLimits().check(guided), "without a preset only the range is checked")
    }

    /// Without readable DiT weights, `transformer/config.json`'s guidance_embeds decides; a file or
    /// folder named majicflus with a guidance embedder is majicflus (FLUX.1-dev's settings).
    func testConfigFallbackAndMajicflusByName() throws {
        var files = try FluxModelFiles.resolve(modelDir: Self.tiny)
        files.transformer = dir + "/missing.safetensors"
        let config = dir + "/config.json"
        try #"{"guidance_embeds": false}"#.write(toFile: config, atomically: true, encoding: .utf8)
        files.transformerConfig = config
        var warnings: [String] = []
        XCTAssertEqual(try ModelPreset.detect(files: files, warnings: &warnings).kind, .fluxSchnell)
        try #"{"guidance_embeds": true}"#.write(toFile: config, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ModelPreset.detect(files: files, warnings: &warnings).kind, .fluxDev)

        files.transformer = try checkpoint("majicflus_v134.safetensors", ["model.diffusion_model.guidance_in.in_layer.weight"])
        let majic = try ModelPreset.detect(files: files, warnings: &warnings)
        XCTAssertEqual(majic.kind, .majicflus)
        XCTAssertEqual(majic.name, "majicflus")
        XCTAssertEqual([majic.steps, majic.sequenceLength], [20, 512])
        XCTAssertTrue(majic.usesGuidance)
        // diffusers names the embedder guidance_embedder: a dev DiT in diffusers layout.
        files.transformer = try checkpoint("dev.safetensors", ["time_text_embed.guidance_embedder.linear_1.weight"])
        XCTAssertEqual(try ModelPreset.detect(files: files, warnings: &warnings).kind, .fluxDev)
    }

    /// Adding a kind is one table row: every kind has a complete row whose values pass the limits.
    func testEveryKindHasAPresetWithinTheLimits() throws {
        for kind in ModelPreset.Kind.allCases {
            let p = ModelPreset.standard(kind)
            XCTAssertEqual(p.kind, kind)
            var r = GenerationRequest(prompt: "x", preset: p)
            // Fill and control models paint from pictures: their requests need them.
            let picture = PNGImage(width: 16, height: 16)
            switch p.conditioning {
            case .fill: r.conditioning = ImageConditioning(image: picture, mask: try PNGImage(width: 16, height: 16, channels: 3, pixels: [UInt8](repeating: 255, count: 768)))
            case .control: r.conditioning = ImageConditioning(control: picture)
            case .base, .kontext: break
            }
            XCTAssertNoThrow(try GenerationLimits().check(r, preset: p), kind.rawValue)
        }
        XCTAssertEqual(GenerationRequest(prompt: "x"), GenerationRequest(prompt: "x", preset: .fluxDev), "plain requests are FLUX.1-dev's")
    }

    /// Each rule of `GenerationLimits` names its field, and the library message uses its label.
    func testLimitsNameTheFieldAtFault() throws {
        func issue(_ edit: (inout GenerationRequest) -> Void) -> GenerationIssue? {
            var r = GenerationRequest(prompt: "x")
            edit(&r)
            do { try GenerationLimits(maxPixels: 1024 * 1024).check(r); return nil } catch { return error as? GenerationIssue }
        }
        let cases: [(GenerationIssue.Field, String, (inout GenerationRequest) -> Void)] = [
            (.prompt, "prompt is empty", { $0.prompt = " \n" }),
            (.prompt, "prompt contains the control character U+0000", { $0.prompt = "a\u{0}b" }),
            (.prompt, "more than 10000", { $0.prompt = String(repeating: "a", count: 10_001) }),
            (.negativePrompt, "negative prompt contains the control character U+001B", { $0.negativePrompt = "\u{1B}[31m" }),
            (.steps, "steps must be between 1 and 100, got 0", { $0.steps = 0 }),
            (.width, "width must be a positive multiple of 16, got 20", { $0.width = 20 }),
            (.height, "height must be at most 16384, got 32768", { $0.height = 32768 }),
            (.size, "2048x1024 is 2097152 pixels, above the limit of 1048576", { $0.width = 2048 }),
            (.guidance, "guidance must be between 0 and 100, got nan", { $0.guidance = .nan }),
            (.trueCFGScale, "true CFG scale must be between 1 and 100, got 0.5", { $0.trueCFGScale = 0.5 }),
            (.maxSequenceLength, "T5 sequence length must be between 1 and 512, got 513", { $0.maxSequenceLength = 513 }),
            (.shift, "shift must be positive", { $0.schedule = .diffSynth(shift: 0) }),
        ]
        for (field, text, edit) in cases {
            let found = issue(edit)
            XCTAssertEqual(found?.field, field, text)
            XCTAssertTrue(found?.description.contains(text) == true, "\(String(describing: found)) lacks \(text)")
        }
        XCTAssertNil(issue { $0.prompt = "tab\tand\nlines\r\n中文 ok" }, "whitespace and any script are text")
        XCTAssertEqual(issue { $0.steps = 101 }?.message(calling: "--steps"), "--steps must be between 1 and 100, got 101")
        XCTAssertEqual(issue { $0.width = 2048 }?.message(calling: "anything"), "2048x1024 is 2097152 pixels, above the limit of 1048576")
        // The A1111 API and the library take an empty prompt (A1111 and diffusers do).
        var empty = GenerationLimits()
        empty.allowsEmptyPrompt = true
        XCTAssertNoThrow(try empty.check(GenerationRequest(prompt: " ")))
        XCTAssertNoThrow(try GenerationRequest(prompt: "").validate())
    }
}
