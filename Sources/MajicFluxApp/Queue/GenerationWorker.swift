import Foundation
import Models
import Tensor

/// One generation worker: a loaded model (`ModelHost`) taking jobs from any `JobStore`.
///
/// register -> load the model -> loop { requeue expired leases now and then; claim the next job it
/// can run, or wait for a `jobQueued` change (or `pollSeconds`) -> run it with a heartbeat on every
/// step and at least every `heartbeatSeconds` (renewing the lease, recording progress, learning of
/// a cancel or a lost lease) -> complete / cancelled / fail }.
///
/// `serve` runs one per device over the embedded store; `majicflux worker` runs one over PostgreSQL.
// unchecked: `record`, `stopping`, `current` and `task` are only touched under `lock`; the rest are `let`s of Sendable types.
final class GenerationWorker: @unchecked Sendable {
    let store: any JobStore
    let host: ModelHost
    let loras: LoRALibrary
    let heartbeatSeconds: Double
    let pollSeconds: Double
    /// With a model that failed to load, still claim jobs and fail them with the reason (a server
    /// whose only worker this is: every job then says why). Otherwise such a worker takes no jobs.
    let failJobsWhenBroken: Bool
    /// Called on the generation thread with every progress report, before the store hears of it
    /// (the embedded front end feeds its event streams from this: one event per step).
    let onProgress: (@Sendable (_ jobID: String, _ progress: JobProgress) -> Void)?

    private let lock = NSLock()
    private var record: WorkerRecord
    private var stopping = false
    private var task: Task<Void, Never>?
    private let wake = WakeSignal()
    /// The running job's flags, read by the generation thread at every step.
    private var current: RunState?

    init(store: any JobStore, host: ModelHost, loras: LoRALibrary, id: String, name: String, device: String,
         heartbeatSeconds: Double = 1, pollSeconds: Double = 2,
         failJobsWhenBroken: Bool = false,
         onProgress: (@Sendable (String, JobProgress) -> Void)? = nil) {
        self.store = store
        self.host = host
        self.loras = loras
        self.heartbeatSeconds = heartbeatSeconds
        self.pollSeconds = pollSeconds
        self.failJobsWhenBroken = failJobsWhenBroken
        self.onProgress = onProgress
        let now = Date().timeIntervalSince1970
        record = WorkerRecord(id: id, name: name, device: device, model: host.name, loras: [], state: .loading,
                              jobID: nil, message: "loading the model", started: now, lastSeen: now)
    }

    /// A worker id unique across hosts and processes: `host-pid-device[-n]`.
    static func makeID(device: String, index: Int) -> String {
        let host = ProcessInfo.processInfo.hostName.prefix(40)
        return "\(host)-\(getpid())-\(device)" + (index > 0 ? "-\(index)" : "")
    }

    var id: String { lock.withLock { record.id } }
    var snapshot: WorkerRecord { lock.withLock { record } }

    /// Starts the loop in a task of its own.
    func start() {
        let t = Task { await self.loop() }
        lock.withLock { task = t }
    }

    /// Stops taking jobs; the running job stops at its next step and goes back to the queue;
    /// returns when the loop has ended. A model still loading cannot be
    /// interrupted: then it returns without waiting for the load.
    func stop() async {
        let t = lock.withLock { () -> Task<Void, Never>? in
            stopping = true
            return task
        }
        wake.signal()
        if await host.isLoading { return }
        await t?.value
    }

    var isStopping: Bool { lock.withLock { stopping } }

    func update(_ change: (inout WorkerRecord) -> Void) async {
        let r = lock.withLock { () -> WorkerRecord in
            change(&record)
            return record
        }
        try? await store.register(r)
    }

    // MARK: Loop

    private func loop() async {
        // Wake-ups: a job entered the queue.
        let changes = store.changes()
        let listener = Task { [wake] in
            for await change in changes {
                if case .jobQueued = change { wake.signal() }
            }
        }
        defer { listener.cancel() }
        await update { $0.state = .loading }
        await host.load()
        let status = await host.status()
        await update {
            $0.state = status.state == "ready" ? .idle : .failed
            $0.message = status.state == "ready" ? nil : status.message
        }
        let broken = status.state != "ready"
        var lastSweep = 0.0, lastSeen = ProcessInfo.processInfo.systemUptime
        // Waits are short enough for the alive-signal below to come within a third of a lease.
        let idleWait = min(pollSeconds, max(1, store.leaseSeconds / 3))
        while !isStopping {
            // An idle worker says it is alive too (a running job's heartbeats do it then): front ends
            // mark a worker silent for a few leases as stopped, and an idle one looked dead.
            if ProcessInfo.processInfo.systemUptime - lastSeen > min(heartbeatSeconds * 5, max(1, store.leaseSeconds / 3)) {
                lastSeen = ProcessInfo.processInfo.systemUptime
                await update { _ in }
            }
            if broken && !failJobsWhenBroken {
                await wake.wait(timeout: idleWait)
                continue
            }
            // Jobs of workers that died come back to the queue (every worker and front end sweeps).
            let now = ProcessInfo.processInfo.systemUptime
            if now - lastSweep > max(1, store.leaseSeconds / 4) {
                lastSweep = now
                _ = try? await store.requeueExpired()
            }
            // The LoRA folder may have changed (the page lists it live): advertise what it holds now.
            let names = loras.scan().entries.map(\.name)
            if names != snapshot.loras { await update { $0.loras = names } }
            // A job of a batch group comes with its queued siblings, made in one pass
            // (GenerationWorker+Batch.swift).
            let claimed: [ClaimedJob]
            do { claimed = try await store.claimBatch(worker: snapshot, limit: GenerationLimits.batch.upperBound) } catch {
                Console.info("worker \(id): cannot claim a job: \(error)")
                await wake.wait(timeout: pollSeconds)
                continue
            }
            if claimed.isEmpty {
                await wake.wait(timeout: idleWait)
                continue
            }
            if claimed.count == 1 { await run(claimed[0]) } else { await runBatch(claimed) }
            lastSeen = ProcessInfo.processInfo.systemUptime  // the job's heartbeats said it meanwhile
        }
        try? await store.removeWorker(id)
    }

    // MARK: One job

    /// The running job's state, shared by the loop, the heartbeat task and the generation thread.
    // unchecked: every `var` is only touched under `lock`.
    final class RunState: @unchecked Sendable {
        let lock = NSLock()
        var progress: JobProgress
        var cancelRequested = false
        var leaseLost = false
        var denoiseStart: Double?
        let started = ProcessInfo.processInfo.systemUptime
        init(progress: JobProgress) { self.progress = progress }
    }

    func run(_ claimed: ClaimedJob) async {
        let job = claimed.job
        let state = RunState(progress: JobProgress(stage: "encoding text", step: 0, totalSteps: job.parameters.steps))
        lock.withLock { current = state }
        defer { lock.withLock { current = nil } }
        await update {
            $0.state = .busy
            $0.jobID = job.id
        }
        let beat = WakeSignal()
        let heartbeat = Task { await self.heartbeats(job.id, state, beat) }
        let outcome = await generate(claimed, state, beat)
        heartbeat.cancel()
        beat.signal()
        _ = await heartbeat.value
        await finish(job, outcome, state)
        await update {
            $0.state = .idle
            $0.jobID = nil
        }
    }

    enum Outcome {
        case done(GeneratedImage, request: GenerationRequest, seconds: Double)
        case cancelled
        case failed(String, retry: Bool)
        /// Stopped with its batch for another job's sake: back to the queue, the attempt not counted.
        case released
    }

    private func generate(_ claimed: ClaimedJob, _ state: RunState, _ beat: WakeSignal) async -> Outcome {
        let job = claimed.job
        let start = ProcessInfo.processInfo.systemUptime
        do {
            let request = try await StoredJobRequest.request(claimed, loras: loras)
            let image = try await host.generate(request) { [self] p in self.progress(job, p, state, beat) }
            Console.info("worker \(id): job \(job.id) \(await host.lastTimings.summary())")
            return .done(image, request: request, seconds: ProcessInfo.processInfo.systemUptime - start)
        } catch {
            return Self.outcome(error)
        }
    }

    /// What a run that threw ends as.
    static func outcome(_ error: any Error) -> Outcome {
        switch error {
        case ModelError.cancelled: return .cancelled
        case let unavailable as ModelHost.Unavailable: return .failed(unavailable.message, retry: false)
        case let e as APIError: return .failed(e.message, retry: false)
        default: return .failed("generation failed: \(error)", retry: false)
        }
    }

    /// The pipeline's callback (generation thread): records the progress, tells the local front
    /// end, asks for a heartbeat; false stops the run.
    func progress(_ job: StoredJob, _ p: GenerationProgress, _ state: RunState, _ beat: WakeSignal) -> Bool {
        let preview = p.denoised.flatMap {
            // The size of the pass being denoised (the hires fix's second pass is larger).
            LatentPreview.dataURL(packed: $0, width: p.width, height: p.height)
        }
        let snapshot = state.lock.withLock { () -> JobProgress in
            var r = state.progress
            r.stage = p.stage.rawValue
            r.step = p.step
            r.totalSteps = p.totalSteps
            r.elapsed = ProcessInfo.processInfo.systemUptime - state.started
            switch p.stage {
            case .encodingText: r.eta = nil
            case .denoising:
                if p.step == 0 { state.denoiseStart = p.elapsed }
                if p.step > 0, let s = state.denoiseStart {
                    r.eta = (p.elapsed - s) / Double(p.step) * Double(p.totalSteps - p.step)
                }
            case .decoding: r.eta = 0
            }
            if let preview {
                r.preview = preview
                r.previewStep = p.step
            }
            state.progress = r
            return r
        }
        onProgress?(job.id, snapshot)
        beat.signal()
        let stop = state.lock.withLock { state.cancelRequested || state.leaseLost }
        return !stop && !isStopping
    }

    /// Sends the latest progress at every signal and at least every `heartbeatSeconds`, until cancelled.
    func heartbeats(_ jobID: String, _ state: RunState, _ beat: WakeSignal) async {
        var sent: JobProgress?
        while true {
            let progress = state.lock.withLock { state.progress }
            do {
                let lease = try await store.heartbeat(jobID: jobID, workerID: id, progress: progress == sent ? nil : progress)
                sent = progress
                state.lock.withLock {
                    state.cancelRequested = state.cancelRequested || lease.cancelRequested
                    state.leaseLost = state.leaseLost || lease.leaseLost
                }
            } catch {
                // A store that does not answer: keep trying; the lease may run out meanwhile.
            }
            if Task.isCancelled { return }
            await beat.wait(timeout: heartbeatSeconds)
            if Task.isCancelled { return }
        }
    }

    func finish(_ job: StoredJob, _ outcome: Outcome, _ state: RunState) async {
        let (cancelRequested, leaseLost) = state.lock.withLock { (state.cancelRequested, state.leaseLost) }
        if leaseLost { return }  // another worker owns the job now; nothing of this run is kept
        // A database out of reach for a moment must not cost the picture: try again until the
        // lease is nearly out (then another worker may take the job, and nothing here is kept).
        let until = ProcessInfo.processInfo.systemUptime + max(2, store.leaseSeconds * 0.8)
        var said = false
        while true {
            do {
                try await record(job, outcome, state, cancelRequested: cancelRequested)
                return
            } catch let e as QueueURLError where e.unreachable && ProcessInfo.processInfo.systemUptime < until {
                if !said { Console.info("worker \(id): job \(job.id) waits for the job store to answer again: \(e)") }
                said = true
                try? await Task.sleep(nanoseconds: 500_000_000)
            } catch {
                Console.info("worker \(id): job \(job.id) could not be recorded: \(error)")
                _ = try? await store.fail(jobID: job.id, workerID: id, error: "the picture could not be saved: \(error)", retry: false)
                return
            }
        }
    }

    /// Records how the job ended; `JobStoreError.notHeld` (the lease ran out meanwhile: another
    /// worker runs the job) ends quietly.
    private func record(_ job: StoredJob, _ outcome: Outcome, _ state: RunState, cancelRequested: Bool) async throws {
        do {
            switch outcome {
            case .done(let image, let request, let seconds):
                state.lock.withLock { state.progress.stage = "saving" }
                let saving = state.lock.withLock { state.progress }
                onProgress?(job.id, saving)
                _ = try? await store.heartbeat(jobID: job.id, workerID: id, progress: saving)
                _ = try await store.complete(jobID: job.id, workerID: id,
                                             picture: picture(image, request: request, jobID: job.id, seconds: seconds,
                                                              batchGroup: job.parameters.batch_group))
            case .cancelled:
                // Stopped by the worker's own stop, not a cancel: back to the queue, for another
                // worker or the restart.
                if !cancelRequested {
                    try await store.release(jobID: job.id, workerID: id)
                } else {
                    try await store.cancelled(jobID: job.id, workerID: id, reason: "cancelled")
                }
            case .failed(let message, let retry):
                _ = try await store.fail(jobID: job.id, workerID: id, error: message, retry: retry)
            case .released:
                try await store.release(jobID: job.id, workerID: id)
            }
        } catch JobStoreError.notHeld {
            // The lease ran out while finishing: another worker runs the job.
        }
    }

    /// The finished picture for the store: its PNG carries the parameters (A1111 infotext and our
    /// JSON) and the job's id (so a PNG found without its row after a crash finishes its job).
    private func picture(_ image: GeneratedImage, request: GenerationRequest, jobID: String, seconds: Double, batchGroup: String?) -> FinishedPicture {
        var parameters = JobParameters(image.request)
        parameters.conditioning = JobConditioning(request.conditioning)
        parameters.batch_group = batchGroup
        let model = host.name, preset = host.preset
        let inputs = request.conditioning.map { c in
            JobConditioning.pictures(c).compactMap { p in (try? PNG.encode(p.picture, fast: true)).map { JobInputPicture(role: p.role, png: $0) } }
        } ?? []
        return FinishedPicture(parameters: parameters, model: model, seconds: seconds, inputs: inputs) { recorded in
            var text = image.parameterText(model: model, preset: preset, record: recorded.conditioning)
            text.append((key: HistoryEntry.jobChunk, value: jobID))
            return try PNG.encode(try image.png, text: text)
        }
    }
}
