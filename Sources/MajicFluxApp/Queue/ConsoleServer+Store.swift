import Foundation

/// The API's history, pictures and workers, read from the job store.
extension ConsoleServer {
    /// Every picture, newest first.
    func history() async throws -> [HistoryEntry] {
        try await storeCall { try await self.store.history() }
    }

    func deleteHistory(file: String) async throws -> HistoryEntry {
        try await storeCall { try await self.store.deleteHistory(file: file) }
    }

    /// The bytes of a listed picture or of one of its input pictures.
    func picture(file: String) async throws -> Data {
        try await storeCall { try await self.store.picture(file: file) }
    }

    /// Every worker the store knows (this process's and, with a shared store, the others'), and the
    /// store's error when it cannot be read (then this process's own workers only).
    func workerStatuses() async -> (workers: [WorkerStatus], problem: String?) {
        let now = Date().timeIntervalSince1970
        let stale = max(10, store.leaseSeconds)
        let records: [WorkerRecord], problem: String?
        do { (records, problem) = (try await store.workers(), nil) } catch { (records, problem) = (workers.map(\.snapshot), "\(error)") }
        return (records.map { WorkerStatus($0, unresponsive: now - $0.lastSeen > stale && $0.state != .stopped) }, problem)
    }

    /// The model's state for `/api/status`: this process's own when it runs workers; for a front end
    /// only (`serve --no-worker`), what the live workers serving the model say: "ready" when one is
    /// idle or busy, "loading" while one loads, else "waiting" (no worker serving it is connected).
    /// A front end said "loading model…" forever before.
    func modelStatus(workers statuses: [WorkerStatus]) async -> ModelStatus {
        guard workers.isEmpty else { return await host.status() }
        let serving = statuses.filter { $0.model == host.name }
        let ready = serving.filter { $0.state == "idle" || $0.state == "busy" }.count
        if ready > 0 { return ModelStatus(state: "ready", name: host.name, message: "model ready on \(ready) worker(s)", seconds: 0) }
        if serving.contains(where: { $0.state == "loading" }) {
            return ModelStatus(state: "loading", name: host.name, message: "a worker is loading the model", seconds: 0)
        }
        let others = Set(statuses.filter { ["idle", "busy", "loading"].contains($0.state) }.map(\.model)).sorted()
        return ModelStatus(state: "waiting", name: host.name,
                           message: "no worker serving \(host.name) is connected: jobs wait for one (majicflux worker --queue ...)"
                               + (others.isEmpty ? "" : "; connected workers serve \(others.joined(separator: ", "))"),
                           seconds: 0)
    }

    private func storeCall<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as JobStoreError {
            if case .notFound(let m) = e { throw APIError.notFound(m) }
            throw APIError(.serviceUnavailable, "the job store failed: \(e)")
        } catch let e as QueueURLError {
            // The PostgreSQL queue cannot be reached: the server is fine, try again later (was 500).
            throw APIError(.serviceUnavailable, "\(e)")
        }
    }
}

/// One worker in `/api/status` (snake_case JSON).
struct WorkerStatus: Codable, Sendable {
    var id: String
    var name: String
    /// "cpu", "cuda:0", ...
    var device: String
    var model: String
    /// "loading", "idle", "busy", "failed", "stopped", or "unresponsive" (no word from it for longer
    /// than a job's lease: it probably died; its job goes back to the queue).
    var state: String
    /// The job it runs (busy only).
    var job: String?
    /// Why it failed, or what it is doing.
    var message: String?
    /// Unix time it was last heard from.
    var last_seen: Double

    init(_ r: WorkerRecord, unresponsive: Bool) {
        id = r.id
        name = r.name
        device = r.device
        model = r.model
        state = unresponsive ? "unresponsive" : r.state.rawValue
        job = r.jobID
        message = r.message
        last_seen = r.lastSeen
    }

    private enum CodingKeys: String, CodingKey { case id, name, device, model, state, job, message, last_seen }

    /// `job` and `message` are always present (null when none), as docs/API.md shows.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(device, forKey: .device)
        try c.encode(model, forKey: .model)
        try c.encode(state, forKey: .state)
        try c.encode(job, forKey: .job)
        try c.encode(message, forKey: .message)
        try c.encode(last_seen, forKey: .last_seen)
    }
}
