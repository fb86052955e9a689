import Foundation
import Models

/// The front end of the job store: what the API's job routes call. Jobs wait in the store in
/// submission order and run on whichever worker is idle (`GenerationWorker`, one per device, in this
/// process or, with PostgreSQL, anywhere); the others know their place.
///
/// Followers (the SSE streams) are fed from the store's `changes()`: on a change the queue reloads
/// the followed jobs and publishes what moved (status, position, progress, the end). Jobs running on
/// a worker of this process also report every step through `localProgress`, so a follower sees each
/// step and each preview even when steps come faster than the store's notices.
// unchecked: `followers`, `nextKey`, `stopping` and `tasks` are only touched under `lock`; the other fields are `let`s of Sendable types.
final class JobQueue: @unchecked Sendable {
    let store: any JobStore
    /// The model jobs submitted here need (workers advertise theirs).
    let model: String
    let maxQueued: Int
    /// Finished jobs remembered for `/api/jobs/ID` (their pictures stay in the history regardless).
    let keepFinished = 500
    /// Forget finished jobs of earlier runs at start (the embedded store: job ids do not outlive the
    /// server, as before; with a shared store other front ends still show them).
    let forgetFinishedOnStart: Bool

    private let lock = NSLock()
    private var followers: [String: Followed] = [:]
    private var nextKey = 0
    private var stopping = false
    private var tasks: [Task<Void, Never>] = []

    /// The streams following one job and what they were last sent.
    private final class Followed {
        var streams: [Int: AsyncStream<JobEvent>.Continuation] = [:]
        /// The last record loaded (local progress is applied to it).
        var job: StoredJob?
        var last: JobSnapshot?
        var previewStep = 0
    }

    init(store: any JobStore, model: String, maxQueued: Int, forgetFinishedOnStart: Bool) {
        self.store = store
        self.model = model
        self.maxQueued = maxQueued
        self.forgetFinishedOnStart = forgetFinishedOnStart
    }

    /// Starts following the store's changes and sweeping expired leases.
    func start() {
        let changes = store.changes()
        let listener = Task { [self] in
            for await change in changes {
                switch change {
                case .job, .jobQueued: await refreshFollowed()
                case .worker: break
                }
            }
        }
        let sweeper = Task { [self] in
            if forgetFinishedOnStart { try? await store.pruneFinished(keep: 0) }
            var rounds = 0
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(max(0.5, store.leaseSeconds / 4) * 1e9))
                if Task.isCancelled { break }
                _ = try? await store.requeueExpired()
                rounds += 1
                if rounds % 64 == 0 { try? await store.pruneFinished(keep: keepFinished) }
            }
        }
        // A safety net under the notices (a remote store may drop one; another process on the same
        // SQLite file sends none here): followed jobs are reloaded every second.
        let poller = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                if Task.isCancelled { break }
                await refreshFollowed()
            }
        }
        lock.withLock { tasks = [listener, sweeper, poller] }
    }

    /// The first half of stopping: no new jobs. The waiting ones stay queued in the store: they run
    /// after a restart (or, with a shared store, on the other workers), as after a crash.
    func beginStop() async {
        lock.withLock { stopping = true }
    }

    /// True once `beginStop` ran: the server is going down.
    var isStopping: Bool { lock.withLock { stopping } }

    /// The second half, once the workers have stopped: every follower gets its job's last state and
    /// its stream ends.
    func finishStop() async {
        await refreshFollowed()
        let (rest, tasks) = lock.withLock { () -> ([Followed], [Task<Void, Never>]) in
            defer {
                followers.removeAll()
                self.tasks.removeAll()
            }
            return (Array(followers.values), self.tasks)
        }
        for f in rest { for c in f.streams.values { c.finish() } }
        for t in tasks { t.cancel() }
    }

    // MARK: API

    func submit(_ request: GenerationRequest) async throws -> JobSnapshot {
        try await submit(batch: [request])[0]
    }

    /// Queues one job per request, all at once. Requests that differ only in their seeds (at most
    /// `GenerationLimits.batch.upperBound`) form a batch group that a worker makes in one pass
    /// (`JobParameters.batch_group`); other lists are queued as separate jobs, still all or none.
    func submit(batch requests: [GenerationRequest]) async throws -> [JobSnapshot] {
        try await submit(batches: [requests])
    }

    /// `submit(batch:)` for several batches (an A1111 request's `n_iter` batches), all queued in
    /// one go or none (429 when they do not all fit).
    func submit(batches: [[GenerationRequest]]) async throws -> [JobSnapshot] {
        if lock.withLock({ stopping }) { throw APIError(.serviceUnavailable, "the server is stopping") }
        var jobs: [NewJob] = []
        for requests in batches {
            let grouped = requests.count > 1 && requests.count <= GenerationLimits.batch.upperBound
                && requests.allSatisfy { $0.differsOnlyInSeed(from: requests[0]) }
            let group = grouped ? Job.makeID() : nil
            for request in requests {
                var job = try StoredJobRequest.newJob(id: Job.makeID(), request: request, model: model)
                job.parameters.batch_group = group
                jobs.append(job)
            }
        }
        let stored = try await mapped { try await store.enqueueGroup(jobs, maxQueued: maxQueued) }
        var snapshots: [JobSnapshot] = []
        for s in stored { snapshots.append(try await withPosition(s)) }
        return snapshots
    }

    func snapshot(_ id: String) async throws -> JobSnapshot {
        try await withPosition(try await required(id))
    }

    /// Jobs running or waiting, in the order they run (running first).
    func active() async throws -> [JobSnapshot] {
        let jobs = try await mapped { try await store.activeJobs() }
        let running = jobs.filter { $0.status == .running }.count
        var ahead = running
        return jobs.map { j in
            guard j.status == .queued else { return Job.snapshot(j, position: nil) }
            defer { ahead += 1 }
            return Job.snapshot(j, position: ahead)
        }
    }

    /// A waiting job ends at once; a running one stops at its worker's next step or heartbeat.
    func cancel(_ id: String) async throws -> JobSnapshot {
        let job = try await mapped { try await store.requestCancel(id) }
        return try await withPosition(job)
    }

    /// A stream of the job's events: its state now (and last preview), then every change, ending
    /// with `.end`. Unknown ids throw 404.
    func follow(_ id: String) async throws -> AsyncStream<JobEvent> {
        let job = try await required(id)
        let now = try await withPosition(job)
        let (stream, continuation) = AsyncStream<JobEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
        if job.status.isFinished {
            continuation.yield(.end(now))
            continuation.finish()
            return stream
        }
        lock.withLock {
            let f = followers[id] ?? Followed()
            f.streams[nextKey] = continuation
            nextKey += 1
            followers[id] = f
            // A new follower starts from the job's state now, whatever the others were sent.
            continuation.yield(.progress(f.last ?? now))
            if let p = (f.job ?? job).progress, let preview = p.preview, let step = p.previewStep {
                continuation.yield(.preview(step: step, dataURL: preview))
            }
            if f.job == nil { f.job = job }
        }
        // A change between the load above and the registration would otherwise be missed.
        await refreshFollowed()
        return stream
    }

    /// Id of a running job (the oldest) and the number waiting, for `/api/status`.
    func counts() async -> (running: String?, waiting: Int) {
        let jobs = (try? await store.activeJobs()) ?? []
        return (jobs.first { $0.status == .running }?.id, jobs.filter { $0.status == .queued }.count)
    }

    // MARK: Events

    /// A worker of this process reports a step of a job (generation thread; must not wait).
    func localProgress(_ id: String, _ progress: JobProgress) {
        lock.withLock {
            guard let f = followers[id], var job = f.job, !job.status.isFinished else { return }
            job.status = .running
            job.progress = progress
            f.job = job
            publishLocked(f, Job.snapshot(job, position: nil), preview: progress)
        }
    }

    /// Reloads every followed job and publishes what changed.
    private func refreshFollowed() async {
        let ids = lock.withLock { Array(followers.keys) }
        guard !ids.isEmpty, let active = try? await store.activeJobs() else { return }
        let running = active.filter { $0.status == .running }.count
        var positions: [String: Int] = [:]
        for (i, j) in active.filter({ $0.status == .queued }).enumerated() { positions[j.id] = running + i }
        var loaded: [String: StoredJob] = [:]
        for j in active where ids.contains(j.id) { loaded[j.id] = j }
        for id in ids where loaded[id] == nil {
            if let j = try? await store.job(id) { loaded[id] = j }
        }
        lock.withLock {
            for (id, job) in loaded {
                guard let f = followers[id] else { continue }
                // Local progress may be ahead of the store's copy: never step back.
                if job.status == .running, let known = f.job, known.status == .running,
                   let mine = known.progress, let theirs = job.progress, Self.rank(mine) > Self.rank(theirs) {
                    continue
                }
                f.job = job
                publishLocked(f, Job.snapshot(job, position: positions[id]), preview: job.progress)
                if job.status.isFinished { followers[id] = nil }
            }
        }
    }

    /// Sends `snapshot` (unless it says nothing new) and a newer preview to every stream of `f`;
    /// the end finishes them.
    private func publishLocked(_ f: Followed, _ snapshot: JobSnapshot, preview: JobProgress?) {
        if snapshot.isFinished {
            for c in f.streams.values {
                c.yield(.end(snapshot))
                c.finish()
            }
            f.streams.removeAll()
            return
        }
        if let p = preview, let url = p.preview, let step = p.previewStep, step > f.previewStep {
            f.previewStep = step
            send(f, .preview(step: step, dataURL: url))
        }
        if let last = f.last, Self.sameState(last, snapshot) { return }
        f.last = snapshot
        send(f, .progress(snapshot))
    }

    private func send(_ f: Followed, _ event: JobEvent) {
        var gone: [Int] = []
        for (key, c) in f.streams {
            if case .terminated = c.yield(event) { gone.append(key) }  // the client went away
        }
        for key in gone { f.streams[key] = nil }
    }

    /// How far a run has got: its stage, then its step.
    private static func rank(_ p: JobProgress) -> Int {
        let stages = ["encoding text", "denoising", "decoding", "saving"]
        return (stages.firstIndex(of: p.stage) ?? 0) * 1_000_000 + p.step
    }

    private static func sameState(_ a: JobSnapshot, _ b: JobSnapshot) -> Bool {
        a.status == b.status && a.position == b.position && a.stage == b.stage && a.step == b.step && a.worker == b.worker
    }

    // MARK: Helpers

    private func required(_ id: String) async throws -> StoredJob {
        guard let job = try await mapped({ try await store.job(id) }) else {
            throw APIError.notFound("unknown job id \"\(id.prefix(64))\" (finished jobs are forgotten when the server restarts; the history keeps the pictures)")
        }
        return job
    }

    /// The snapshot with the job's place in the queue.
    private func withPosition(_ job: StoredJob) async throws -> JobSnapshot {
        guard job.status == .queued else { return Job.snapshot(job, position: nil) }
        let active = try await mapped { try await store.activeJobs() }
        let running = active.filter { $0.status == .running }.count
        let ahead = active.filter { $0.status == .queued }.firstIndex { $0.id == job.id } ?? 0
        return Job.snapshot(job, position: running + ahead)
    }

    /// The store's refusals as API errors.
    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as JobStoreError {
            switch e {
            case .notFound(let m): throw APIError.notFound(m)
            case .alreadyFinished: throw APIError(.conflict, e.description)
            case .queueFull: throw APIError(.tooManyRequests, e.description)
            default: throw APIError(.serviceUnavailable, "the job store failed: \(e)")
            }
        } catch let e as APIError {
            throw e
        } catch {
            throw APIError(.serviceUnavailable, "the job store failed: \(error)")
        }
    }
}
