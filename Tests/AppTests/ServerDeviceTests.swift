import Foundation
import MajicFluxApp
import Models
import Tensor
import XCTest

/// The console on a device backend (issue 24): the server makes the backend on one thread and loads
/// and generates on its worker; a device failure fails that job with the device's message and the
/// server keeps serving.
final class ServerDeviceTests: XCTestCase {
    static func finished(_ job: [String: Any]) -> Bool { ["done", "failed", "cancelled"].contains(job["status"] as? String ?? "") }

    func testConsoleOnAThreadCheckedBackendServesAndSurvivesADeviceFault() async throws {
        let backend = ThreadCheckingBackend()
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        c.backend = backend
        let console = try await TestConsole.start(configuration: c)
        defer { Task { await console.stop() } }

        let first = try await console.submit(["prompt": "a red circle", "seed": 1, "steps": 2, "width": 64, "height": 64])
        let done = try await console.waitForJob(first["id"] as! String) { Self.finished($0) }
        XCTAssertEqual(done["status"] as? String, "done", "\(done)")

        backend.injectFault(afterEntries: 100, message: "CUDA driver call cuMemAlloc of 83886080 bytes failed: CUDA_ERROR_OUT_OF_MEMORY (2)")
        let second = try await console.submit(["prompt": "a red circle", "seed": 2, "steps": 2, "width": 64, "height": 64])
        let failed = try await console.waitForJob(second["id"] as! String) { Self.finished($0) }
        XCTAssertEqual(failed["status"] as? String, "failed", "\(failed)")
        XCTAssertTrue("\(failed["error"] ?? "")".contains("CUDA_ERROR_OUT_OF_MEMORY"), "\(failed)")

        let status = try await console.get("/api/status")
        XCTAssertEqual(status.status, 200)
        let third = try await console.submit(["prompt": "a red circle", "seed": 1, "steps": 2, "width": 64, "height": 64])
        let again = try await console.waitForJob(third["id"] as! String) { Self.finished($0) }
        XCTAssertEqual(again["status"] as? String, "done", "the server keeps serving after a failed job: \(again)")
        XCTAssertEqual(backend.violations, [], "backend entered without its context current")
    }
}
