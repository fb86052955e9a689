import Foundation

/// The durable record of a console's jobs, their input pictures, the history (finished pictures
/// and their entries), the workers and a few settings (issue 19). Two implementations:
/// `SQLiteJobStore` (embedded, the default: `<output-dir>/majicflux.sqlite`) and `PostgresJobStore`
/// (`--queue postgres://...`: any number of front ends and workers on any machines).
///
/// Semantics both keep:
/// - **Run order.** Queued jobs run in the order they were enqueued (a re-queued job keeps its
///   place). `activeJobs()` lists the running jobs, then the queued ones in run order.
/// - **Claim.** `claim(worker:)` takes the first queued job the worker can run
///   (`JobRequirements.canRun(on:)`), atomically: no two workers ever hold the same job. It becomes
///   `running` with `workerID` set, `attempts` + 1 and a lease of `leaseSeconds`.
/// - **Lease.** A worker calls `heartbeat` at least every ~1 s while it runs a job (the worker loop
///   also calls it on every step); each call renews the lease and records the progress. A job whose
///   lease has expired (its worker died) is put back in the queue by `requeueExpired()`, which any
///   front end or worker calls now and then; after `maxAttempts` attempts it is failed instead, with
///   its last error. A worker whose lease was lost (`LeaseState.leaseLost`, or `notHeld` from
///   `complete`/`fail`) stops and discards its work: another worker owns the job now, so every job
///   finishes exactly once.
/// - **Cancel.** `requestCancel` ends a queued job at once; a running job gets `cancelRequested`,
///   which its worker sees at its next heartbeat (so cancel works across processes) and then reports
///   with `cancelled(jobID:workerID:reason:)`.
/// - **Finish.** `complete` stores the picture, its input pictures and its history entry and marks
///   the job `done`, all or nothing: a crash at any moment leaves either no trace or the whole picture.
///   `fail(..., retry: true)` puts the job back in the queue while attempts remain; `retry: false`
///   (a bad request: retrying cannot help) fails it at once.
/// - **Changes.** `changes()` reports every job and worker whose record changed (in this process for
///   the embedded store, through LISTEN/NOTIFY for PostgreSQL). Consumers reload what they need; the
///   stream may coalesce or, for a remote store, drop notices, so they also re-read now and then.
///
/// Errors are `JobStoreError` (and whatever the database's client throws for a lost connection).
/// Every method is safe to call from any task.
///
/// Stability: the `pgqueue` branch implements this protocol; change it additively only.
protocol JobStore: Sendable {
    /// "sqlite" or "postgres": for logs and `/api/status`.
    var kind: String { get }
    /// Where it keeps its data, for messages (a file path; a connection string without its password).
    var location: String { get }
    /// Seconds a claim or heartbeat holds a job.
    var leaseSeconds: Double { get }

    // MARK: Front end

    /// Adds a job to the queue; throws `queueFull` when `maxQueued` jobs already wait.
    func enqueue(_ job: NewJob, maxQueued: Int) async throws -> StoredJob
    /// Adds jobs to the queue all at once, in order (a batch group: no worker claims part of it
    /// before the rest is there); throws `queueFull`, adding none, when they do not all fit under
    /// `maxQueued`.
    func enqueueGroup(_ jobs: [NewJob], maxQueued: Int) async throws -> [StoredJob]
    /// One job's record; nil for an unknown (or pruned) id.
    func job(_ id: String) async throws -> StoredJob?
    /// The running jobs (oldest start first), then the queued ones in run order.
    func activeJobs() async throws -> [StoredJob]
    /// A queued job ends `cancelled` at once; a running one gets `cancelRequested`. Throws
    /// `notFound`, or `alreadyFinished` for a finished job. Returns the record after the change.
    func requestCancel(_ id: String) async throws -> StoredJob
    /// Forgets finished jobs' records (not their pictures: the history keeps those), all but the
    /// `keep` newest.
    func pruneFinished(keep: Int) async throws

    // MARK: History

    /// Every finished picture, newest first.
    func history() async throws -> [HistoryEntry]
    /// The entry whose picture has this file name.
    func historyEntry(file: String) async throws -> HistoryEntry?
    /// The PNG bytes of a listed picture or of one of its input pictures; `notFound` otherwise.
    func picture(file: String) async throws -> Data
    /// Removes a picture, its input pictures and its entry; returns the entry. `notFound` when none.
    func deleteHistory(file: String) async throws -> HistoryEntry

    // MARK: Settings

    /// A stored setting (the console's options), nil when never set.
    func setting(_ key: String) async throws -> String?
    /// Stores a setting; nil removes it.
    func setSetting(_ key: String, _ value: String?) async throws

    // MARK: Workers

    /// Adds or updates a worker's record (`lastSeen` is set by the store).
    func register(_ worker: WorkerRecord) async throws
    /// Every known worker, by id.
    func workers() async throws -> [WorkerRecord]
    /// Forgets a worker (it stopped).
    func removeWorker(_ id: String) async throws
    /// Takes the next queued job `worker` can run (see the protocol's doc); nil when there is none.
    func claim(worker: WorkerRecord) async throws -> ClaimedJob?
    /// `claim`, then, when that job belongs to a batch group (`JobParameters.batch_group`), up to
    /// `limit` - 1 more queued jobs of its group that `worker` can run, in run order, each claimed as
    /// `claim` claims one (its own lease and attempt); empty when nothing is queued. Every claimed job
    /// still finishes on its own (`complete`, `fail`, ...).
    func claimBatch(worker: WorkerRecord, limit: Int) async throws -> [ClaimedJob]
    /// Renews the lease of a job the worker holds and records its progress (nil: unchanged).
    /// Never throws for a lost lease: says so in the answer.
    func heartbeat(jobID: String, workerID: String, progress: JobProgress?) async throws -> LeaseState
    /// Stores the finished picture and marks the job `done` in one transaction; returns its history
    /// entry. `notHeld` when the worker no longer holds the job (nothing is stored).
    func complete(jobID: String, workerID: String, picture: FinishedPicture) async throws -> HistoryEntry
    /// The job failed with `error`: back to the queue when `retry` and attempts remain, else
    /// `failed`. Returns the job's new status; `notHeld` when the worker no longer holds it.
    func fail(jobID: String, workerID: String, error: String, retry: Bool) async throws -> JobStatus
    /// The worker stopped the job because it was asked to (or because its server is stopping):
    /// `cancelled` with `reason`. `notHeld` when the worker no longer holds it.
    func cancelled(jobID: String, workerID: String, reason: String) async throws
    /// Hands a held job back to the queue without counting the attempt (a worker stopping gracefully).
    func release(jobID: String, workerID: String) async throws
    /// Puts jobs whose lease has expired back in the queue (or fails them after `maxAttempts`);
    /// returns their ids.
    func requeueExpired() async throws -> [String]

    // MARK: Notification

    /// Every change from now on, as it is committed. Each call makes a new stream; it ends when the
    /// store closes or the consumer stops iterating.
    func changes() -> AsyncStream<StoreChange>
    /// Ends the change streams and releases what can be released; safe to call twice. Calls after
    /// it may throw `closed` (or still work: the embedded store keeps its file open until released).
    func close() async
}

extension JobStore {
    /// A store without group inserts adds the jobs one by one.
    func enqueueGroup(_ jobs: [NewJob], maxQueued: Int) async throws -> [StoredJob] {
        var stored: [StoredJob] = []
        for job in jobs { stored.append(try await enqueue(job, maxQueued: maxQueued)) }
        return stored
    }

    /// A store without batch claims takes one job at a time.
    func claimBatch(worker: WorkerRecord, limit: Int) async throws -> [ClaimedJob] {
        try await claim(worker: worker).map { [$0] } ?? []
    }
}

/// Where a job is in its life.
enum JobStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, done, failed, cancelled
    var isFinished: Bool { self == .done || self == .failed || self == .cancelled }
}

/// What a worker must hold to run a job: the model (by its served name; nil = any) and the LoRAs
/// (by their names in the LoRA folder).
struct JobRequirements: Codable, Sendable, Equatable {
    var model: String?
    var loras: [String] = []

    /// Whether `worker` holds everything the job needs.
    func canRun(on worker: WorkerRecord) -> Bool {
        (model == nil || model == worker.model) && Set(loras).isSubset(of: Set(worker.loras))
    }
}

/// An input picture of a job (`image`, `mask`, `control`, `reference`) as PNG bytes.
struct JobInputPicture: Sendable, Equatable {
    var role: String
    var png: [UInt8]
}

/// A job to enqueue.
struct NewJob: Sendable {
    /// 16 hex digits (`Job.makeID()`), chosen by the front end.
    var id: String
    /// What to make, with the seed actually used; LoRAs by name, the conditioning's options without pixels.
    var parameters: JobParameters
    var inputs: [JobInputPicture] = []
    var requirements: JobRequirements
    /// Runs before the job fails for good (a worker dying mid-job uses one).
    var maxAttempts: Int = 3
    /// Unix time of submission.
    var created: Double = Date().timeIntervalSince1970
}

/// What a worker reports while it runs a job.
struct JobProgress: Codable, Sendable, Equatable {
    /// "encoding text", "denoising", "decoding" or "saving".
    var stage: String
    /// Denoising steps finished.
    var step: Int
    var totalSteps: Int
    /// Seconds since the job started running on its worker.
    var elapsed: Double?
    /// Estimated seconds left.
    var eta: Double?
    /// The latest live preview (a small PNG data URL) and the step it shows.
    var preview: String?
    var previewStep: Int?
}

/// A job's durable record.
struct StoredJob: Sendable, Equatable {
    var id: String
    var parameters: JobParameters
    var requirements: JobRequirements
    var status: JobStatus
    /// Unix times: submitted, last started running, finished.
    var created: Double
    var started: Double?
    var finished: Double?
    /// Runs begun so far, and the most allowed.
    var attempts: Int
    var maxAttempts: Int
    /// The worker running it (while running), or the last that ran it.
    var workerID: String?
    /// Unix time the running job's lease ends.
    var leaseUntil: Double?
    /// The latest progress its worker reported (while running).
    var progress: JobProgress?
    var cancelRequested: Bool
    /// Why it failed or was cancelled (also the last error of a re-queued job).
    var error: String?
    /// When done: its picture.
    var history: HistoryEntry?
}

/// A claimed job with what its worker needs to run it.
struct ClaimedJob: Sendable {
    var job: StoredJob
    var inputs: [JobInputPicture]
}

/// Whether the worker may go on with a job.
struct LeaseState: Sendable, Equatable {
    /// Someone asked to cancel it: stop, then report `cancelled`.
    var cancelRequested: Bool
    /// The worker no longer holds the job (its lease expired and the job was re-queued or failed,
    /// or the job is gone): stop and report nothing.
    var leaseLost: Bool
}

/// What a worker is, holds and does.
struct WorkerRecord: Codable, Sendable, Equatable {
    enum State: String, Codable, Sendable {
        /// Loading its model; takes no jobs yet.
        case loading
        case idle
        case busy
        /// Its model could not be loaded (`message` says why); takes no jobs.
        case failed
        case stopped
    }

    /// Unique among the store's workers (host, process and device make one up).
    var id: String
    /// For people: "host cuda:0".
    var name: String
    /// "cpu", "cuda:0", ...
    var device: String
    /// The served name of the model it holds.
    var model: String
    /// The LoRAs it can apply, by name.
    var loras: [String] = []
    var state: State
    /// The job it runs (busy only).
    var jobID: String?
    /// Why it failed, or what it is doing ("loading model… (12s)").
    var message: String?
    /// Unix time it registered.
    var started: Double
    /// Unix time of its last register/heartbeat (set by the store).
    var lastSeen: Double
}

/// A finished picture for `JobStore.complete`: the store picks its file name (`fileName(number:)`)
/// and calls `materialize` to get the bytes to keep.
struct FinishedPicture: Sendable {
    /// The parameters it was made with (the conditioning's inputs not yet given files).
    var parameters: JobParameters
    var model: String
    /// Seconds the job ran.
    var seconds: Double
    var inputs: [JobInputPicture]
    /// The picture's PNG, its text chunks written from these parameters (input files named).
    var encode: @Sendable (JobParameters) throws -> [UInt8]

    /// `NNNNN-SEED.png` for picture number `number`.
    func fileName(number: Int) -> String { HistoryEntry.fileName(number: number, seed: parameters.seed) }

    /// The entry, the picture's bytes and its input pictures' bytes under their names
    /// (`NNNNN-SEED-image.png`, ...), for the picture stored as `file`.
    func materialize(file: String, jobID: String, created: Double) throws -> StoredPicture {
        var p = parameters
        var named: [(file: String, png: [UInt8])] = []
        for input in inputs {
            let name = HistoryEntry.inputFileName(file, role: input.role)
            p.conditioning?.inputs[input.role]?.file = name
            p.conditioning?.inputs[input.role]?.url = "/images/" + name
            named.append((name, input.png))
        }
        let entry = HistoryEntry(id: jobID, file: file, url: "/images/" + file, created: created,
                                 seconds: seconds, model: model, parameters: p)
        return StoredPicture(entry: entry, png: try encode(p), inputs: named)
    }
}

/// A picture as a store keeps it.
struct StoredPicture: Sendable {
    var entry: HistoryEntry
    var png: [UInt8]
    var inputs: [(file: String, png: [UInt8])]
}

/// One change `JobStore.changes()` reports.
enum StoreChange: Sendable, Equatable {
    /// A job's record changed (progress, status, cancel flag, ...).
    case job(String)
    /// A job entered the queue (new or re-queued): idle workers wake up. Also a `job` change.
    case jobQueued(String)
    case worker(String)
}

/// What a store refuses, with a message for people.
enum JobStoreError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case alreadyFinished(id: String, status: JobStatus)
    case queueFull(limit: Int)
    /// The worker does not hold this job (any more).
    case notHeld(jobID: String, workerID: String)
    /// The database file cannot be used; `advice` says what to do.
    case damaged(path: String, problem: String, advice: String)
    case closed
    case other(String)

    var description: String {
        switch self {
        case .notFound(let what): return what
        case .alreadyFinished(let id, let status): return "job \(id) has already finished (\(status.rawValue)); nothing to cancel"
        case .queueFull(let limit): return "the queue is full (\(limit) jobs waiting); try again later"
        case .notHeld(let job, let worker): return "worker \(worker) no longer holds job \(job) (its lease expired)"
        case .damaged(let path, let problem, let advice): return "the job database \(path) is damaged (\(problem)); \(advice)"
        case .closed: return "the job store is closed"
        case .other(let m): return m
        }
    }
}
