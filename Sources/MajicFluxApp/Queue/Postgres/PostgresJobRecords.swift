import Foundation
import PostgresNIO

/// A job to insert (`PostgresJobStore.enqueue`).
struct PostgresNewJob: Sendable {
    var id: String
    var spec: String
    var model: String?
    var loras: [String]
    var totalSteps: Int
    var inputs: [String: Data] = [:]
    var maxAttempts: Int?
    var created = Date()
}

/// A job as `majicflux_jobs` holds it, with its place in the queue.
struct PostgresJobRecord: Sendable, Equatable {
    var id: String
    /// "queued", "running", "done", "failed" or "cancelled".
    var status: String
    /// The job's description as the front end wrote it (JSON); the store never reads it.
    var spec: String
    /// The model a worker must hold to run it; nil: any.
    var model: String?
    /// The LoRAs a worker must have.
    var loras: [String]
    var totalSteps: Int
    var created: Date
    var started: Date?
    var finished: Date?
    /// Seconds it has run (until now, or until it finished).
    var elapsed: Double?
    var workerID: String?
    /// The name the worker registered with.
    var workerName: String?
    var attempts: Int
    var maxAttempts: Int
    var cancelRequested: Bool
    var stage: String?
    var step: Int
    var eta: Double?
    var preview: String?
    var previewStep: Int?
    var error: String?
    /// The history picture it made (`NNNNN-SEED.png`), once done.
    var resultFile: String?
    /// Unix time the running job's lease ends.
    var leaseUntil: Double?
    /// The history entry (JSON) of its picture, once done and while the picture is kept.
    var historyEntry: String?
    /// While queued: how many queued jobs are ahead of it (0 = the next to be claimed).
    var queuedAhead: Int?

    var isFinished: Bool { status == "done" || status == "failed" || status == "cancelled" }

    /// The columns `init(row:)` reads, for `SELECT ... FROM majicflux_jobs j`.
    static let columns = """
        j.id, j.status, j.spec, j.model, j.loras, j.total_steps, j.created, j.started, j.finished,
        EXTRACT(EPOCH FROM (COALESCE(j.finished, now()) - j.started))::float8 AS elapsed,
        j.worker_id, (SELECT w.name FROM majicflux_workers w WHERE w.id = j.worker_id) AS worker_name,
        j.attempts, j.max_attempts, j.cancel_requested, j.stage, j.step, j.eta, j.preview, j.preview_step,
        j.error, j.result_file, EXTRACT(EPOCH FROM j.lease_until)::float8 AS lease_until,
        (SELECT h.entry FROM majicflux_history h WHERE h.file = j.result_file) AS history_entry,
        CASE WHEN j.status = 'queued' THEN
            (SELECT count(*) FROM majicflux_jobs q WHERE q.status = 'queued' AND q.seq < j.seq)
        END AS queued_ahead
        """

    init(row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        id = try r["id"].decode(String.self)
        status = try r["status"].decode(String.self)
        spec = try r["spec"].decode(String.self)
        model = try r["model"].decode(String?.self)
        loras = try r["loras"].decode([String].self)
        totalSteps = try r["total_steps"].decode(Int.self)
        created = try r["created"].decode(Date.self)
        started = try r["started"].decode(Date?.self)
        finished = try r["finished"].decode(Date?.self)
        elapsed = try r["elapsed"].decode(Double?.self)
        workerID = try r["worker_id"].decode(String?.self)
        workerName = try r["worker_name"].decode(String?.self)
        attempts = try r["attempts"].decode(Int.self)
        maxAttempts = try r["max_attempts"].decode(Int.self)
        cancelRequested = try r["cancel_requested"].decode(Bool.self)
        stage = try r["stage"].decode(String?.self)
        step = try r["step"].decode(Int.self)
        eta = try r["eta"].decode(Double?.self)
        preview = try r["preview"].decode(String?.self)
        previewStep = try r["preview_step"].decode(Int?.self)
        error = try r["error"].decode(String?.self)
        resultFile = try r["result_file"].decode(String?.self)
        leaseUntil = try r["lease_until"].decode(Double?.self)
        historyEntry = try r["history_entry"].decode(String?.self)
        queuedAhead = try r["queued_ahead"].decode(Int?.self)
    }
}

/// A worker as `majicflux_workers` holds it.
struct PostgresWorkerRecord: Sendable, Equatable {
    var id: String
    var name: String
    /// "cpu", "cuda:0", ...
    var device: String
    var model: String?
    var loras: [String]
    /// "loading", "idle", "busy", "failed", "stopped" (`WorkerRecord.State`).
    var state: String
    var jobID: String?
    var message: String?
    var started: Date
    var lastSeen: Date
    /// Seconds since it was last heard from (by the database's clock).
    var silentFor: Double

    static let columns = "id, name, device, model, loras, state, job_id, message, started, last_seen, EXTRACT(EPOCH FROM (now() - last_seen))::float8 AS silent_for"

    init(id: String, name: String, device: String, model: String?, loras: [String], state: String,
         jobID: String? = nil, message: String? = nil, started: Date = Date(), lastSeen: Date = Date(), silentFor: Double = 0) {
        self.id = id; self.name = name; self.device = device; self.model = model; self.loras = loras
        self.state = state; self.jobID = jobID; self.message = message; self.started = started; self.lastSeen = lastSeen; self.silentFor = silentFor
    }

    init(row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        id = try r["id"].decode(String.self)
        name = try r["name"].decode(String.self)
        device = try r["device"].decode(String.self)
        model = try r["model"].decode(String?.self)
        loras = try r["loras"].decode([String].self)
        state = try r["state"].decode(String.self)
        jobID = try r["job_id"].decode(String?.self)
        message = try r["message"].decode(String?.self)
        started = try r["started"].decode(Date.self)
        lastSeen = try r["last_seen"].decode(Date.self)
        silentFor = try r["silent_for"].decode(Double.self)
    }
}

/// A job a worker has claimed: what to run, and the attempt its heartbeats and result must name
/// (a worker whose lease was lost and re-granted to another cannot finish the job twice).
struct PostgresClaim: Sendable {
    var job: PostgresJobRecord
    var attempt: Int
    /// The input pictures, PNG bytes by role ("image", "mask", "control", "reference").
    var inputs: [String: Data]
}

/// What a worker reports with each heartbeat.
struct PostgresProgress: Sendable, Equatable {
    var stage: String?
    var step: Int = 0
    var eta: Double?
    /// A small data URL of the current estimate, and its step.
    var preview: String?
    var previewStep: Int?
}

/// The answer to a heartbeat.
struct PostgresHeartbeatAnswer: Sendable, Equatable {
    /// Someone asked to cancel the job: stop at the next step.
    var cancelRequested: Bool
    /// The lease expired and the job went back to the queue (or elsewhere): stop, do not complete.
    var leaseLost: Bool
}

/// A finished picture of the history: its entry (JSON, as the front end shows it) and file name.
struct PostgresHistoryRecord: Sendable, Equatable {
    var number: Int
    var file: String
    var jobID: String
    var created: Date
    var entry: String
}
