import Foundation
import Logging
import PostgresNIO

/// LISTENs on the store's channels over a connection of its own and fans the notifications out:
/// `majicflux_job_queued` wakes idle workers (`waitForQueued`), `majicflux_job_changed` and
/// `majicflux_worker_changed` go to every `changes()` stream. The connection is re-made when lost
/// (after 1 s, then up to 5 s); while it is down, waiters fall back to their polling interval.
// unchecked: every `var` is only touched under `lock` (NSLock); the other fields are Sendable `let`s.
final class PostgresNotifications: @unchecked Sendable {
    enum Change: Sendable, Equatable {
        case job(String)
        /// A job entered the queue (new or re-queued); also reported as `job`.
        case queued(String)
        case worker(String)
    }

    static let queuedChannel = "majicflux_job_queued"
    static let jobChannel = "majicflux_job_changed"
    static let workerChannel = "majicflux_worker_changed"

    private let lock = NSLock()
    /// Counts `job_queued` notifications (and reconnects, which may have missed some).
    private var queuedCount: UInt64 = 0
    private var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    private var subscribers: [UUID: AsyncStream<Change>.Continuation] = [:]
    private var listening = false
    private var task: Task<Void, Never>?
    private var listenersReady: [CheckedContinuation<Void, Never>] = []

    let url: PostgresURL
    let logger: Logger

    init(url: PostgresURL, logger: Logger) {
        self.url = url
        self.logger = logger
    }

    /// Starts listening; returns once the first LISTEN is in place (or the first attempt failed).
    func start() async {
        await withCheckedContinuation { (ready: CheckedContinuation<Void, Never>) in
            lock.withLock {
                listenersReady.append(ready)
                task = Task { [self] in await self.listenLoop() }
            }
        }
    }

    func stop() {
        let t = lock.withLock { () -> Task<Void, Never>? in
            let t = task
            task = nil
            for (_, c) in subscribers { c.finish() }
            subscribers.removeAll()
            for (_, w) in waiters { w.resume() }
            waiters.removeAll()
            return t
        }
        t?.cancel()
    }

    /// Whether the LISTEN connection is up now.
    var isListening: Bool { lock.withLock { listening } }

    /// A number that changes whenever a job is queued: read it before looking for work, then
    /// `waitForQueued(after:)` it, so a job queued in between is never slept through.
    var queuedTicket: UInt64 { lock.withLock { queuedCount } }

    /// Returns when a job was queued after `ticket`, or after `timeout` seconds (the polling fallback).
    func waitForQueued(after ticket: UInt64, timeout: Double) async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = lock.withLock { () -> Bool in
                    if queuedCount != ticket || task == nil || Task.isCancelled { return true }
                    waiters[id] = c
                    return false
                }
                if now { c.resume(); return }
                Task { [self] in
                    try? await Task.sleep(for: .seconds(timeout))
                    self.resumeWaiter(id)
                }
            }
        } onCancel: {
            resumeWaiter(id)
        }
    }

    private func resumeWaiter(_ id: UUID) {
        lock.withLock { waiters.removeValue(forKey: id) }?.resume()
    }

    /// Every job or worker change from now on, in any process using this database.
    func changes() -> AsyncStream<Change> {
        let (stream, continuation) = AsyncStream<Change>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let id = UUID()
        let alive = lock.withLock { () -> Bool in
            guard task != nil else { return false }
            subscribers[id] = continuation
            return true
        }
        if !alive { continuation.finish() }
        continuation.onTermination = { [weak self] _ in
            _ = self?.lock.withLock { self?.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    private func wakeQueued() {
        let ws = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            queuedCount &+= 1
            let ws = Array(waiters.values)
            waiters.removeAll()
            return ws
        }
        for w in ws { w.resume() }
    }

    private func publish(_ change: Change) {
        let subs = lock.withLock { Array(subscribers.values) }
        for s in subs { s.yield(change) }
    }

    private func setListening(_ on: Bool) {
        let ready = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            listening = on
            let r = listenersReady
            listenersReady.removeAll()
            return r
        }
        for r in ready { r.resume() }
    }

    private func listenLoop() async {
        var delay = 1.0
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            do {
                let config = try url.connectionConfiguration()
                let connection = try await PostgresConnection.connect(configuration: config, id: attempt, logger: logger)
                delay = 1
                do {
                    try await listen(connection)
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if !Task.isCancelled {
                    logger.warning("\(url.explain(error, doing: "LISTEN for queue changes")); retrying in \(Int(delay)) s (workers poll meanwhile)")
                }
            }
            setListening(false)
            if Task.isCancelled { break }
            // Notifications may have been missed while down: wake everyone to look once.
            wakeQueued()
            try? await Task.sleep(for: .seconds(delay))
            delay = min(delay * 2, 5)
        }
    }

    private func listen(_ connection: PostgresConnection) async throws {
        try await connection.listen(on: Self.queuedChannel) { queued in
            try await connection.listen(on: Self.jobChannel) { jobs in
                try await connection.listen(on: Self.workerChannel) { workers in
                    setListening(true)
                    // Jobs queued while we were connecting.
                    wakeQueued()
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { for try await n in queued { self.wakeQueued(); self.publish(.queued(n.payload)) } }
                        group.addTask { for try await n in jobs { self.publish(.job(n.payload)) } }
                        group.addTask { for try await n in workers { self.publish(.worker(n.payload)) } }
                        // The first to end (the connection dropped) ends the others.
                        _ = try await group.next()
                        group.cancelAll()
                        throw QueueURLError("the LISTEN connection ended")
                    }
                }
            }
        }
    }
}
