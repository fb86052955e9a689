import Foundation
import MajicFluxApp
import Tensor
import XCTest

/// `serve` with several generation workers over the embedded store (`--gpus 0,1` on a GPU host;
/// here two CPU workers on the tiny model, as `--devices cpu,cpu`).
final class MultiWorkerTests: XCTestCase {
    private var consoles: [TestConsole] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
    }

    /// Jobs go to whichever worker is idle: two run at once, one on each worker; each job finishes
    /// exactly once; `/api/status` shows both workers and what they run; cancel reaches a running
    /// job through the store.
    func testTwoCPUWorkersShareTheQueue() async throws {
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        c.workerBackends = [CPUBackend.shared, CPUBackend.shared]
        let console = try await TestConsole.start(configuration: c)
        consoles.append(console)
        var workers: [[String: Any]] = []
        for _ in 0..<500 {
            workers = try await console.get("/api/status").json["workers"] as? [[String: Any]] ?? []
            if workers.count == 2 && workers.allSatisfy({ $0["state"] as? String == "idle" }) { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        XCTAssertEqual(workers.map { $0["state"] as? String }, ["idle", "idle"], "\(workers)")
        XCTAssertEqual(workers.map { $0["device"] as? String }, ["cpu", "cpu"])
        XCTAssertEqual(Set(workers.compactMap { $0["id"] as? String }).count, 2)

        var ids: [String] = []
        for i in 0..<6 {
            let job = try await console.submit(["prompt": "worker job \(i)", "seed": i, "steps": 6, "width": 128, "height": 128])
            ids.append(try XCTUnwrap(job["id"] as? String))
        }
        // Watch the queue: at some moment both workers run a job.
        var most = 0
        var busyWorkers = Set<String>()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let jobs = try await console.get("/api/jobs").json["jobs"] as? [[String: Any]] ?? []
            if jobs.isEmpty { break }
            let running = jobs.filter { $0["status"] as? String == "running" }
            most = max(most, running.count)
            if running.count == 2 {
                let status = try await console.get("/api/status").json["workers"] as? [[String: Any]] ?? []
                let busy = status.filter { $0["state"] as? String == "busy" }
                busyWorkers.formUnion(busy.compactMap { $0["id"] as? String })
                // The positions count both running jobs.
                if let firstQueued = jobs.first(where: { $0["status"] as? String == "queued" }) {
                    XCTAssertEqual(firstQueued["position"] as? Int, 2, "\(jobs)")
                }
            }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        XCTAssertEqual(most, 2, "two jobs ran at once")
        XCTAssertEqual(busyWorkers.count, 2, "both workers were busy")

        var ranOn = Set<String>()
        for id in ids {
            let done = try await console.waitForJob(id) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
            XCTAssertEqual(done["status"] as? String, "done", "\(done)")
            XCTAssertEqual(done["attempts"] as? Int, 1)
            ranOn.insert(try XCTUnwrap(done["worker"] as? String))
        }
        XCTAssertEqual(ranOn, Set(workers.compactMap { $0["id"] as? String }), "both workers made pictures")
        let history = try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(history.compactMap { $0["id"] as? String }.sorted(), ids.sorted(), "each job once")
        XCTAssertEqual(Set(history.compactMap { $0["file"] as? String }).count, 6, "six files")

        // Cancel a running job: its worker sees the store's flag at its next step.
        let long = try await console.submit(["prompt": "long", "seed": 1, "steps": 100, "width": 256, "height": 256])
        let longID = try XCTUnwrap(long["id"] as? String)
        let running = try await console.waitForJob(longID) { $0["status"] as? String == "running" && ($0["step"] as? Int ?? 0) >= 1 }
        XCTAssertNotNil(running["worker"] as? String)
        let cancel = try await console.post("/api/jobs/\(longID)/cancel", raw: "")
        XCTAssertEqual(cancel.status, 200, cancel.text)
        let end = try await console.waitForJob(longID, timeout: 30) { ($0["status"] as? String) != "running" }
        XCTAssertEqual(end["status"] as? String, "cancelled")
        XCTAssertLessThan(end["step"] as? Int ?? 100, 100)
    }

    /// `--gpus` and `--devices` refuse what they cannot mean, before anything loads.
    func testWorkerDeviceOptionsAreChecked() throws {
        for (arguments, expected) in [(["--gpus", "0,x"], "--gpus takes CUDA device numbers"),
                                      (["--gpus", "1,1"], "--gpus lists a GPU twice"),
                                      (["--devices", "cpu,tpu"], "\"tpu\" is not a device"),
                                      (["--gpus", "0", "--devices", "cpu"], "give one"),
                                      (["--job-lease", "0.5"], "--job-lease must be")] {
            let run = try TestConsole.runToEnd(["serve", "--model", TestConsole.tinyModel, "--port", "0"] + arguments, limit: 60)
            XCTAssertNotEqual(run.status, 0, "\(arguments)")
            XCTAssertTrue(run.log.contains(expected), "\(arguments): \(run.log)")
        }
    }
}
