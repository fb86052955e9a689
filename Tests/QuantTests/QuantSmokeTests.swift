import XCTest
import Tensor
import Quant

final class QuantSmokeTests: XCTestCase {
    func testE4M3Max() { XCTAssertEqual(Float8E4M3FN.float(fromBits: 0x7E), 448) }
}
