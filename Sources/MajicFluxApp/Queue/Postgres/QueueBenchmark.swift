import Foundation

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

    /// Latency samples and throughput for the PostgreSQL store at `url`, with `workers` workers in
    /// this process, each with its own connections (pool and LISTEN) as separate processes would have.
    /// The tables are emptied first; use a database of its own.
    public static func postgres(url: String, workers: Int, latencyJobs: Int, throughputJobs: Int) async throws -> Result {
        let front = try await PostgresJobStore.open(url, pollSeconds: 1)
        var stores: [PostgresJobStore] = []
        for _ in 0..<workers { stores.append(try await PostgresJobStore.open(url, pollSeconds: 1)) }
        try await front.run("TRUNCATE majicflux_jobs, majicflux_history, majicflux_workers CASCADE", "emptying the tables")

        let clock = BenchClock()
        let stop = BenchFlag()
        let png = Data(repeating: 7, count: 2048)
        let loops = stores.enumerated().map { n, store in
            Task {
                let id = "bench-worker-\(n)"
                try await store.register(PostgresWorkerRecord(id: id, name: id, device: "none", model: nil, loras: [], state: "idle"))
                while !stop.isSet {
                    let ticket = store.notifications.queuedTicket
                    guard let claim = try await store.claim(workerID: id, model: nil, loras: []) else {
                        await store.waitForWork(after: ticket)
                        continue
                    }
                    clock.started(claim.job.id)
                    try await store.complete(jobID: claim.job.id, workerID: id, attempt: claim.attempt) { number, _ in
                        .init(file: "\(number)-0.png", entry: #"{"bench":true}"#, png: png)
                    }
                    clock.finished(claim.job.id)
                }
            }
        }
        // Let every worker reach its idle wait.
        try await Task.sleep(for: .milliseconds(500))
        var latencies: [Double] = []
        for i in 0..<latencyJobs {
            let id = "lat-\(i)"
            clock.submitted(id)
            _ = try await front.enqueue(id: id, spec: "{}", model: nil, loras: [], totalSteps: 1, maxQueued: 1_000_000)
            try await clock.waitFinished(id)
            latencies.append(clock.latencyMS(id))
            // Idle workers: each job meets them waiting, not busy with the one before.
            try await Task.sleep(for: .milliseconds(5))
        }
        let start = ContinuousClock.now
        for i in 0..<throughputJobs {
            _ = try await front.enqueue(id: "tp-\(i)", spec: "{}", model: nil, loras: [], totalSteps: 1, maxQueued: 1_000_000)
        }
        for i in 0..<throughputJobs { try await clock.waitFinished("tp-\(i)") }
        let seconds = (ContinuousClock.now - start).seconds
        stop.set()
        front.notifications.stop()
        for s in stores { s.notifications.stop() }
        for l in loops { _ = await l.result }
        for s in stores { await s.close() }
        await front.close()
        return Result(store: "postgresql", workers: workers, latenciesMS: latencies.sorted(),
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

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
