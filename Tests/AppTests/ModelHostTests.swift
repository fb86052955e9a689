import Foundation
import MajicFluxApp
import XCTest

/// The model host is an actor (issue 16) that awaits the generation thread rather than running the
/// model itself: while a job runs, `/api/status` still answers at once, and the job goes on.
final class ModelHostTests: XCTestCase {
    func testStatusAnswersWhileAJobRunsAndTheJobCanBeCancelled() async throws {
        let console = try await TestConsole.start()
        defer { Task { await console.stop() } }
        let job = try await console.submit(["prompt": "a red circle", "seed": 1, "steps": 100, "width": 512, "height": 512])
        let id = try XCTUnwrap(job["id"] as? String)
        _ = try await console.waitForJob(id) { ($0["status"] as? String) == "running" && ($0["step"] as? Int ?? 0) >= 1 }

        let status = try await console.get("/api/status")
        XCTAssertEqual(status.status, 200)
        XCTAssertEqual((status.json["model"] as? [String: Any])?["state"] as? String, "ready", status.text)
        XCTAssertEqual(status.json["running"] as? String, id, status.text)
        let during = try await console.get("/api/jobs/\(id)").json
        XCTAssertEqual(during["status"] as? String, "running", "status answered while the job ran: \(during)")
        XCTAssertLessThan(during["step"] as? Int ?? 100, 100)

        let cancel = try await console.post("/api/jobs/\(id)/cancel", json: [:])
        XCTAssertEqual(cancel.status, 200, cancel.text)
        let end = try await console.waitForJob(id) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(end["status"] as? String, "cancelled", "\(end)")
        XCTAssertLessThan(end["step"] as? Int ?? 100, 100, "stopped before the last step")
        // The host takes the next job.
        let next = try await console.submit(["prompt": "a red circle", "seed": 2, "steps": 2, "width": 64, "height": 64])
        let done = try await console.waitForJob(next["id"] as! String) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(done["status"] as? String, "done", "\(done)")
    }
}
