import Foundation
@testable import MajicFluxApp
import XCTest

/// Issue 19's process test: three CPU `majicflux worker` processes and a front end
/// (`serve --queue URL --no-worker`) over one PostgreSQL database; one worker is killed with
/// SIGKILL mid-job and the front end is restarted mid-run; the last ten jobs go through the A1111
/// API. Every job finishes exactly once.
/// Skipped without MAJICFLUX_TEST_POSTGRES_URL.
final class QueueProcessTests: XCTestCase {
    func testWorkersSurviveKillAndFrontEndRestart() async throws {
        let database = try await PostgresTestDatabase.make()
        let model = TestConsole.defaultModel ?? TestConsole.tinyModel
        let cluster = QueueCluster(database: database, model: model, leaseSeconds: 3)
        addTeardownBlock {
            cluster.stopAll()
            await database.drop()
        }
        var console = try await cluster.startFrontEnd()
        for name in ["w1", "w2", "w3"] { try cluster.startWorker(name) }

        // The first half, then a kill -9 of a worker in the middle of a job.
        var ids: [String] = []
        for i in 0..<30 {
            // Every tenth job is longer, so that a worker is surely caught in one.
            ids.append(try await QueueCluster.submitJSON(console, prompt: "a red circle \(i)", seed: i, steps: i % 10 == 0 ? 30 : 4))
        }
        // The victim is a long job caught between its first and its last steps, so that the kill
        // surely lands inside it.
        let long = Set(stride(from: 0, to: 30, by: 10).map { ids[$0] })
        var victim: (id: String, worker: String)?
        let deadline = Date().addingTimeInterval(60)
        while victim == nil && Date() < deadline {
            if let r = try await cluster.runningJobs().first(where: { long.contains($0.id) && (1..<25).contains($0.step) }) { victim = (r.id, r.worker) }
            else { try await Task.sleep(for: .milliseconds(20)) }
        }
        let killed = try XCTUnwrap(victim, "no job was seen running\n\(cluster.logs)")
        cluster.kill9(worker: killed.worker)

        // Restart the front end while jobs run; the second half goes through the new one.
        cluster.stopFrontEnd()
        console = try await cluster.startFrontEnd()
        for i in 30..<50 {
            ids.append(try await QueueCluster.submitJSON(console, prompt: "a red circle \(i)", seed: i, steps: 4))
        }
        // The last ten through the A1111 API (one txt2img call, batch_size 2 x n_iter 5, seeds 100...109).
        // The queue may still be full with the JSON jobs: a 429 is retried, as a client would.
        var a1111 = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "a blue square", "seed": 100, "steps": 4,
                                                                       "width": 64, "height": 64, "batch_size": 2, "n_iter": 5, "cfg_scale": 1])
        for _ in 0..<600 where a1111.status == 429 {
            try await Task.sleep(for: .milliseconds(100))
            a1111 = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "a blue square", "seed": 100, "steps": 4,
                                                                   "width": 64, "height": 64, "batch_size": 2, "n_iter": 5, "cfg_scale": 1])
        }
        XCTAssertEqual(a1111.status, 200, a1111.text)
        XCTAssertEqual((a1111.json["images"] as? [Any])?.count, 10, a1111.text)
        let info = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(XCTUnwrap(a1111.json["info"] as? String).utf8))) as? [String: Any])
        XCTAssertEqual(info["all_seeds"] as? [Int], Array(100...109))
        ids += try XCTUnwrap(info["job_ids"] as? [String])
        XCTAssertEqual(ids.count, 60)

        // A txt2img call refused with 429 queues nothing (its jobs go in one transaction, all or none):
        // no job but ours may exist.
        let ours = Set(ids)
        var finished: [QueueCluster.FinishedJob] = [], others: [QueueCluster.FinishedJob] = []
        let end = Date().addingTimeInterval(150)
        while Date() < end {
            let all = try await cluster.finishedJobs()
            finished = all.filter { ours.contains($0.id) }
            others = all.filter { !ours.contains($0.id) }
            if finished.count >= ids.count { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        XCTAssertEqual(finished.count, 60, "jobs finished: \(finished.count) of 60\n\(cluster.logs)")
        XCTAssertEqual(Set(finished.map(\.id)), ours, "none lost")
        XCTAssertEqual(finished.filter { $0.status != "done" }.map { "\($0.id) \($0.status)" }, [], "every job done\n\(cluster.logs)")
        XCTAssertEqual(others.map { "\($0.id) \($0.status)" }, [], "a refused request left jobs behind")

        // The killed worker's job ran again, elsewhere, as a second attempt.
        let rerun = try XCTUnwrap(finished.first { $0.id == killed.id })
        XCTAssertEqual(rerun.status, "done")
        XCTAssertEqual(rerun.attempts, 2)
        XCTAssertNotEqual(rerun.worker, killed.worker)

        // Exactly once: one history picture per job, served by the new front end.
        let pictures = try await database.sql("SELECT job_id FROM majicflux_history").map { try $0.decode(String.self) }
        XCTAssertEqual(pictures.count, 60)
        XCTAssertEqual(Set(pictures), Set(ids))
        let history = try await console.get("/api/history")
        XCTAssertEqual(history.status, 200)
        let items = try XCTUnwrap((try JSONSerialization.jsonObject(with: history.body) as? [String: Any])?["items"] as? [[String: Any]])
        XCTAssertEqual(items.count, 60)
        XCTAssertEqual(Set(items.compactMap { $0["id"] as? String }).count, 60)
        let first = try XCTUnwrap(items.first?["url"] as? String)
        let png = try await console.get(first)
        XCTAssertEqual(png.status, 200)
        XCTAssertEqual(Array(png.body.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        for id in [killed.id, ids[0], ids[59]] {
            let job = try await console.get("/api/jobs/\(id)")
            XCTAssertEqual(job.status, 200)
            XCTAssertEqual((try JSONSerialization.jsonObject(with: job.body) as? [String: Any])?["status"] as? String, "done")
        }
    }

    /// A front end without workers of its own says whether a worker serves its model ("waiting" with
    /// the reason, then "ready"; it said "loading model…" forever), an A1111 request that no worker
    /// could run is 503 (it waited forever), and an idle worker stays "idle" past several leases (it
    /// was marked "stopped answering": only a running job's heartbeats said it was alive).
    func testAFrontEndSaysWhetherAWorkerServesItsModelAndIdleWorkersStayAlive() async throws {
        let database = try await PostgresTestDatabase.make()
        let cluster = QueueCluster(database: database, model: TestConsole.tinyModel, leaseSeconds: 2)
        addTeardownBlock {
            cluster.stopAll()
            await database.drop()
        }
        let console = try await cluster.startFrontEnd()
        let alone = try await console.get("/api/status").json["model"] as? [String: Any]
        XCTAssertEqual(alone?["state"] as? String, "waiting", "\(String(describing: alone))")
        XCTAssertTrue((alone?["message"] as? String ?? "").contains("no worker serving"), "\(String(describing: alone))")
        let refused = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "nobody makes this", "steps": 1, "width": 64, "height": 64])
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertTrue(refused.text.contains("no worker serving"), refused.text)

        try cluster.startWorker("w1")
        var state = ""
        let ready = Date().addingTimeInterval(60)
        while state != "ready" && Date() < ready {
            state = (try await console.get("/api/status").json["model"] as? [String: Any])?["state"] as? String ?? ""
            if state != "ready" { try await Task.sleep(for: .milliseconds(100)) }
        }
        XCTAssertEqual(state, "ready", cluster.logs)
        // Six leases idle: every worker's sweep marks a worker silent for three leases as stopped.
        try await Task.sleep(for: .seconds(12))
        let status = try await console.get("/api/status").json
        let w1 = (status["workers"] as? [[String: Any]])?.first { $0["name"] as? String == "w1" }
        XCTAssertEqual(w1?["state"] as? String, "idle", "\(status)")
        XCTAssertEqual((status["model"] as? [String: Any])?["state"] as? String, "ready")
        XCTAssertTrue(status["queue_error"] is NSNull, "\(status)")
    }
}
