import Foundation
import XCTest

/// A front end on a PostgreSQL queue while the database goes away and comes back (through a
/// `TCPProxy` the test cuts): the console's status answered after 67 s, the history with a 500.
/// Now the first call gives up after the store's call limit (10 s), later calls fail at once with
/// why, the status stays quick and says `queue_error`, and the front end works again when the
/// database is back.
final class PostgresOutageTests: XCTestCase {
    /// Front ends and workers on a fresh database reached through a proxy the test cuts.
    private func cluster(leaseSeconds: Double = 30) async throws -> (QueueCluster, TCPProxy) {
        let database = try await PostgresTestDatabase.make()
        let proxy = try TCPProxy(to: URLComponents(string: database.url)?.port ?? 5432)
        let cluster = QueueCluster(database: database, model: TestConsole.tinyModel, leaseSeconds: leaseSeconds, port: proxy.port)
        addTeardownBlock {
            cluster.stopAll()
            proxy.stop()
            await database.drop()
        }
        return (cluster, proxy)
    }

    func testAFrontEndStaysQuickWhileItsDatabaseIsDownAndRecovers() async throws {
        let (cluster, proxy) = try await cluster()
        let password = URLComponents(string: cluster.database.url)?.password ?? "no password"
        let console = try await cluster.startFrontEnd()
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
        XCTAssertTrue(back, "the front end never got its database back\n\(cluster.logs)")
        print("outage test: back \(String(format: "%.1f", Date().timeIntervalSince(t))) s after the database returned")
        let status2 = try await console.get("/api/status")
        XCTAssertTrue(status2.json["queue_error"] is NSNull, status2.text)
    }

    /// A worker whose job ends while the database is away keeps the picture and records it once the
    /// database answers again: the job is done at its first attempt (it failed to record, and the
    /// job ran again after its lease).
    func testAJobFinishingDuringAnOutageIsRecordedWhenTheDatabaseReturns() async throws {
        let (cluster, proxy) = try await cluster()
        let console = try await cluster.startFrontEnd()
        try cluster.startWorker("w1")
        let workerLog = try XCTUnwrap(cluster.workers["w1"]?.log)
        let job = try await console.submit(["prompt": "a red circle", "seed": 2, "steps": 30, "width": 512, "height": 512])
        let id = try XCTUnwrap(job["id"] as? String)
        _ = try await console.waitForJob(id, timeout: 120) { ($0["step"] as? Int ?? 0) >= 2 }

        proxy.stop()
        // Wait for the worker to finish the picture and find the database away.
        let finishing = Date().addingTimeInterval(120)
        var waiting = false
        while !waiting && Date() < finishing {
            waiting = ((try? String(contentsOfFile: workerLog, encoding: .utf8)) ?? "").contains("waits for the job store to answer again")
            if !waiting { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        XCTAssertTrue(waiting, (try? String(contentsOfFile: workerLog, encoding: .utf8)) ?? "")
        try proxy.start()
        let done = try await console.waitForJob(id, timeout: 60) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(done["status"] as? String, "done", "\(done)\n\((try? String(contentsOfFile: workerLog, encoding: .utf8)) ?? "")")
        XCTAssertEqual(done["attempts"] as? Int, 1, "recorded, not run again")
    }
}
