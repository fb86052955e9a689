import XCTest
import Tensor
import Models

/// "Same seed, same picture": a complete tiny FLUX.1-dev style folder (random bf16 weights, real CLIP
/// BPE files, our SentencePiece model) run through our pipeline and through diffusers' FluxPipeline
/// (Tools/make_pipeline_fixture.py, f32 compute). The text embeddings must agree to 1e-4 and the final
/// 8-bit picture to within 1 level per channel (f32 summation order differs), PSNR >= 50 dB.
final class PipelineParityTests: XCTestCase {
    static let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-flux"

    func testTinyPipelineMatchesDiffusers() throws {
        let expected = try CheckpointWeights(path: Self.dir + "/expected.safetensors")
        let meta = expected.checkpoint.metadata
        func value(_ k: String) -> String { meta[k]?.string ?? "" }
        var request = GenerationRequest(prompt: value("prompt"), seed: UInt64(value("seed"))!, steps: Int(value("steps"))!,
                                        width: Int(value("width"))!, height: Int(value("height"))!)
        request.guidance = Float(value("guidance"))!
        request.maxSequenceLength = Int(value("max_sequence_length"))!

        let pipeline = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.dir))
        let (sequence, pooled) = try pipeline.encode(prompt: request.prompt, maxSequenceLength: request.maxSequenceLength)
        XCTAssertLessThanOrEqual(maxDiff(sequence, try expected.tensor("t5_embeds")), 1e-4)
        XCTAssertLessThanOrEqual(maxDiff(pooled, try expected.tensor("clip_pooled")), 1e-4)

        var steps: [Int] = []
        let image = try pipeline.generate(request) { p in
            if p.stage == .denoising { steps.append(p.step) }
            return true
        }
        XCTAssertEqual(steps, Array(0...request.steps))
        let ref = try expected.tensor("rgb").integers()
        XCTAssertEqual(image.rgb.count, ref.count)
        let diffs = zip(image.rgb, ref).map { abs(Int($0) - $1) }
        let mse = Double(diffs.map { $0 * $0 }.reduce(0, +)) / Double(diffs.count)
        let psnr = mse == 0 ? Double.infinity : 10 * log10(255 * 255 / mse)
        print("tiny pipeline vs diffusers: max pixel difference \(diffs.max() ?? 0), PSNR \(psnr) dB")
        XCTAssertLessThanOrEqual(diffs.max() ?? 0, 1, "max pixel difference")
        XCTAssertGreaterThanOrEqual(psnr, 50, "PSNR \(psnr) dB")
    }

    func testCancelFromProgressCallbackStopsTheRun() throws {
        let pipeline = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.dir))
        var request = GenerationRequest(prompt: "a cat", seed: 1, steps: 10, width: 32, height: 32)
        request.maxSequenceLength = 16
        var calls = 0
        XCTAssertThrowsError(try pipeline.generate(request) { p in
            if p.stage == .denoising { calls += 1 }
            return p.step < 2
        }) { error in
            guard case ModelError.cancelled = error else { return XCTFail("expected cancelled, got \(error)") }
        }
        XCTAssertEqual(calls, 3)
    }

    func testMissingPartsAreNamedWithWhereTheyWereLookedFor() throws {
        let tmp = NSTemporaryDirectory() + "/majicflux-missing-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp + "/vae", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        XCTAssertThrowsError(try FluxModelFiles.resolve(modelDir: tmp)) { error in
            let text = "\(error)"
            for part in ["transformer", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"] {
                XCTAssertTrue(text.contains(tmp + "/" + part), "\(part) not named in: \(text)")
            }
            XCTAssertFalse(text.contains("VAE folder"), text)
        }
        XCTAssertThrowsError(try FluxModelFiles.resolve(modelDir: Self.dir, dit: tmp + "/nope.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("nope.safetensors"))
        }
    }

    func testNonsenseRequestsAreRejectedWithTheReason() {
        let cases: [(GenerationRequest, String)] = [
            (GenerationRequest(prompt: "  "), "prompt"),
            (GenerationRequest(prompt: "x", steps: 0), "steps"),
            (GenerationRequest(prompt: "x", width: 100), "width"),
            (GenerationRequest(prompt: "x", height: 0), "height"),
            (GenerationRequest(prompt: "x", width: 8192, height: 8192), "limit"),
        ]
        for (r, word) in cases {
            XCTAssertThrowsError(try r.validate()) { XCTAssertTrue("\($0)".contains(word), "\($0)") }
        }
    }

    func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        return zip(a.floats(), b.floats()).map { abs($0 - $1) }.max() ?? .infinity
    }
}
