import Foundation

/// `JobStore` over the PostgreSQL tables: the protocol's value types to and from the rows.
extension PostgresJobStore: JobStore {
    var kind: String { "postgres" }
    var location: String { url.redacted }

    /// What `majicflux_jobs.spec` holds: the job's parameters as the API shows them.
    private struct Spec: Codable {
        var parameters: JobParameters
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    // MARK: Front end

    func enqueue(_ job: NewJob, maxQueued: Int) async throws -> StoredJob {
        try await enqueueGroup([job], maxQueued: maxQueued)[0]
    }

    func enqueueGroup(_ jobs: [NewJob], maxQueued: Int) async throws -> [StoredJob] {
        let rows = try jobs.map { job in
            PostgresNewJob(id: job.id, spec: String(decoding: try Self.encoder.encode(Spec(parameters: job.parameters)), as: UTF8.self),
                           model: job.requirements.model, loras: job.requirements.loras, totalSteps: job.parameters.steps,
                           inputs: Dictionary(job.inputs.map { ($0.role, Data($0.png)) }, uniquingKeysWith: { $1 }),
                           maxAttempts: job.maxAttempts, created: Date(timeIntervalSince1970: job.created))
        }
        do {
            return try await enqueue(rows, maxQueued: maxQueued).map(storedJob)
        } catch PostgresStoreRefusal.queueFull {
            throw JobStoreError.queueFull(limit: maxQueued)
        }
    }

    func job(_ id: String) async throws -> StoredJob? {
        try await jobRecord(id).map(storedJob)
    }

    func activeJobs() async throws -> [StoredJob] {
        try await activeJobRecords().map(storedJob)
    }

    func requestCancel(_ id: String) async throws -> StoredJob {
        guard let before = try await jobRecord(id) else {
            throw JobStoreError.notFound("unknown job id \"\(id.prefix(64))\"")
        }
        if before.isFinished {
            throw JobStoreError.alreadyFinished(id: id, status: JobStatus(rawValue: before.status) ?? .done)
        }
        guard let after = try await requestCancelRecord(id) else {
            throw JobStoreError.notFound("unknown job id \"\(id.prefix(64))\"")
        }
        return try storedJob(after)
    }

    // MARK: History

    func history() async throws -> [HistoryEntry] {
        try await historyRecords(limit: 100_000, offset: 0).compactMap { try? Self.decode(HistoryEntry.self, $0.entry) }
    }

    func historyEntry(file: String) async throws -> HistoryEntry? {
        try await historyRecord(file: file).flatMap { r in try? Self.decode(HistoryEntry.self, r.entry) }
    }

    func picture(file: String) async throws -> Data {
        guard let data = try await pictureData(file: file) else {
            throw JobStoreError.notFound("no such image: \(file.prefix(64))")
        }
        return data
    }

    func deleteHistory(file: String) async throws -> HistoryEntry {
        guard let record = try await deleteHistoryRecord(file: file),
              let entry = try? Self.decode(HistoryEntry.self, record.entry) else {
            throw JobStoreError.notFound("no such history entry: \(file.prefix(64))")
        }
        return entry
    }

    // MARK: Workers

    func register(_ worker: WorkerRecord) async throws {
        try await register(PostgresWorkerRecord(
            id: worker.id, name: worker.name, device: worker.device, model: worker.model, loras: worker.loras,
            state: worker.state.rawValue, jobID: worker.jobID, message: worker.message,
            started: Date(timeIntervalSince1970: worker.started)))
    }

    func workers() async throws -> [WorkerRecord] {
        try await workerRecords().map { w in
            WorkerRecord(id: w.id, name: w.name, device: w.device, model: w.model ?? "", loras: w.loras,
                         state: WorkerRecord.State(rawValue: w.state) ?? .stopped, jobID: w.jobID, message: w.message,
                         started: w.started.timeIntervalSince1970,
                         // The database's clock says how long it has been silent; now minus that on ours.
                         lastSeen: Date().timeIntervalSince1970 - max(0, w.silentFor))
        }
    }

    func removeWorker(_ id: String) async throws { try await unregister(id) }

    func claim(worker: WorkerRecord) async throws -> ClaimedJob? {
        guard let claim = try await claim(workerID: worker.id, model: worker.model, loras: worker.loras) else { return nil }
        return try claimedJob(claim)
    }

    func claimBatch(worker: WorkerRecord, limit: Int) async throws -> [ClaimedJob] {
        guard let first = try await claim(worker: worker) else { return [] }
        guard limit > 1, let group = first.job.parameters.batch_group else { return [first] }
        let siblings = try await claimSiblings(group: group, workerID: worker.id, model: worker.model, loras: worker.loras, limit: limit - 1)
        return try [first] + siblings.map(claimedJob)
    }

    private func claimedJob(_ claim: PostgresClaim) throws -> ClaimedJob {
        ClaimedJob(job: try storedJob(claim.job),
                   inputs: claim.inputs.sorted { $0.key < $1.key }.map { JobInputPicture(role: $0.key, png: [UInt8]($0.value)) })
    }

    func heartbeat(jobID: String, workerID: String, progress: JobProgress?) async throws -> LeaseState {
        let p = progress.map { PostgresProgress(stage: $0.stage, step: $0.step, eta: $0.eta, preview: $0.preview, previewStep: $0.previewStep) }
        let answer = try await heartbeat(jobID: jobID, workerID: workerID, attempt: nil, progress: p)
        return LeaseState(cancelRequested: answer.cancelRequested, leaseLost: answer.leaseLost)
    }

    func complete(jobID: String, workerID: String, picture: FinishedPicture) async throws -> HistoryEntry {
        let stored = try await complete(jobID: jobID, workerID: workerID, attempt: nil) { number, created in
            let file = picture.fileName(number: number)
            let p = try picture.materialize(file: file, jobID: jobID, created: created.timeIntervalSince1970)
            return Result(file: file, entry: String(decoding: try Self.encoder.encode(p.entry), as: UTF8.self),
                          png: Data(p.png), inputFiles: p.inputs.map { (name: $0.file, png: Data($0.png)) })
        }
        guard let stored, let entry = try? Self.decode(HistoryEntry.self, stored.entry) else {
            throw JobStoreError.notHeld(jobID: jobID, workerID: workerID)
        }
        return entry
    }

    func fail(jobID: String, workerID: String, error: String, retry: Bool) async throws -> JobStatus {
        guard let status = try await fail(jobID: jobID, workerID: workerID, attempt: nil, error: error, retry: retry) as String? else {
            throw JobStoreError.notHeld(jobID: jobID, workerID: workerID)
        }
        return JobStatus(rawValue: status) ?? .failed
    }

    func cancelled(jobID: String, workerID: String, reason: String) async throws {
        guard try await finishCancelled(jobID: jobID, workerID: workerID, attempt: nil, reason: reason) else {
            throw JobStoreError.notHeld(jobID: jobID, workerID: workerID)
        }
    }

    func release(jobID: String, workerID: String) async throws {
        _ = try await releaseJob(jobID: jobID, workerID: workerID)
    }

    func requeueExpired() async throws -> [String] {
        try await sweepExpiredLeases().map(\.id)
    }

    // MARK: Notification

    func changes() -> AsyncStream<StoreChange> {
        let source = notifications.changes()
        let (stream, continuation) = AsyncStream<StoreChange>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let pump = Task {
            for await change in source {
                switch change {
                case .job(let id): continuation.yield(.job(id))
                case .queued(let id): continuation.yield(.jobQueued(id))
                case .worker(let id): continuation.yield(.worker(id))
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in pump.cancel() }
        return stream
    }

    // MARK: Rows to values

    private static func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }

    private func storedJob(_ r: PostgresJobRecord) throws -> StoredJob {
        let parameters: JobParameters
        do { parameters = try Self.decode(Spec.self, r.spec).parameters } catch {
            throw JobStoreError.other("job \(r.id) in \(url.redacted) cannot be read: \(error)")
        }
        let status = JobStatus(rawValue: r.status) ?? .failed
        var progress: JobProgress?
        if status == .running, let stage = r.stage {
            progress = JobProgress(stage: stage, step: r.step, totalSteps: r.totalSteps, elapsed: r.elapsed, eta: r.eta,
                                   preview: r.preview, previewStep: r.previewStep)
        }
        return StoredJob(id: r.id, parameters: parameters, requirements: JobRequirements(model: r.model, loras: r.loras),
                         status: status, created: r.created.timeIntervalSince1970, started: r.started?.timeIntervalSince1970,
                         finished: r.finished?.timeIntervalSince1970, attempts: r.attempts, maxAttempts: r.maxAttempts,
                         workerID: r.workerID, leaseUntil: r.leaseUntil, progress: progress, cancelRequested: r.cancelRequested,
                         error: r.error, history: r.historyEntry.flatMap { try? Self.decode(HistoryEntry.self, $0) })
    }
}
