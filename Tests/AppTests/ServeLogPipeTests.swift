import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// `serve` whose stderr reader went away (`serve ... 2>&1 | head`, the SSH session that started it
/// ended) keeps serving: its log writes fail quietly. It crashed on the first log line after that
/// (FileHandle.write's `try!` on EPIPE).
final class ServeLogPipeTests: XCTestCase {
    func testServeOutlivesItsClosedLogPipe() async throws {
        let port = try TestSockets.freePort()
        let p = Process()
        p.executableURL = try TestConsole.executable()
        p.arguments = ["serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--port", String(port),
                       "--output-dir", TestConsole.freshOutputDirectory()]
        let pipe = Pipe()
        p.standardError = pipe
        p.standardOutput = pipe
        try p.run()
        try pipe.fileHandleForReading.close()  // nobody reads the log any more
        addTeardownBlock { p.stop("serve") }
        let console = TestConsole.remote(port: port)
        var ready = false
        let deadline = Date().addingTimeInterval(60)
        while !ready && Date() < deadline && p.isRunning {
            ready = ((try? await console.get("/api/status"))?.json["model"] as? [String: Any])?["state"] as? String == "ready"
            if !ready { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        XCTAssertTrue(ready, "serve did not become ready (running: \(p.isRunning), status \(p.isRunning ? 0 : p.terminationStatus))")
        // Each job logs its times line when it ends.
        for seed in 1...2 {
            let job = try await console.submit(["prompt": "a red circle", "seed": seed, "steps": 2, "width": 64, "height": 64])
            let id = try XCTUnwrap(job["id"] as? String)
            let end = try await console.waitForJob(id) { ["done", "failed"].contains($0["status"] as? String ?? "") }
            XCTAssertEqual(end["status"] as? String, "done")
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        XCTAssertTrue(p.isRunning, "serve ended (status \(p.terminationStatus)) once its log pipe was closed")
        let status = try await console.get("/api/status")
        XCTAssertEqual(status.status, 200)
    }
}
