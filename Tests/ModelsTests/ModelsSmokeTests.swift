import XCTest
import Tensor
import Models

final class ModelsSmokeTests: XCTestCase {
    func testCPUBackendIsCPU() { XCTAssertEqual(CPUBackend.shared.device, .cpu) }
}
