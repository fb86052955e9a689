import Foundation

/// The PostgreSQL store's view of an outage. Without it every call made while the server was down
/// waited for the pool's connection attempts (67 s for the console's first status call, measured),
/// so the page froze. Now a call that finds the server unreachable, or gets no answer within
/// `PostgresJobStore.callLimit`, marks the server down; while it is down calls fail at once with
/// why, and one probe asks the server every `probeSeconds` until it answers again.
final class PostgresOutage: @unchecked Sendable {
    // unchecked: `since`, `reason` and `probe` are only touched under `lock`.
    private let lock = NSLock()
    private var since: Date?
    private var reason = ""
    private var probe: Task<Void, Never>?
    let probeSeconds: Double

    init(probeSeconds: Double = 2) { self.probeSeconds = probeSeconds }

    /// Whether the server counts as down now.
    var isDown: Bool { lock.withLock { since != nil } }

    /// Throws at once while the server is down: `what` was not tried.
    func check(_ url: PostgresURL, _ what: String) throws {
        guard let (since, reason) = lock.withLock({ self.since.map { ($0, reason) } }) else { return }
        let time = ISO8601DateFormatter.string(from: since, timeZone: .current, formatOptions: [.withTime, .withColonSeparatorInTime])
        throw QueueURLError("PostgreSQL at \(url.redacted): \(what) not tried: the server has not answered since \(time) (\(reason)); "
                            + "asking again every \(Int(probeSeconds)) s")
    }

    /// Marks the server down (`reason`: what the failed call said) and starts the probe, which
    /// calls `answers` every `probeSeconds` until it returns true.
    func markDown(_ reason: String, probe answers: @escaping @Sendable () async -> Bool) {
        lock.withLock {
            if since == nil { since = Date() }
            self.reason = reason
            guard probe == nil else { return }
            let every = probeSeconds
            probe = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: UInt64(every * 1e9))
                    if Task.isCancelled { return }
                    if await answers() {
                        self?.markUp()
                        return
                    }
                }
            }
        }
    }

    private func markUp() {
        lock.withLock {
            since = nil
            probe = nil
        }
    }

    /// Ends the probe (the store closes).
    func stop() { lock.withLock { probe }?.cancel() }
}

/// Runs `work` with a time limit: its value, its error, or nil when `seconds` passed first. The
/// work is cancelled then but not waited for (a query on a connection that went silent may not
/// end for minutes; a task group would wait for it).
func firstWithin<T: Sendable>(_ seconds: Double, _ work: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T?, Error>) in
        let once = ResumeOnce(continuation)
        let task = Task {
            do { once.resume(with: .success(try await work())) } catch { once.resume(with: .failure(error)) }
        }
        Task {
            try? await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
            if once.resume(with: .success(nil)) { task.cancel() }
        }
    }
}

/// A continuation resumed by whichever side comes first; the other's result is dropped.
// unchecked: `continuation` is only touched under `lock`.
private final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, Error>?

    init(_ continuation: CheckedContinuation<T, Error>) { self.continuation = continuation }

    /// True when this call resumed it.
    @discardableResult
    func resume(with result: Result<T, Error>) -> Bool {
        guard let c = lock.withLock({ () -> CheckedContinuation<T, Error>? in
            defer { continuation = nil }
            return continuation
        }) else { return false }
        c.resume(with: result)
        return true
    }
}
