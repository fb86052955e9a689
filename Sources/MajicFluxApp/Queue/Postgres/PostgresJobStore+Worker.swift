import Foundation
import PostgresNIO

/// The worker's side: register, claim, heartbeat, complete / fail, and the lease sweep.
extension PostgresJobStore {
    /// Registers (or re-registers after a restart) a worker with what it holds.
    func register(_ worker: PostgresWorkerRecord) async throws {
        try await run("""
            INSERT INTO majicflux_workers (id, name, device, model, loras, state, job_id, message, started)
            VALUES (\(worker.id), \(worker.name), \(worker.device), \(worker.model), \(worker.loras), \(worker.state),
                    \(worker.jobID), \(worker.message), \(worker.started))
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, device = EXCLUDED.device, model = EXCLUDED.model,
                loras = EXCLUDED.loras, state = EXCLUDED.state, job_id = EXCLUDED.job_id, message = EXCLUDED.message,
                started = EXCLUDED.started, last_seen = now()
            """, "registering worker \(worker.name)")
    }

    /// Updates what a worker holds (a model loaded, LoRAs found) and its state.
    func advertise(workerID: String, model: String?, loras: [String], state: String) async throws {
        try await run("""
            UPDATE majicflux_workers SET model = \(model), loras = \(loras), state = \(state), last_seen = now()
            WHERE id = \(workerID)
            """, "updating worker \(workerID)")
    }

    /// Marks a worker as seen, in `state` (an idle worker calls this while it waits).
    func touchWorker(_ workerID: String, state: String, jobID: String? = nil) async throws {
        try await run("""
            UPDATE majicflux_workers SET state = \(state), job_id = \(jobID), last_seen = now() WHERE id = \(workerID)
            """, "updating worker \(workerID)")
    }

    /// Removes a worker from the list (it stopped cleanly).
    func unregister(_ workerID: String) async throws {
        try await run("DELETE FROM majicflux_workers WHERE id = \(workerID)", "removing worker \(workerID)")
    }

    /// Claims the oldest queued job this worker can run (its model, LoRAs it has), or nil. Sets it
    /// running under a lease of `leaseSeconds`, counting an attempt. Concurrent claimers skip each
    /// other's locked rows, so no two get the same job.
    func claim(workerID: String, model: String?, loras: [String]) async throws -> PostgresClaim? {
        let rows = try await run("""
            WITH next AS (
                SELECT id FROM majicflux_jobs
                WHERE status = 'queued' AND (model IS NULL OR model = \(model)) AND loras <@ \(loras)::text[]
                ORDER BY seq LIMIT 1
                FOR UPDATE SKIP LOCKED
            ), w AS (
                UPDATE majicflux_workers SET state = 'busy', job_id = (SELECT id FROM next), last_seen = now()
                WHERE id = \(workerID) AND EXISTS (SELECT 1 FROM next)
            )
            UPDATE majicflux_jobs j SET status = 'running', worker_id = \(workerID),
                lease_until = now() + make_interval(secs => \(leaseSeconds)), attempts = j.attempts + 1,
                started = now(), stage = 'starting', step = 0, eta = NULL, preview = NULL, preview_step = NULL
            FROM next WHERE j.id = next.id
            RETURNING j.id, j.attempts
            """, "claiming a job")
        guard let row = rows.first else { return nil }
        let (id, attempt) = try row.decode((String, Int).self)
        guard let job = try await jobRecord(id) else { return nil }
        return PostgresClaim(job: job, attempt: attempt, inputs: try await inputs(ofJob: id))
    }

    /// Claims up to `limit` queued jobs of batch `group` (`JobParameters.batch_group` in the job's
    /// spec) this worker can run, in run order, as `claim` claims one; rows another claimer holds
    /// are skipped, so a sibling taken meanwhile simply runs elsewhere.
    func claimSiblings(group: String, workerID: String, model: String?, loras: [String], limit: Int) async throws -> [PostgresClaim] {
        let rows = try await run("""
            WITH next AS (
                SELECT id FROM majicflux_jobs
                WHERE status = 'queued' AND (model IS NULL OR model = \(model)) AND loras <@ \(loras)::text[]
                    AND (spec::jsonb -> 'parameters' ->> 'batch_group') = \(group)
                ORDER BY seq LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE majicflux_jobs j SET status = 'running', worker_id = \(workerID),
                lease_until = now() + make_interval(secs => \(leaseSeconds)), attempts = j.attempts + 1,
                started = now(), stage = 'starting', step = 0, eta = NULL, preview = NULL, preview_step = NULL
            FROM next WHERE j.id = next.id
            RETURNING j.id, j.attempts, j.seq
            """, "claiming the jobs of batch \(group)")
        var claims: [(seq: Int, claim: PostgresClaim)] = []
        for row in rows {
            let (id, attempt, seq) = try row.decode((String, Int, Int).self)
            guard let job = try await jobRecord(id) else { continue }
            claims.append((seq, PostgresClaim(job: job, attempt: attempt, inputs: try await inputs(ofJob: id))))
        }
        return claims.sorted { $0.seq < $1.seq }.map(\.claim)
    }

    /// Renews the lease of a job this worker runs and records its progress (nil: none; a `preview` of
    /// nil keeps the last one). Tells whether cancel was asked, or whether the lease was lost (the job expired
    /// and went back to the queue, or was finished by someone else): then stop without completing.
    func heartbeat(jobID: String, workerID: String, attempt: Int?, progress: PostgresProgress?) async throws -> PostgresHeartbeatAnswer {
        // nil: renew the lease only.
        let has = progress != nil
        let p = progress ?? PostgresProgress()
        let rows = try await run("""
            WITH w AS (
                UPDATE majicflux_workers SET state = 'busy', job_id = \(jobID), last_seen = now() WHERE id = \(workerID)
            )
            UPDATE majicflux_jobs SET lease_until = now() + make_interval(secs => \(leaseSeconds)),
                stage = CASE WHEN \(has) THEN \(p.stage) ELSE stage END,
                step = CASE WHEN \(has) THEN \(p.step) ELSE step END,
                eta = CASE WHEN \(has) THEN \(p.eta) ELSE eta END,
                preview = COALESCE(\(p.preview), preview), preview_step = COALESCE(\(p.previewStep), preview_step)
            WHERE id = \(jobID) AND worker_id = \(workerID) AND (\(attempt)::int8 IS NULL OR attempts = \(attempt)) AND status = 'running'
            RETURNING cancel_requested
            """, "renewing the lease of job \(jobID)")
        guard let row = rows.first else { return PostgresHeartbeatAnswer(cancelRequested: false, leaseLost: true) }
        return PostgresHeartbeatAnswer(cancelRequested: try row.decode(Bool.self), leaseLost: false)
    }

    /// What `complete` stores: the history entry's file name and JSON, made once the picture's
    /// number is known, and the input pictures kept with it (file name, PNG).
    struct Result: Sendable {
        var file: String
        var entry: String
        var png: Data
        var inputFiles: [(name: String, png: Data)] = []
    }

    /// Stores the picture and its history entry and marks the job done, in one transaction, only if
    /// this worker still holds this attempt (else `PostgresStoreRefusal`-free `false`: the result is
    /// dropped, the job was re-queued or finished elsewhere). `make` gets the picture's number.
    @discardableResult
    func complete(jobID: String, workerID: String, attempt: Int?,
                  make: @escaping @Sendable (_ number: Int, _ created: Date) throws -> Result) async throws -> PostgresHistoryRecord? {
        try await transaction("storing the picture of job \(jobID)") { [logger] c in
            let held = try await c.query("""
                SELECT 1 FROM majicflux_jobs
                WHERE id = \(jobID) AND worker_id = \(workerID) AND (\(attempt)::int8 IS NULL OR attempts = \(attempt)) AND status = 'running'
                FOR UPDATE
                """, logger: logger).collect()
            guard !held.isEmpty else { return nil }
            var number = 0
            for try await n in try await c.query("SELECT nextval(pg_get_serial_sequence('majicflux_history', 'number'))::int8",
                                                 logger: logger).decode(Int.self) { number = n }
            let created = Date()
            let result = try make(number, created)
            _ = try await c.query("""
                INSERT INTO majicflux_history (number, file, job_id, created, entry, png)
                VALUES (\(number), \(result.file), \(jobID), \(created), \(result.entry), \(result.png))
                """, logger: logger).collect()
            for input in result.inputFiles {
                _ = try await c.query("""
                    INSERT INTO majicflux_history_files (file, number, png) VALUES (\(input.name), \(number), \(input.png))
                    """, logger: logger).collect()
            }
            _ = try await c.query("""
                UPDATE majicflux_jobs SET status = 'done', finished = now(), result_file = \(result.file), error = NULL,
                    lease_until = NULL, stage = NULL, eta = NULL, preview = NULL, preview_step = NULL
                WHERE id = \(jobID)
                """, logger: logger).collect()
            _ = try await c.query("UPDATE majicflux_workers SET state = 'idle', job_id = NULL, last_seen = now() WHERE id = \(workerID)",
                              logger: logger).collect()
            return PostgresHistoryRecord(number: number, file: result.file, jobID: jobID, created: created, entry: result.entry)
        }
    }

    /// Ends an attempt that failed: the job goes back to the queue while it has attempts left and
    /// `retry` is true (and nobody asked to cancel it), else it fails with `error`. Returns the new
    /// status, nil when this worker no longer held the attempt.
    @discardableResult
    func fail(jobID: String, workerID: String, attempt: Int?, error: String, retry: Bool = true) async throws -> String? {
        let rows = try await run("""
            WITH w AS (
                UPDATE majicflux_workers SET state = 'idle', job_id = NULL, last_seen = now() WHERE id = \(workerID)
            )
            UPDATE majicflux_jobs SET
                status = CASE WHEN cancel_requested THEN 'cancelled'
                              WHEN \(retry) AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                error = CASE WHEN cancel_requested THEN 'cancelled' ELSE \(error) END,
                finished = CASE WHEN cancel_requested OR NOT (\(retry) AND attempts < max_attempts) THEN now() END,
                worker_id = CASE WHEN \(retry) AND attempts < max_attempts AND NOT cancel_requested THEN NULL ELSE worker_id END,
                lease_until = NULL, stage = NULL, step = 0, eta = NULL, preview = NULL, preview_step = NULL
            WHERE id = \(jobID) AND worker_id = \(workerID) AND (\(attempt)::int8 IS NULL OR attempts = \(attempt)) AND status = 'running'
            RETURNING status
            """, "recording the failure of job \(jobID)")
        return try rows.first.map { try $0.decode(String.self) }
    }

    /// Ends an attempt its worker stopped because cancel was asked (or its server stopped).
    @discardableResult
    func finishCancelled(jobID: String, workerID: String, attempt: Int?, reason: String = "cancelled") async throws -> Bool {
        let rows = try await run("""
            WITH w AS (
                UPDATE majicflux_workers SET state = 'idle', job_id = NULL, last_seen = now() WHERE id = \(workerID)
            )
            UPDATE majicflux_jobs SET status = 'cancelled', error = \(reason), finished = now(),
                lease_until = NULL, stage = NULL, eta = NULL, preview = NULL, preview_step = NULL
            WHERE id = \(jobID) AND worker_id = \(workerID) AND (\(attempt)::int8 IS NULL OR attempts = \(attempt)) AND status = 'running'
            RETURNING id
            """, "recording the cancel of job \(jobID)")
        return !rows.isEmpty
    }

    /// Hands a held job back to the queue without counting the attempt (its worker is stopping).
    @discardableResult
    func releaseJob(jobID: String, workerID: String) async throws -> Bool {
        let rows = try await run("""
            WITH w AS (
                UPDATE majicflux_workers SET job_id = NULL, last_seen = now() WHERE id = \(workerID)
            )
            UPDATE majicflux_jobs SET status = 'queued', attempts = GREATEST(0, attempts - 1), worker_id = NULL,
                lease_until = NULL, stage = NULL, step = 0, eta = NULL, preview = NULL, preview_step = NULL
            WHERE id = \(jobID) AND worker_id = \(workerID) AND status = 'running'
            RETURNING id
            """, "handing job \(jobID) back to the queue")
        return !rows.isEmpty
    }

    /// Puts back in the queue every running job whose lease ran out (its worker died or hangs),
    /// or fails it when it has used all its attempts, or cancels it when cancel was asked; marks
    /// workers silent for three leases as `stopped`. Any process may call it; returns the jobs changed
    /// with their new status.
    @discardableResult
    func sweepExpiredLeases() async throws -> [(id: String, status: String)] {
        let rows = try await run("""
            UPDATE majicflux_jobs SET
                status = CASE WHEN cancel_requested THEN 'cancelled'
                              WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
                error = CASE WHEN cancel_requested THEN 'cancelled'
                             WHEN attempts >= max_attempts THEN
                                 format('failed %s times: its worker (%s) stopped answering (lease expired)%s', attempts,
                                        COALESCE(worker_id, '?'), COALESCE('; before: ' || error, ''))
                             ELSE format('attempt %s: its worker (%s) stopped answering; queued again', attempts, COALESCE(worker_id, '?')) END,
                finished = CASE WHEN cancel_requested OR attempts >= max_attempts THEN now() END,
                worker_id = CASE WHEN cancel_requested OR attempts >= max_attempts THEN worker_id END,
                lease_until = NULL, stage = NULL, step = 0, eta = NULL, preview = NULL, preview_step = NULL
            WHERE status = 'running' AND lease_until < now()
            RETURNING id, status
            """, "re-queueing jobs whose lease expired")
        try await run("""
            UPDATE majicflux_workers SET state = 'stopped', job_id = NULL, message = 'stopped answering'
            WHERE state <> 'stopped' AND last_seen < now() - make_interval(secs => \(leaseSeconds * 3))
            """, "marking silent workers")
        // Workers silent for an hour are gone for good (a killed one stayed in the list forever, and a
        // restarted one under the same name showed twice).
        try await run("""
            DELETE FROM majicflux_workers WHERE last_seen < now() - make_interval(secs => \(max(3600, leaseSeconds * 10)))
            """, "removing long-silent workers")
        return try rows.map { try $0.decode((String, String).self) }.map { (id: $0.0, status: $0.1) }
    }

    /// Waits until a job may be waiting: a `job_queued` notification after `ticket`
    /// (`notifications.queuedTicket`, read before the last claim), or `pollSeconds`.
    func waitForWork(after ticket: UInt64) async {
        await notifications.waitForQueued(after: ticket, timeout: pollSeconds)
    }
}
