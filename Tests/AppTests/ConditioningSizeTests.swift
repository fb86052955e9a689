import XCTest
@testable import MajicFluxApp

/// The output size from the sides given, the input picture's size and the model's default
/// (`ConditioningSize.resolve`, shared by `generate` and the HTTP API).
final class ConditioningSizeTests: XCTestCase {
    func testOneSideWithAPictureKeepsItsAspectRatio() {
        let picture = (width: 768, height: 512)
        XCTAssertEqual(pair(ConditioningSize.resolve(width: 1536, height: nil, natural: picture, defaultSide: 1024)), [1536, 1024])
        XCTAssertEqual(pair(ConditioningSize.resolve(width: nil, height: 256, natural: picture, defaultSide: 1024)), [384, 256])
        // Floored to a multiple of 16 (1000 * 512 / 768 = 666.7 -> 656), at least 16.
        XCTAssertEqual(pair(ConditioningSize.resolve(width: 1000, height: nil, natural: picture, defaultSide: 1024)), [1000, 656])
        XCTAssertEqual(pair(ConditioningSize.resolve(width: 16, height: nil, natural: (width: 4096, height: 16), defaultSide: 1024)), [16, 16])
        // A nonsense side stays as given, for the limits to refuse by its number.
        XCTAssertEqual(pair(ConditioningSize.resolve(width: -32, height: nil, natural: picture, defaultSide: 1024)), [-32, -32])
    }

    func testOtherCases() {
        let picture = (width: 768, height: 512)
        XCTAssertEqual(pair(ConditioningSize.resolve(width: 640, height: 320, natural: picture, defaultSide: 1024)), [640, 320])
        XCTAssertEqual(pair(ConditioningSize.resolve(width: nil, height: nil, natural: picture, defaultSide: 1024)), [768, 512])
        XCTAssertEqual(pair(ConditioningSize.resolve(width: 768, height: nil, natural: nil, defaultSide: 1024)), [768, 768], "no picture: square")
        XCTAssertEqual(pair(ConditioningSize.resolve(width: nil, height: nil, natural: nil, defaultSide: 1024)), [1024, 1024])
    }

    private func pair(_ s: (width: Int, height: Int)) -> [Int] { [s.width, s.height] }
}
