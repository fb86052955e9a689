import XCTest
import Tensor
import Models

/// Batches (issue 21, FluxPipeline+Batch.swift): N pictures of one request in one pass, each equal
/// to the single run of its seed.
final class BatchGenerationTests: XCTestCase {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"

    static func pipeline(dit: String? = nil) throws -> FluxPipeline {
        try FluxPipeline(files: FluxModelFiles.resolve(modelDir: fixtures + "/tiny-flux", dit: dit.map { fixtures + "/conditioning/" + $0 }),
                         keepLoaded: true, precision: .f32)
    }

    static func request(_ p: FluxPipeline, seed: UInt64 = 11) -> GenerationRequest {
        var r = p.request(prompt: "a red circle on a blue background", seed: seed)
        (r.steps, r.width, r.height, r.maxSequenceLength) = (3, 64, 48, 64)
        return r
    }

    func testATextToImageBatchIsTheSingleRunOfEachSeedWithAndWithoutTrueCFG() throws {
        let p = try Self.pipeline()
        try assertBatchEqualsSingles(p, Self.request(p), count: 3)
        var cfg = Self.request(p, seed: 40)
        cfg.trueCFGScale = 2.5
        cfg.negativePrompt = "green"
        try assertBatchEqualsSingles(p, cfg, count: 2)
    }

    func testConditionedBatchesAreTheSingleRunsToo() throws {
        let picture = { (name: String) in try PNG.read(Self.fixtures + "/conditioning/" + name).image }
        // Inpainting: each row's VAE sample and noise from its own seed, the kept region blended per row.
        let p = try Self.pipeline()
        var inpaint = Self.request(p)
        inpaint.conditioning = ImageConditioning(image: try picture("input.png"), mask: try picture("mask.png"), strength: 0.8)
        // The input picture goes through the encoder once for the whole batch; each row draws its own sample.
        let inpaintEncodes = try assertBatchEqualsSingles(p, inpaint, count: 3)
        XCTAssertEqual(inpaintEncodes.batch, 1)
        XCTAssertEqual(inpaintEncodes.single, 1)
        XCTAssertGreaterThan(p.lastTimings.vaeEncode, 0)
        XCTAssertTrue(p.lastTimings.summary().contains(" (1 picture) + decode"), p.lastTimings.summary())
        // Fill: the masked picture's tokens joined on channels, per row.
        let fill = try Self.pipeline(dit: "tiny-flux-fill.safetensors")
        var r = Self.request(fill)
        r.conditioning = ImageConditioning(image: try picture("input.png"), mask: try picture("mask.png"))
        let fillEncodes = try assertBatchEqualsSingles(fill, r, count: 2)
        XCTAssertEqual(fillEncodes.batch, 2, "the picture and the masked picture, once each")
        XCTAssertEqual(fillEncodes.single, 2)
    }

    /// With the step cache, each picture of a batch reuses the steps its single run reuses (its own
    /// history), even where the pictures' decisions differ within one step.
    func testTheStepCacheDecidesPictureByPicture() throws {
        let p = try Self.pipeline()
        var r = Self.request(p, seed: 20)
        r.steps = 8
        // A threshold at which the three seeds alone reuse different numbers of steps.
        var chosen: (threshold: Float, reused: [Int])?
        for t: Float in [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6] where chosen == nil {
            r.cacheThreshold = t
            let reused = try (0..<3).map { k -> Int in
                var single = r
                single.seed += UInt64(k)
                _ = try p.generate(single)
                return try XCTUnwrap(p.lastStepCache).reused
            }
            if Set(reused).count > 1 { chosen = (t, reused) }
        }
        let pick = try XCTUnwrap(chosen, "no threshold where the seeds' cache decisions differ")
        r.cacheThreshold = pick.threshold
        try assertBatchEqualsSingles(p, r, count: 3)
        _ = try p.generate(r, batch: 3)
        let c = try XCTUnwrap(p.lastStepCache)
        XCTAssertEqual(c.reused, pick.reused.reduce(0, +), "the batch reuses the steps its pictures reuse alone \(pick)")
        XCTAssertEqual(c.computed + c.reused, 3 * 8)
    }

    func testBatchProgressCacheAndRefusals() throws {
        let p = try Self.pipeline()
        var r = Self.request(p)
        r.cacheThreshold = 1e-12  // a threshold no step meets: the batch computes every step
        var steps: [Int] = [], previews: [[Int]] = []
        let batch = try p.generate(r, batch: 2) { progress in
            if progress.stage == .denoising { steps.append(progress.step) }
            if let d = progress.denoised { previews.append(d.shape) }
            return true
        }
        XCTAssertEqual(batch.count, 2)
        XCTAssertEqual(steps, [0, 1, 2, 3], "one report per step for the whole batch")
        XCTAssertEqual(previews, Array(repeating: [1, 12, 64], count: 3), "the preview is the first picture's")
        XCTAssertEqual(p.lastStepCache?.computed, 6, "3 steps of 2 pictures")
        r.cacheThreshold = 0
        XCTAssertEqual(batch.map(\.rgb), try p.generate(r, batch: 2).map(\.rgb), "a never-met threshold changes nothing")
        // Cancelling stops the whole batch.
        XCTAssertThrowsError(try p.generate(r, batch: 2) { $0.step < 1 }) { XCTAssertEqual("\($0)", "\(ModelError.cancelled)") }
        for bad in [0, 9, -1] {
            XCTAssertThrowsError(try p.generate(r, batch: bad)) { XCTAssertTrue("\($0)".contains("batch size must be between 1 and 8, got \(bad)"), "\($0)") }
        }
        var other = r
        other.prompt = "a green square"
        XCTAssertThrowsError(try p.generate(batch: [r, other])) { XCTAssertTrue("\($0)".contains("differ only in their seed"), "\($0)") }
        XCTAssertThrowsError(try p.generate(batch: [])) { XCTAssertTrue("\($0)".contains("got 0"), "\($0)") }
    }
}

extension XCTestCase {
    /// Every batch picture against the single run of its seed: the same to float rounding (at most
    /// one level of 255 apart, nearly all bytes equal), and the pictures differ from each other.
    /// Returns how many pictures the batch's VAE encoder ran on and how many each single run did.
    @discardableResult
    func assertBatchEqualsSingles(_ p: FluxPipeline, _ r: GenerationRequest, count: Int, file: StaticString = #filePath,
                                  line: UInt = #line) throws -> (batch: Int, single: Int) {
        let batch = try p.generate(r, batch: count)
        let batchEncodes = p.lastTimings.vaeEncodes
        var singleEncodes: Set<Int> = []
        XCTAssertEqual(p.lastBatchRows, count, "one pass for the whole batch", file: file, line: line)
        XCTAssertEqual(batch.map(\.request.seed), (0..<UInt64(count)).map { r.seed + $0 }, file: file, line: line)
        for (k, picture) in batch.enumerated() {
            var single = r
            single.seed = r.seed + UInt64(k)
            let alone = try p.generate(single)
            singleEncodes.insert(p.lastTimings.vaeEncodes)
            XCTAssertEqual(p.lastBatchRows, 1)
            XCTAssertEqual(picture.rgb.count, alone.rgb.count, file: file, line: line)
            let diffs = zip(picture.rgb, alone.rgb).map { abs(Int($0) - Int($1)) }
            XCTAssertLessThanOrEqual(diffs.max() ?? 0, 1, "picture \(k) (seed \(single.seed)) is not its single run", file: file, line: line)
            XCTAssertGreaterThan(diffs.filter { $0 == 0 }.count * 100, diffs.count * 99, "picture \(k): bytes off by rounding only", file: file, line: line)
            XCTAssertEqual(picture.request, alone.request, file: file, line: line)
        }
        for k in 1..<count {
            XCTAssertNotEqual(batch[k].rgb, batch[0].rgb, "each row draws its own noise", file: file, line: line)
        }
        XCTAssertEqual(singleEncodes.count, 1, "every single run encodes the same pictures", file: file, line: line)
        return (batchEncodes, singleEncodes.first ?? -1)
    }
}
