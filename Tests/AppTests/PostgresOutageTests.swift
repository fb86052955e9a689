import Foundation
import XCTest

/// A front end on a PostgreSQL queue while the database goes away and comes back (through a
/// `TCPProxy` the test cuts): the console's status answered after 67 s, the history with a 500.
/// Now the first call gives up after the store's call limit (10 s), later calls fail at once with
/// why, the status stays quick and says `queue_error`, and the front end works again when the
/// database is back.
final class PostgresOutageTests: XCTestCase {
    func testAFrontEndStaysQuickWhileItsDatabaseIsDownAndRecovers() async throws {
        let database = try await PostgresTestDatabase.make()
        var url = try XCTUnwrap(URLComponents(string: database.url))
        let proxy = try TCPProxy(to: url.port ?? 5432)
        url.port = proxy.port
        let password = url.password ?? ""
        url.password = nil
        let (p, log) = try TestConsole.launch(try TestConsole.executable(), [
            "serve", "--queue", url.string!, "--no-worker", "--model", TestConsole.tinyModel, "--device", "cpu", "--port", "0",
        ], environment: ["PGPASSWORD": password])
        addTeardownBlock {
            p.stop("the front end", log: log)
            proxy.stop()
            await database.drop()
        }
        let console = try await TestConsole.remote(process: p, log: log)
        let before = try await console.get("/api/history")
        XCTAssertEqual(before.status, 200, before.text)

        proxy.stop()
        var t = Date()
        let first = try await console.get("/api/status")
        XCTAssertLessThan(Date().timeIntervalSince(t), 13, "the first call after the outage gives up after the call limit")
        XCTAssertEqual(first.status, 200)
        // Every later call is refused at once, saying why.
        t = Date()
        let history = try await console.get("/api/history")
        XCTAssertLessThan(Date().timeIntervalSince(t), 1)
        XCTAssertEqual(history.status, 503, history.text)
        XCTAssertTrue(history.text.contains("PostgreSQL at") && !history.text.contains(password), history.text)
        t = Date()
        let status = try await console.get("/api/status")
        XCTAssertLessThan(Date().timeIntervalSince(t), 1)
        XCTAssertTrue((status.json["queue_error"] as? String ?? "").contains("has not answered since"), status.text)
        let job = try await console.post("/api/jobs", json: ["prompt": "x", "steps": 2, "width": 64, "height": 64])
        XCTAssertEqual(job.status, 503, job.text)

        try proxy.start()
        t = Date()
        var back = false
        while !back && Date().timeIntervalSince(t) < 60 {
            back = try await console.get("/api/history").status == 200
            if !back { try await Task.sleep(nanoseconds: 200_000_000) }
        }
        XCTAssertTrue(back, "the front end never got its database back\n\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        print("outage test: back \(String(format: "%.1f", Date().timeIntervalSince(t))) s after the database returned")
        let status2 = try await console.get("/api/status")
        XCTAssertTrue(status2.json["queue_error"] is NSNull, status2.text)
    }
}
