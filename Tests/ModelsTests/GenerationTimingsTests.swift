import XCTest
import Models
import Tensor

/// `FluxPipeline.lastTimings` (issue 21: where a cold run's time goes) on the tiny model, CPU.
final class GenerationTimingsTests: XCTestCase {
    static let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-flux"

    func request() -> GenerationRequest {
        var r = GenerationRequest(prompt: "a red circle", seed: 5, steps: 2, width: 64, height: 64)
        r.maxSequenceLength = 64
        return r
    }

    func testEveryStageIsTimedAndTheStagesFitInTheWallTime() throws {
        let pipeline = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.dir), precision: .f32)
        XCTAssertEqual(pipeline.lastTimings, GenerationTimings())
        let start = ContinuousClock.now
        _ = try pipeline.generate(request())
        let wall = ContinuousClock.now - start
        let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) * 1e-18
        let t = pipeline.lastTimings
        let stages = [("CLIP load", t.clipLoad), ("CLIP encode", t.clipEncode), ("T5 load", t.t5Load), ("T5 encode", t.t5Encode),
                      ("DiT load", t.ditLoad), ("steps", t.steps), ("VAE load", t.vaeLoad), ("VAE decode", t.vaeDecode)]
        for (name, seconds) in stages {
            // Every stage ran, loads included (nothing is kept between runs here): each took some time.
            XCTAssertGreaterThan(seconds, 0, name)
        }
        XCTAssertEqual(t.stepCount, 2)
        XCTAssertEqual(t.vaeEncodes, 0, "text to image encodes no picture")
        XCTAssertEqual(t.vaeEncode, 0)
        XCTAssertFalse(t.summary().contains("picture"), "no VAE encode part without input pictures: \(t.summary())")
        XCTAssertEqual(t.stagesSum, stages.map(\.1).reduce(0, +), accuracy: 1e-12)
        XCTAssertLessThanOrEqual(t.stagesSum, t.total + 1e-9)
        XCTAssertLessThanOrEqual(t.total, wallSeconds + 1e-9)

        // Kept loaded, the second run's loads find their models: they take (almost) nothing.
        let kept = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.dir), keepLoaded: true, precision: .f32)
        try kept.loadAll()
        _ = try kept.generate(request())
        let k = kept.lastTimings
        XCTAssertGreaterThan(k.steps, 0)
        XCTAssertLessThan(k.clipLoad + k.t5Load + k.ditLoad + k.vaeLoad, Swift.max(0.05, t.ditLoad),
                          "cached loads: \(k.summary())")
        XCTAssertLessThanOrEqual(k.stagesSum, k.total + 1e-9)

        // A batch counts its run once: the stages again, the steps once for both rows.
        _ = try kept.generate(request(), batch: 2)
        XCTAssertEqual(kept.lastTimings.stepCount, 2)
        XCTAssertLessThanOrEqual(kept.lastTimings.stagesSum, kept.lastTimings.total + 1e-9)
    }

    func testTheSummaryLineNamesEveryPartAndAddsUp() {
        var t = GenerationTimings()
        (t.clipLoad, t.clipEncode, t.t5Load, t.t5Encode) = (0.2, 0.011, 1.9, 0.03)
        (t.ditLoad, t.steps, t.stepCount, t.vaeLoad, t.vaeDecode, t.total) = (4.6, 1.9, 20, 0.1, 0.1, 9.0)
        XCTAssertEqual(t.summary(startUp: 0.41, png: 0.08, wall: 11.8),
                       "times: start-up 0.41 s, CLIP load 0.20 s + encode 0.01 s, T5 load 1.90 s + encode 0.03 s, DiT load 4.60 s, "
                       + "20 steps 1.90 s, VAE load 0.10 s + decode 0.10 s, PNG 0.08 s, other 2.47 s; 11.80 s in all")
        // Input pictures encoded: their time and count after the VAE's load, counted in the stages.
        var encoded = t
        (encoded.vaeEncode, encoded.vaeEncodes) = (0.5, 2)
        XCTAssertEqual(encoded.stagesSum, t.stagesSum + 0.5, accuracy: 1e-12)
        XCTAssertTrue(encoded.summary().contains("VAE load 0.10 s + encode 0.50 s (2 pictures) + decode 0.10 s"), encoded.summary())
        encoded.vaeEncodes = 1
        XCTAssertTrue(encoded.summary().contains("+ encode 0.50 s (1 picture) +"), encoded.summary())
        // Without the CLI's parts, `total` is the whole; a negative remainder (clock noise) shows 0.
        XCTAssertTrue(t.summary().hasSuffix("other 0.16 s; 9.00 s in all"), t.summary())
        t.total = 1
        XCTAssertTrue(t.summary().contains("other 0.00 s"), t.summary())
        // The caller's own parts come before the PNG and are not counted as other time.
        t.total = 9
        XCTAssertTrue(t.summary(extras: [("model hash wait", 0.1)], png: 0.02).hasSuffix("model hash wait 0.10 s, PNG 0.02 s, other 0.04 s; 9.00 s in all"),
                      t.summary(extras: [("model hash wait", 0.1)], png: 0.02))
    }
}
