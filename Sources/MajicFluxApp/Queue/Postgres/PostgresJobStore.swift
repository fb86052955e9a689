import Foundation
import Logging
import PostgresNIO

/// The job store in PostgreSQL (`--queue postgres://...`): jobs, their input pictures, the history
/// with its PNGs (bytea), workers and settings, shared by any number of front ends and workers on
/// any number of machines.
///
/// - Jobs are claimed with `FOR UPDATE SKIP LOCKED` in submission order, only by a worker that holds
///   the job's model and LoRAs, under a lease (`leaseSeconds`) that heartbeats renew.
/// - A lease that runs out (its worker died) puts the job back in the queue, found by any process's
///   `sweepExpiredLeases()`; each claim counts an attempt and a job out of attempts fails with why.
/// - Changes are announced with NOTIFY by triggers (`PostgresSchema`); idle workers wake on
///   `majicflux_job_queued` and poll every `pollSeconds` as a fallback.
/// - A job finishes exactly once: its result is taken only from the worker and attempt holding it,
///   and the history has one row per job.
final class PostgresJobStore: Sendable {
    let url: PostgresURL
    let leaseSeconds: Double
    let maxAttempts: Int
    /// How often an idle worker looks for work without being woken (LISTEN down, lost notification).
    let pollSeconds: Double
    /// How long one query or transaction may go unanswered before the server counts as down.
    let callSeconds: Double
    let outage: PostgresOutage
    let client: PostgresClient
    let notifications: PostgresNotifications
    let logger: Logger
    private let runner: Task<Void, Never>
    private let sweeper = SweeperBox()

    private init(url: PostgresURL, client: PostgresClient, notifications: PostgresNotifications,
                 leaseSeconds: Double, maxAttempts: Int, pollSeconds: Double, callSeconds: Double, logger: Logger) {
        self.url = url
        self.client = client
        self.notifications = notifications
        self.leaseSeconds = leaseSeconds
        self.maxAttempts = maxAttempts
        self.pollSeconds = pollSeconds
        self.callSeconds = callSeconds
        outage = PostgresOutage(probeSeconds: min(2, callSeconds))
        self.logger = logger
        runner = Task { await client.run() }
    }

    /// Connects, brings the schema up to date and starts listening for changes. Throws a
    /// `QueueURLError` naming the URL (never its password) when the server cannot be reached, the
    /// login fails or the schema is newer than this program. `sweeps`: re-queue expired leases in
    /// the background (`sweepExpiredLeases`).
    static func open(_ urlString: String, leaseSeconds: Double = 10, maxAttempts: Int = 3,
                     pollSeconds: Double = 2, callSeconds: Double = 10, sweeps: Bool = true,
                     logger: Logger = Logger(label: "majicflux.queue")) async throws -> PostgresJobStore {
        let url = try PostgresURL(urlString)
        guard leaseSeconds > 0, maxAttempts >= 1, pollSeconds > 0 else {
            throw QueueURLError("lease \(leaseSeconds) s, attempts \(maxAttempts), poll \(pollSeconds) s: each must be positive")
        }
        // One connection first: a clear error now, and the migrations under one session's lock.
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: try url.connectionConfiguration(), id: 0, logger: logger)
        } catch {
            throw url.explain(error, doing: "connecting")
        }
        do {
            let applied = try await PostgresSchema.migrate(connection, url: url, logger: logger)
            if !applied.isEmpty { logger.info("PostgreSQL at \(url.redacted): schema migrations \(applied) applied") }
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
        let client = PostgresClient(configuration: try url.clientConfiguration(), backgroundLogger: logger)
        let notifications = PostgresNotifications(url: url, logger: logger)
        let store = PostgresJobStore(url: url, client: client, notifications: notifications, leaseSeconds: leaseSeconds,
                                     maxAttempts: maxAttempts, pollSeconds: pollSeconds, callSeconds: callSeconds, logger: logger)
        await notifications.start()
        if sweeps { store.startSweeping() }
        return store
    }

    /// Every lease/3 (0.2 ... 5 s), puts back the jobs of workers that stopped answering. Every
    /// process using the database does it; the row locks make them agree.
    private func startSweeping() {
        let interval = min(5, max(0.2, leaseSeconds / 3))
        sweeper.set(Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(interval))
                guard let self, !Task.isCancelled else { return }
                do {
                    for job in try await self.sweepExpiredLeases() {
                        self.logger.info("job \(job.id): its worker stopped answering; now \(job.status)")
                    }
                } catch {
                    self.logger.warning("\(error)")
                }
            }
        })
    }

    /// Stops listening and sweeping, and closes the connections.
    func close() async {
        outage.stop()
        sweeper.cancel()
        notifications.stop()
        runner.cancel()
        // The pool's shutdown waits for its connections to close; one to a server gone silent may
        // not for minutes: a stopping process does not wait for that.
        let runner = self.runner
        if (try? await firstWithin(callSeconds) { await runner.value }) == nil {
            logger.warning("PostgreSQL at \(url.redacted): the connections did not close within \(Int(callSeconds)) s; leaving them")
        }
    }

    /// Runs `query`, turning PostgreSQL's errors into messages naming the URL and `what`.
    @discardableResult
    func run(_ query: PostgresQuery, _ what: String) async throws -> [PostgresRow] {
        do {
            return try await bounded(what) { [client, logger] in try await client.query(query, logger: logger).collect() }
        } catch let e as QueueURLError {
            throw e
        } catch {
            throw url.explain(error, doing: what)
        }
    }

    /// `work` within `callSeconds`, at once refused while the server is down (`PostgresOutage`); a
    /// call that finds it unreachable or gets no answer in time marks it down.
    private func bounded<T: Sendable>(_ what: String, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try outage.check(url, what)
        let answered: T?
        do {
            answered = try await firstWithin(callSeconds, work)
        } catch {
            if PostgresURL.isUnreachable(error) { markDown(PostgresURL.reason(error)) }
            throw error
        }
        guard let answered else {
            let reason = "no answer within \(Int(callSeconds)) s"
            markDown(reason)
            throw QueueURLError("PostgreSQL at \(url.redacted): \(what) failed: \(reason) (is the server running and reachable?)", unreachable: true)
        }
        return answered
    }

    /// The server is down: the probe asks it (through the pool, so that its connections are back
    /// too) until it answers.
    private func markDown(_ reason: String) {
        outage.markDown(reason) { [client, logger, callSeconds] in
            (try? await firstWithin(callSeconds) { _ = try await client.query("SELECT 1", logger: logger).collect() }) != nil
        }
    }

    func transaction<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await bounded(what) { [client, logger] in try await client.withTransaction(logger: logger) { try await body($0) } }
        } catch let e as PostgresTransactionError {
            // What went wrong first: the body (our refusals as they are), else BEGIN or COMMIT.
            if let refusal = e.closureError as? PostgresStoreRefusal { throw refusal }
            if let ours = e.closureError as? QueueURLError { throw ours }
            throw url.explain(e.closureError ?? e.beginError ?? e.commitError ?? e, doing: what)
        } catch let e as QueueURLError {
            throw e
        } catch {
            throw url.explain(error, doing: what)
        }
    }

    // MARK: Front end

    /// Queues a job; refuses (`PostgresStoreRefusal.queueFull`) when `maxQueued` jobs already wait.
    func enqueue(id: String, spec: String, model: String?, loras: [String], totalSteps: Int,
                 inputs: [String: Data] = [:], maxQueued: Int, maxAttempts: Int? = nil,
                 created: Date = Date()) async throws -> PostgresJobRecord {
        try await enqueue([PostgresNewJob(id: id, spec: spec, model: model, loras: loras, totalSteps: totalSteps, inputs: inputs,
                                          maxAttempts: maxAttempts, created: created)], maxQueued: maxQueued)[0]
    }

    /// Queues jobs all together, in order, in one transaction (a batch group: no worker sees part
    /// of it); refuses them all (`PostgresStoreRefusal.queueFull`) when they do not fit in `maxQueued`.
    func enqueue(_ jobs: [PostgresNewJob], maxQueued: Int) async throws -> [PostgresJobRecord] {
        try await transaction("queueing a job") { [logger, maxAttempts] c in
            // Serialises the count-then-insert of concurrent front ends (a transaction-scoped lock).
            _ = try await c.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.lockKey + 1))", logger: logger).collect()
            var waiting = 0
            for try await n in try await c.query("SELECT count(*)::int8 FROM majicflux_jobs WHERE status = 'queued'", logger: logger).decode(Int.self) {
                waiting = n
            }
            if waiting + jobs.count > maxQueued { throw PostgresStoreRefusal.queueFull(waiting) }
            for j in jobs {
                _ = try await c.query("""
                    INSERT INTO majicflux_jobs (id, spec, model, loras, total_steps, max_attempts, created)
                    VALUES (\(j.id), \(j.spec), \(j.model), \(j.loras), \(j.totalSteps), \(j.maxAttempts ?? self.maxAttempts), \(j.created))
                    """, logger: logger).collect()
                for (role, png) in j.inputs.sorted(by: { $0.key < $1.key }) {
                    _ = try await c.query("INSERT INTO majicflux_job_inputs (job_id, role, png) VALUES (\(j.id), \(role), \(png))", logger: logger).collect()
                }
            }
        }
        var records: [PostgresJobRecord] = []
        for j in jobs {
            guard let job = try await jobRecord(j.id) else { throw QueueURLError("PostgreSQL at \(url.redacted): job \(j.id) vanished after it was queued") }
            records.append(job)
        }
        return records
    }

    /// One job, or nil when unknown.
    func jobRecord(_ id: String) async throws -> PostgresJobRecord? {
        try await run("SELECT \(unescaped: PostgresJobRecord.columns) FROM majicflux_jobs j WHERE j.id = \(id)", "reading job")
            .first.map(PostgresJobRecord.init(row:))
    }

    /// Running jobs (oldest claim first), then queued ones in the order they will be claimed.
    func activeJobRecords() async throws -> [PostgresJobRecord] {
        try await run("""
            SELECT \(unescaped: PostgresJobRecord.columns) FROM majicflux_jobs j
            WHERE j.status IN ('queued', 'running')
            ORDER BY j.status = 'queued', CASE WHEN j.status = 'running' THEN j.started END, j.seq
            """, "listing jobs").map(PostgresJobRecord.init(row:))
    }

    /// Jobs that finished after `since` (all when nil), oldest first.
    func finishedJobs(since: Date? = nil, limit: Int = 1000) async throws -> [PostgresJobRecord] {
        try await run("""
            SELECT \(unescaped: PostgresJobRecord.columns) FROM majicflux_jobs j
            WHERE j.status IN ('done', 'failed', 'cancelled') AND j.finished > \(since ?? Date(timeIntervalSince1970: 0))
            ORDER BY j.finished, j.seq LIMIT \(limit)
            """, "listing finished jobs").map(PostgresJobRecord.init(row:))
    }

    /// Cancels a job: a queued one ends at once, a running one gets `cancel_requested` and its
    /// worker stops at its next heartbeat. Returns the job after the change; nil when unknown.
    /// A job that has already finished is returned unchanged (the caller says 409).
    func requestCancelRecord(_ id: String) async throws -> PostgresJobRecord? {
        try await run("""
            UPDATE majicflux_jobs SET
                status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
                finished = CASE WHEN status = 'queued' THEN now() ELSE finished END,
                error = CASE WHEN status = 'queued' THEN 'cancelled' ELSE error END,
                cancel_requested = true
            WHERE id = \(id) AND status IN ('queued', 'running')
            """, "cancelling a job")
        return try await jobRecord(id)
    }

    /// Forgets finished jobs' records, all but the `keep` most recently finished (their pictures stay).
    func pruneFinished(keep: Int) async throws {
        try await run("""
            DELETE FROM majicflux_jobs WHERE status IN ('done', 'failed', 'cancelled') AND seq NOT IN (
                SELECT seq FROM majicflux_jobs WHERE status IN ('done', 'failed', 'cancelled')
                ORDER BY finished DESC, seq DESC LIMIT \(max(0, keep)))
            """, "forgetting finished jobs")
    }

    /// The input pictures stored with a job, PNG bytes by role.
    func inputs(ofJob id: String) async throws -> [String: Data] {
        var out: [String: Data] = [:]
        for row in try await run("SELECT role, png FROM majicflux_job_inputs WHERE job_id = \(id)", "reading a job's pictures") {
            let (role, png) = try row.decode((String, ByteBuffer).self)
            out[role] = Data(png.readableBytesView)
        }
        return out
    }

    // MARK: History

    /// Newest first.
    func historyRecords(limit: Int = 10_000, offset: Int = 0) async throws -> [PostgresHistoryRecord] {
        try await run("""
            SELECT number, file, job_id, created, entry FROM majicflux_history
            ORDER BY number DESC LIMIT \(limit) OFFSET \(offset)
            """, "reading the history").map(Self.makeHistoryRecord)
    }

    func historyRecord(file: String) async throws -> PostgresHistoryRecord? {
        try await run("SELECT number, file, job_id, created, entry FROM majicflux_history WHERE file = \(file)", "reading the history")
            .first.map(Self.makeHistoryRecord)
    }

    private static func makeHistoryRecord(_ row: PostgresRow) throws -> PostgresHistoryRecord {
        let (number, file, jobID, created, entry) = try row.decode((Int, String, String, Date, String).self)
        return PostgresHistoryRecord(number: number, file: file, jobID: jobID, created: created, entry: entry)
    }

    /// A picture's PNG bytes: a history picture or one of the input pictures kept with it.
    func pictureData(file: String) async throws -> Data? {
        let rows = try await run("""
            SELECT png FROM majicflux_history WHERE file = \(file)
            UNION ALL SELECT png FROM majicflux_history_files WHERE file = \(file)
            LIMIT 1
            """, "reading a picture")
        return try rows.first.map { Data(try $0.decode(ByteBuffer.self).readableBytesView) }
    }

    /// Deletes a history picture with its input pictures; returns what was removed, nil when unknown.
    func deleteHistoryRecord(file: String) async throws -> PostgresHistoryRecord? {
        try await run("""
            DELETE FROM majicflux_history WHERE file = \(file) RETURNING number, file, job_id, created, entry
            """, "deleting a picture").first.map(Self.makeHistoryRecord)
    }

    // MARK: Workers and settings

    func workerRecords() async throws -> [PostgresWorkerRecord] {
        try await run("SELECT \(unescaped: PostgresWorkerRecord.columns) FROM majicflux_workers ORDER BY started, id",
                      "listing workers").map(PostgresWorkerRecord.init(row:))
    }

    func setting(_ key: String) async throws -> String? {
        try await run("SELECT value FROM majicflux_settings WHERE key = \(key)", "reading a setting")
            .first.map { try $0.decode(String.self) }
    }

    func setSetting(_ key: String, _ value: String?) async throws {
        guard let value else {
            try await run("DELETE FROM majicflux_settings WHERE key = \(key)", "removing a setting")
            return
        }
        try await run("""
            INSERT INTO majicflux_settings (key, value) VALUES (\(key), \(value))
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
            """, "writing a setting")
    }

}

/// A request the store refuses for what it is, not for a database problem.
enum PostgresStoreRefusal: Error, Equatable, CustomStringConvertible {
    case queueFull(Int)

    var description: String {
        switch self {
        case .queueFull(let n): "the queue is full (\(n) jobs waiting); try again later"
        }
    }
}

/// The sweeping task, set once after `open` and cancelled by `close`.
// unchecked: `task` is only touched under `lock` (NSLock).
final class SweeperBox: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<Void, Never>?
    func set(_ t: Task<Void, Never>) { lock.withLock { task = t } }
    func cancel() { lock.withLock { task }?.cancel() }
}
