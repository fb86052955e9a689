import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// Processes of a PostgreSQL-backed deployment for tests: `majicflux worker`s and
/// `majicflux serve --queue URL --no-worker` front ends, all on one test database, plus the helpers
/// the multi-process tests share (submit a job, list finished jobs).
final class QueueCluster: @unchecked Sendable {
    // unchecked: only the test's own task touches `workers` and `frontEnds`.
    let database: PostgresTestDatabase
    let model: String
    /// Lease of every worker: how soon a killed worker's job runs again.
    let leaseSeconds: Double
    /// The port the processes reach the database on instead of its own (a `TCPProxy` a test cuts).
    let port: Int?
    private(set) var workers: [String: (process: Process, log: String)] = [:]
    private(set) var frontEnds: [(process: Process, log: String)] = []

    init(database: PostgresTestDatabase, model: String, leaseSeconds: Double = 3, port: Int? = nil) {
        self.database = database
        self.model = model
        self.leaseSeconds = leaseSeconds
        self.port = port
    }

    /// The database's URL without its password, which the processes get as PGPASSWORD, as the
    /// README advises (a password in the URL shows in `ps`); through `port` when given.
    private var queue: (url: String, environment: [String: String]) {
        guard var c = URLComponents(string: database.url) else { return (database.url, [:]) }
        if let port { c.port = port }
        let password = c.password
        c.password = nil
        return (c.string ?? database.url, password.map { ["PGPASSWORD": $0] } ?? [:])
    }

    /// Starts `majicflux worker --name NAME` on the CPU.
    func startWorker(_ name: String) throws {
        let (p, log) = try TestConsole.launch(try TestConsole.executable(), [
            "worker", "--queue", queue.url, "--model", model, "--device", "cpu", "--name", name,
            "--job-lease", String(leaseSeconds),
        ], environment: queue.environment)
        workers[name] = (p, log)
    }

    /// Starts a front end without a worker and returns a client for it once it listens.
    func startFrontEnd() async throws -> TestConsole {
        let (p, log) = try TestConsole.launch(try TestConsole.executable(), [
            "serve", "--queue", queue.url, "--no-worker", "--model", model, "--device", "cpu", "--port", "0",
        ], environment: queue.environment)
        frontEnds.append((p, log))
        return try await TestConsole.remote(process: p, log: log)
    }

    /// Ends the newest front end (SIGTERM, as an operator would) and waits for it.
    func stopFrontEnd() {
        guard let last = frontEnds.last else { return }
        last.process.stop("the front end", log: last.log)
    }

    /// kill -9 of a worker.
    func kill9(worker name: String) {
        guard let w = workers[name] else { return }
        kill(w.process.processIdentifier, SIGKILL)
        w.process.waitForExit(within: 30, "worker \(name) after SIGKILL")
    }

    func stopAll() {
        for (name, w) in workers { w.process.stop("worker \(name)", log: w.log) }
        for f in frontEnds { f.process.stop("the front end", log: f.log) }
    }

    /// Every process's stderr, for failure messages.
    var logs: String {
        (workers.sorted { $0.key < $1.key }.map { ("worker \($0.key)", $0.value.log) } + frontEnds.enumerated().map { ("front end \($0.offset)", $0.element.log) })
            .map { "--- \($0.0):\n" + ((try? String(contentsOfFile: $0.1, encoding: .utf8)) ?? "").suffix(3000) }
            .joined(separator: "\n")
    }

    // MARK: What the tests share

    /// Submits a job through our JSON API; returns its id. A full queue (429) is waited out.
    static func submitJSON(_ console: TestConsole, prompt: String, seed: Int, steps: Int, size: Int = 64) async throws -> String {
        let body: [String: Any] = ["prompt": prompt, "seed": seed, "steps": steps, "width": size, "height": size]
        for _ in 0..<600 {
            let reply = try await console.post("/api/jobs", json: body)
            if reply.status == 429 { try await Task.sleep(for: .milliseconds(100)); continue }
            XCTAssertEqual(reply.status, 202, reply.text)
            return try XCTUnwrap(reply.json["id"] as? String, reply.text)
        }
        throw TestFailure("the queue stayed full for a minute")
    }

    /// A job as the database holds it.
    struct FinishedJob: Equatable {
        var id: String
        var status: String
        var attempts: Int
        /// The name of the worker that finished it.
        var worker: String?
        var prompt: String
    }

    /// Every finished job (done, failed, cancelled), from the database: the truth the front ends show.
    func finishedJobs() async throws -> [FinishedJob] {
        try await database.sql("""
            SELECT j.id, j.status, j.attempts, w.name, j.spec FROM majicflux_jobs j
            LEFT JOIN majicflux_workers w ON w.id = j.worker_id
            WHERE j.status IN ('done', 'failed', 'cancelled') ORDER BY j.seq
            """).map { row in
            let (id, status, attempts, worker, spec) = try row.decode((String, String, Int, String?, String).self)
            let prompt = (try? JSONSerialization.jsonObject(with: Data(spec.utf8)) as? [String: Any]).flatMap { Self.prompt(in: $0) } ?? ""
            return FinishedJob(id: id, status: status, attempts: attempts, worker: worker, prompt: prompt)
        }
    }

    /// The prompt in a job's stored description, wherever the store put it.
    private static func prompt(in object: [String: Any]) -> String? {
        if let p = object["prompt"] as? String { return p }
        for value in object.values { if let o = value as? [String: Any], let p = prompt(in: o) { return p } }
        return nil
    }

    /// The running jobs with the name of their worker.
    func runningJobs() async throws -> [(id: String, worker: String, step: Int)] {
        try await database.sql("""
            SELECT j.id, w.name, j.step FROM majicflux_jobs j JOIN majicflux_workers w ON w.id = j.worker_id
            WHERE j.status = 'running' ORDER BY j.started
            """).map { try $0.decode((String, String, Int).self) }.map { (id: $0.0, worker: $0.1, step: $0.2) }
    }
}
