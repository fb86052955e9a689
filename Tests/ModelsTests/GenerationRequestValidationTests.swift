import XCTest
import Models

/// `GenerationRequest.validate()`: the one steps rule, and sizes checked before they are multiplied.
final class GenerationRequestValidationTests: XCTestCase {
    /// One steps rule everywhere, and sizes whose product overflows are refused before multiplying.
    func testRequestValidationHasOneStepsRuleAndCheckedArithmetic() throws {
        XCTAssertEqual(GenerationRequest.stepsRange, 1...100)
        for steps in [0, -1, 101, 1000] {
            XCTAssertThrowsError(try GenerationRequest(prompt: "x", steps: steps).validate()) { e in
                XCTAssertTrue("\(e)".contains("steps must be between 1 and 100, got \(steps)"), "\(e)")
            }
        }
        XCTAssertNoThrow(try GenerationRequest(prompt: "x", steps: 100).validate())
        for (w, h) in [(4611686018427387904, 16), (16, 4611686018427387904), (Int.max / 16 * 16, Int.max / 16 * 16), (1 << 32, 1 << 32)] {
            XCTAssertThrowsError(try GenerationRequest(prompt: "x", width: w, height: h).validate()) { e in
                // Each side is bounded (16384) before the two are multiplied.
                XCTAssertTrue("\(e)".contains("must be at most 16384"), "\(e)")
            }
        }
        let files = try FluxModelFiles.resolve(modelDir: Bundle.module.resourcePath! + "/Fixtures/tiny-flux")
        XCTAssertThrowsError(try files.estimateMemory(precision: .bf16, request: MemoryRequest(width: 4611686018427387904, height: 16, sequenceLength: 16)))
    }
}
