import Foundation
import Models
import Tensor

/// Measures the job queue itself with a trivial job (no model: a worker completes it at once), for
/// Examples/QueueBench: enqueue-to-start latency with idle workers waiting, and jobs per second
/// through the store with every worker busy.
public enum QueueBenchmark {
    /// One store's numbers.
    public struct Result: Sendable {
        /// "postgresql" or "sqlite".
        public var store: String
        public var workers: Int
        /// Enqueue-to-claim latencies of jobs submitted one at a time to idle workers, milliseconds, sorted.
        public var latenciesMS: [Double]
        /// Jobs per second (enqueue, claim, complete with a small PNG and its history entry) with a
        /// full queue drained by every worker.
        public var jobsPerSecond: Double
        public var throughputJobs: Int

        public func percentile(_ p: Double) -> Double {
            guard !latenciesMS.isEmpty else { return .nan }
            let i = min(latenciesMS.count - 1, max(0, Int((p / 100 * Double(latenciesMS.count)).rounded(.up)) - 1))
            return latenciesMS[i]
        }
    }

    /// The PostgreSQL store at `url`, with `workers` workers in this process, each with its own
    /// connections (pool and LISTEN) as separate processes would have. The tables are emptied
    /// first: give it a database of its own.
    public static func postgres(url: String, workers: Int, latencyJobs: Int, throughputJobs: Int) async throws -> Result {
        let front = try await PostgresJobStore.open(url, pollSeconds: 1)
        try await front.run("TRUNCATE majicflux_jobs, majicflux_history, majicflux_workers CASCADE", "emptying the tables")
        var stores: [any JobStore] = []
        for _ in 0..<workers { stores.append(try await PostgresJobStore.open(url, pollSeconds: 1)) }
        let result = try await measure("postgresql", front: front, workerStores: stores,
                                       latencyJobs: latencyJobs, throughputJobs: throughputJobs)
        for s in stores { await s.close() }
        await front.close()
        return result
    }

    /// The embedded SQLite store in a new folder under `directory`, shared by `workers` workers of
    /// this process (as `serve --gpus` runs them).
    public static func sqlite(directory: String, workers: Int, latencyJobs: Int, throughputJobs: Int) async throws -> Result {
        let folder = directory + "/queue-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try SQLiteJobStore(directory: folder)
        let result = try await measure("sqlite", front: store, workerStores: Array(repeating: store, count: workers),
                                       latencyJobs: latencyJobs, throughputJobs: throughputJobs)
        await store.close()
        return result
    }

    /// Workers as `GenerationWorker` runs them (woken by `jobQueued` changes, polling every second
    /// otherwise), each completing its job at once with a 2 KB "picture"; then `latencyJobs` jobs
    /// one at a time (each meets idle workers) and `throughputJobs` queued at once.
    static func measure(_ name: String, front: any JobStore, workerStores: [any JobStore],
                        latencyJobs: Int, throughputJobs: Int) async throws -> Result {
        let clock = BenchClock()
        let stop = BenchFlag()
        let png = [UInt8](repeating: 7, count: 2048)
        let parameters = JobParameters(GenerationRequest(prompt: "queue benchmark", seed: 1, steps: 1, width: 64, height: 64))
        var wakes: [WakeSignal] = []
        var loops: [Task<Void, any Error>] = []
        for (n, store) in workerStores.enumerated() {
            let wake = WakeSignal()
            wakes.append(wake)
            let changes = store.changes()
            let listener = Task { for await change in changes { if case .jobQueued = change { wake.signal() } } }
            loops.append(Task {
                defer { listener.cancel() }
                let now = Date().timeIntervalSince1970
                let me = WorkerRecord(id: "bench-\(n)", name: "bench \(n)", device: "none", model: "bench", state: .idle,
                                      started: now, lastSeen: now)
                try await store.register(me)
                while !stop.isSet {
                    guard let claimed = try await store.claim(worker: me) else {
                        await wake.wait(timeout: 1)
                        continue
                    }
                    clock.started(claimed.job.id)
                    _ = try await store.complete(jobID: claimed.job.id, workerID: me.id, picture: FinishedPicture(
                        parameters: claimed.job.parameters, model: "bench", seconds: 0, inputs: [], encode: { _ in png }))
                    clock.finished(claimed.job.id)
                }
            })
        }
        func enqueue(_ id: String) async throws {
            _ = try await front.enqueue(NewJob(id: id, parameters: parameters, requirements: JobRequirements(model: "bench")),
                                        maxQueued: 1_000_000)
        }
        // Let every worker reach its idle wait.
        try await Task.sleep(for: .milliseconds(500))
        var latencies: [Double] = []
        for i in 0..<latencyJobs {
            let id = "lat-\(i)"
            clock.submitted(id)
            try await enqueue(id)
            try await clock.waitFinished(id)
            latencies.append(clock.latencyMS(id))
            // Idle workers: each job meets them waiting, not busy with the one before.
            try await Task.sleep(for: .milliseconds(5))
        }
        let start = ContinuousClock.now
        for i in 0..<throughputJobs { try await enqueue("tp-\(i)") }
        for i in 0..<throughputJobs { try await clock.waitFinished("tp-\(i)") }
        let seconds = (ContinuousClock.now - start).seconds
        stop.set()
        for w in wakes { w.signal() }
        for l in loops { _ = try await l.value }
        return Result(store: name, workers: workerStores.count, latenciesMS: latencies.sorted(),
                      jobsPerSecond: Double(throughputJobs) / seconds, throughputJobs: throughputJobs)
    }
}

/// When each benchmark job was submitted, claimed and finished.
// unchecked: every `var` is only touched under `lock` (NSLock).
final class BenchClock: @unchecked Sendable {
    private let lock = NSLock()
    private var submittedAt: [String: ContinuousClock.Instant] = [:]
    private var startedAt: [String: ContinuousClock.Instant] = [:]
    private var done: Set<String> = []

    func submitted(_ id: String) { lock.withLock { submittedAt[id] = .now } }
    func started(_ id: String) { lock.withLock { startedAt[id] = .now } }
    func finished(_ id: String) { _ = lock.withLock { done.insert(id) } }

    func latencyMS(_ id: String) -> Double {
        lock.withLock {
            guard let s = submittedAt[id], let t = startedAt[id] else { return .nan }
            return (t - s).seconds * 1000
        }
    }

    /// Polls (1 ms) until the job is finished; 30 s at most.
    func waitFinished(_ id: String) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !lock.withLock({ done.contains(id) }) {
            if ContinuousClock.now > deadline { throw QueueURLError("benchmark job \(id) did not finish in 30 s") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

// unchecked: `value` is only touched under `lock` (NSLock).
final class BenchFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
