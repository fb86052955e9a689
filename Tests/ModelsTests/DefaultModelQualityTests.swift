import XCTest
import Models
import Tensor

/// The shipped default model (Models/default) on the held-out prompts of its caption grammar
/// (colour/shape/position triples never seen in training), judged by `SceneAnalyser`.
/// Prompts, seeds and the Python side's verdicts come from Tools/train_default_model/runs/v3/eval.json
/// (diffusers FluxPipeline, f32, 20 steps, guidance 3.5, 128x128, T5 length 32).
final class DefaultModelQualityTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let modelDir = root + "/Models/default"

    struct Row: Decodable { let prompt: String; let seed: UInt64; let want: [Int]; let got: [Int?]? }
    struct Split: Decodable { let rows: [Row] }
    struct Eval: Decodable { let held_out_float32: Split }

    static func rows() throws -> [Row] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.root + "/Tools/train_default_model/runs/v3/eval.json"))
        return try JSONDecoder().decode(Eval.self, from: data).held_out_float32.rows
    }

    /// Generates every held-out prompt; returns (% all three right, % agreeing with Python's verdict, results).
    static func evaluate(_ precision: WeightPrecision, dit: String? = nil, rows: [Row], loras: [LoRAUse] = [],
                  measure: (([UInt8]) -> Double)? = nil) throws -> (correct: Double, agree: Double) {
        let pipeline = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: modelDir, dit: dit), keepLoaded: true, precision: precision)
        try pipeline.setLoRAs(loras)
        var correct = 0, agree = 0
        for row in rows {
            var r = GenerationRequest(prompt: row.prompt, seed: row.seed, steps: 20, width: 128, height: 128)
            r.maxSequenceLength = pipeline.preferredSequenceLength
            let image = try pipeline.generate(r)
            _ = measure?(image.rgb)
            let result = SceneAnalyser.analyse(rgb: image.rgb, width: 128, height: 128)
            if result.triple == row.want { correct += 1 }
            if let got = row.got, result.colour == got[0], result.shape == got[1], result.position == got[2] { agree += 1 }
        }
        return (100 * Double(correct) / Double(rows.count), 100 * Double(agree) / Double(rows.count))
    }

    /// The style measure of `testTheShippedStyleLoRAKeepsTheHeldOutCheckAndChangesTheStyle`
    /// (Tools/train_style_lora/README.md): the share of pixels with max(R, G, B) <= 63.
    static func darkFraction(_ rgb: [UInt8]) -> Double {
        var dark = 0
        for i in stride(from: 0, to: rgb.count, by: 3) where max(rgb[i], rgb[i + 1], rgb[i + 2]) <= 63 { dark += 1 }
        return Double(dark) / Double(rgb.count / 3)
    }

    /// The bf16 run of the held-out prompts with each picture's dark fraction, made once per test
    /// process: both held-out tests need it (96 pictures, about a third of either test's time).
    static let bf16Run = Result { () throws -> (correct: Double, agree: Double, dark: [Double]) in
        var dark: [Double] = []
        let run = try evaluate(.bf16, rows: rows()) { dark.append(darkFraction($0)); return 0 }
        return (run.correct, run.agree, dark)
    }

    func testHeldOutPromptsMatchThePythonEvaluationAndFP8StaysWithinTwoPoints() throws {
        let rows = try Self.rows()
        XCTAssertEqual(rows.count, 96)
        XCTAssertEqual(try FluxModelFiles.resolve(modelDir: Self.modelDir).schedulerConfig.map { _ in true }, true)
        let bf16 = try Self.bf16Run.get()
        XCTAssertEqual(bf16.dark.count, 96, "one picture per prompt")
        let fp8 = try Self.evaluate(.fp8, rows: rows)
        print("default model, held-out prompts, all three right: bf16 weights \(bf16.correct)% (agrees with the Python analysis of diffusers' images on \(bf16.agree)%), fp8 \(fp8.correct)%")
        // Our images equal diffusers' within a few levels, so the verdicts must agree almost everywhere.
        XCTAssertGreaterThanOrEqual(bf16.agree, 95)
        // Python measured 95.8% (f32 compute) for the shipped v3 model; the goal is at least 90%.
        XCTAssertGreaterThanOrEqual(bf16.correct, 90)
        XCTAssertEqual(bf16.correct, 95.8, accuracy: 3)
        XCTAssertEqual(fp8.correct, bf16.correct, accuracy: 2, "fp8 must stay within 2 points")
        // The shipped BFL single file holds the block Linears as plain float8 e4m3fn (no scales), the way
        // majicflus_v1 stores its DiT: loading it with --dit must give the same quality.
        let file = try Self.evaluate(.bf16, dit: Self.modelDir + "/flux-micro.safetensors", rows: rows)
        print("default model, held-out prompts, all three right: fp8 BFL single file flux-micro.safetensors \(file.correct)%")
        // Plain casting (no scale) is a different quantization from `.fp8` (per-tensor scales): v3 measured
        // 93.75% for the file against 95.8% bf16 and 94.8% `.fp8`, i.e. 2 of 96 prompts below bf16. The
        // file must reach the goal and stay within 2 points of the scaled fp8 run.
        XCTAssertGreaterThanOrEqual(file.correct, 90)
        XCTAssertEqual(file.correct, fp8.correct, accuracy: 2, "the fp8 single file must stay within 2 points of fp8")
        if ProcessInfo.processInfo.environment["MAJICFLUX_QUALITY_ALL"] != nil {
            for p in [WeightPrecision.f32, .int8, .int4] {
                print("default model, held-out prompts, \(p.rawValue): \(try Self.evaluate(p, rows: rows).correct)%")
            }
        }
    }

    func testSameSeedGivesTheSamePictureAsTheShippedDiffusersSample() throws {
        // samples/sample1.png: "a red circle on the left on a white background", seed 1 (diffusers, H200).
        let pipeline = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.modelDir))
        var r = GenerationRequest(prompt: "a red circle on the left on a white background", seed: 1, steps: 20, width: 128, height: 128)
        r.maxSequenceLength = pipeline.preferredSequenceLength
        XCTAssertEqual(r.maxSequenceLength, 32)
        XCTAssertEqual(pipeline.preferredImageSize, 128, "vae/config.json sample_size: what the CLI and console use by default")
        let ours = try pipeline.generate(r).rgb
        let (sample, _) = try PNG.read(Self.modelDir + "/samples/sample1.png")
        let theirs = sample.rgb().pixels
        let diffs = zip(ours, theirs).map { abs(Int($0) - Int($1)) }
        let mean = Double(diffs.reduce(0, +)) / Double(diffs.count)
        print("default model sample1 vs diffusers on the GPU: max \(diffs.max()!), mean \(mean)")
        XCTAssertLessThanOrEqual(diffs.max()!, 8)
        XCTAssertLessThan(mean, 0.1)
    }

    /// The style LoRA shipped beside the default model (Models/default/loras, trained by
    /// Tools/train_style_lora): at weight 1.0 the held-out check stays at 90% or more, and its style
    /// measure (`dark_fraction`, Tools/train_style_lora/README.md: the share of pixels with max(R, G, B)
    /// <= 63) clearly rises over the same prompts and seeds without it.
    func testTheShippedStyleLoRAKeepsTheHeldOutCheckAndChangesTheStyle() throws {
        let folder = Self.modelDir + "/loras"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".safetensors") }.sorted()
        XCTAssertFalse(files.isEmpty, "a style LoRA ships beside the default model")
        let rows = try Self.rows()
        let base = try Self.bf16Run.get(), plain = base.dark
        for file in files {
            let lora = try LoRA(contentsOf: folder + "/" + file)
            XCTAssertLessThanOrEqual(try FileManager.default.attributesOfItem(atPath: folder + "/" + file)[.size] as? Int ?? .max, 2 << 20, "at most 2 MB")
            var styled: [Double] = []
            let with = try Self.evaluate(.bf16, rows: rows, loras: [LoRAUse(lora)]) { styled.append(Self.darkFraction($0)); return 0 }
            let meanPlain = plain.reduce(0, +) / Double(plain.count), meanStyled = styled.reduce(0, +) / Double(styled.count)
            print("default model with the \(lora.title) LoRA (\(file)) at 1.0: held-out all three right \(with.correct)% (without: \(base.correct)%); "
                  + "dark_fraction \(meanStyled) (without: \(meanPlain))")
            XCTAssertGreaterThanOrEqual(with.correct, 90)
            XCTAssertGreaterThan(meanStyled, meanPlain + 0.2, "the style shows")
        }
    }
}
