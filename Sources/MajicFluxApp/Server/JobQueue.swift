import Foundation
import Models

/// Jobs in submission order, run one at a time by a worker task (the device does one picture at a
/// time; the model host runs it off the cooperative pool); the others wait and know their place.
/// Followers get every change as events.
// unchecked: every `var` is only touched under `cond` (NSCondition); the other fields are `let`s of Sendable types.
final class JobQueue: @unchecked Sendable {
    private let cond = NSCondition()
    private var jobs: [String: Job] = [:]
    private var finishedOrder: [String] = []
    private var waiting: [Job] = []
    private var running: Job?
    private var stopping = false
    private var worker: Task<Void, Never>?
    /// The idle worker waiting for a job or `stop()`.
    private var wakeWorker: CheckedContinuation<Void, Never>?

    let host: ModelHost
    let history: HistoryStore
    let maxQueued: Int
    /// Finished jobs remembered for `/api/jobs/ID` (their pictures stay in the history regardless).
    let keepFinished = 500

    init(host: ModelHost, history: HistoryStore, maxQueued: Int) {
        self.host = host
        self.history = history
        self.maxQueued = maxQueued
    }

    /// Starts the worker: it loads the model, then runs jobs until `stop()`.
    func start() {
        let task = Task { [self] in
            await host.load()
            while let job = await nextJob() { await run(job) }
        }
        cond.withLock { worker = task }
    }

    /// Cancels the running job and every waiting one, then waits for the worker to end.
    func stop() async {
        let worker = cond.withLock { () -> Task<Void, Never>? in
            if stopping { return nil }
            stopping = true
            running?.cancelRequested = true
            for job in waiting { finishLocked(job, .cancelled, error: "the server stopped") }
            waiting.removeAll()
            wakeLocked()
            return self.worker
        }
        // A model still loading cannot be interrupted; the worker ends once it has loaded.
        guard let worker, await !host.isLoading else { return }
        await worker.value
    }

    // MARK: API

    func submit(_ request: GenerationRequest) throws -> JobSnapshot {
        try cond.withLock {
            if stopping { throw APIError(.serviceUnavailable, "the server is stopping") }
            if waiting.count >= maxQueued {
                throw APIError(.tooManyRequests, "the queue is full (\(maxQueued) jobs waiting); try again later")
            }
            let job = Job(id: Job.makeID(), request: request)
            jobs[job.id] = job
            waiting.append(job)
            wakeLocked()
            return job.snapshot(position: positionLocked(job))
        }
    }

    func snapshot(_ id: String) throws -> JobSnapshot {
        try cond.withLock {
            let job = try jobLocked(id)
            return job.snapshot(position: positionLocked(job))
        }
    }

    /// Jobs running or waiting, in the order they will run.
    func active() -> [JobSnapshot] {
        cond.withLock { ([running].compactMap { $0 } + waiting).map { $0.snapshot(position: positionLocked($0)) } }
    }

    /// A waiting job ends at once; the running one stops at its next step.
    func cancel(_ id: String) throws -> JobSnapshot {
        try cond.withLock {
            let job = try jobLocked(id)
            if job.isFinished {
                throw APIError(.conflict, "job \(id) has already finished (\(job.status.rawValue)); nothing to cancel")
            }
            if job.status == .queued {
                waiting.removeAll { $0 === job }
                finishLocked(job, .cancelled, error: "cancelled")
                publishPositionsLocked()
            } else {
                job.cancelRequested = true
            }
            return job.snapshot(position: positionLocked(job))
        }
    }

    /// A stream of the job's events: its state now (and last preview), then every change, ending
    /// with `.end`. Unknown ids throw 404.
    func follow(_ id: String) throws -> AsyncStream<JobEvent> {
        try cond.withLock {
            let job = try jobLocked(id)
            let (stream, continuation) = AsyncStream<JobEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
            let now = job.snapshot(position: positionLocked(job))
            if job.isFinished {
                continuation.yield(.end(now))
                continuation.finish()
            } else {
                continuation.yield(.progress(now))
                if let p = job.preview { continuation.yield(.preview(step: p.step, dataURL: p.dataURL)) }
                job.followers[job.nextFollower] = continuation
                job.nextFollower += 1
            }
            return stream
        }
    }

    var counts: (running: String?, waiting: Int) { cond.withLock { (running?.id, waiting.count) } }

    // MARK: Worker

    /// The next job, marked running; nil once stopping. Waits (without a thread) while none is queued.
    private func nextJob() async -> Job? {
        while true {
            let next = cond.withLock { () -> Job?? in
                if stopping { return .some(nil) }
                if waiting.isEmpty { return nil }
                let job = waiting.removeFirst()
                running = job
                job.status = .running
                job.stage = "encoding text"
                job.started = ProcessInfo.processInfo.systemUptime
                job.publish(.progress(job.snapshot(position: nil)))
                publishPositionsLocked()
                return job
            }
            if let next { return next }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                cond.withLock {
                    if stopping || !waiting.isEmpty { c.resume() } else { wakeWorker = c }
                }
            }
        }
    }

    /// Resumes the idle worker (a job was queued, or the queue stops).
    private func wakeLocked() {
        wakeWorker?.resume()
        wakeWorker = nil
    }

    private func run(_ job: Job) async {
        let start = ProcessInfo.processInfo.systemUptime
        do {
            let image = try await host.generate(job.request) { self.progress(job, $0) }
            cond.withLock {
                job.stage = "saving"
                job.publish(.progress(job.snapshot(position: nil)))
            }
            let entry = try history.add(image, jobID: job.id, model: host.name,
                                        seconds: ProcessInfo.processInfo.systemUptime - start,
                                        conditioning: job.request.conditioning, kind: host.preset.conditioning)
            cond.withLock {
                job.history = entry
                finishLocked(job, .done, error: nil)
            }
        } catch ModelError.cancelled {
            finish(job, .cancelled, error: "cancelled")
        } catch let unavailable as ModelHost.Unavailable {
            finish(job, .failed, error: unavailable.message)
        } catch {
            finish(job, .failed, error: "generation failed: \(error)")
        }
    }

    /// Called by the pipeline before and after each step; false stops the run.
    private func progress(_ job: Job, _ p: GenerationProgress) -> Bool {
        let preview = p.denoised.flatMap {
            LatentPreview.dataURL(packed: $0, width: job.request.width, height: job.request.height)
        }
        return cond.withLock {
            job.stage = p.stage.rawValue
            job.step = p.step
            job.elapsed = ProcessInfo.processInfo.systemUptime - (job.started ?? 0)
            switch p.stage {
            case .encodingText: job.eta = nil
            case .denoising:
                if p.step == 0 { job.denoiseStart = p.elapsed }
                if p.step > 0, let s = job.denoiseStart {
                    job.eta = (p.elapsed - s) / Double(p.step) * Double(p.totalSteps - p.step)
                }
            case .decoding: job.eta = 0
            }
            job.publish(.progress(job.snapshot(position: nil)))
            if let preview {
                job.preview = (p.step, preview)
                job.publish(.preview(step: p.step, dataURL: preview))
            }
            return !job.cancelRequested && !stopping
        }
    }

    private func finish(_ job: Job, _ status: Job.Status, error: String?) {
        cond.withLock { finishLocked(job, status, error: error) }
    }

    private func finishLocked(_ job: Job, _ status: Job.Status, error: String?) {
        if running === job { running = nil }
        job.status = status
        job.error = error
        job.eta = nil
        job.preview = nil
        job.publish(.end(job.snapshot(position: nil)))
        finishedOrder.append(job.id)
        if finishedOrder.count > keepFinished { jobs[finishedOrder.removeFirst()] = nil }
    }

    private func jobLocked(_ id: String) throws -> Job {
        guard let job = jobs[id] else {
            throw APIError.notFound("unknown job id \"\(id.prefix(64))\" (ids are forgotten when the server restarts; the history keeps the pictures)")
        }
        return job
    }

    /// Jobs ahead of a waiting one, the running job included (0 = it runs next, nothing running).
    private func positionLocked(_ job: Job) -> Int? {
        guard job.status == .queued, let i = waiting.firstIndex(where: { $0 === job }) else { return nil }
        return i + (running == nil ? 0 : 1)
    }

    private func publishPositionsLocked() {
        for job in waiting { job.publish(.progress(job.snapshot(position: positionLocked(job)))) }
    }
}
