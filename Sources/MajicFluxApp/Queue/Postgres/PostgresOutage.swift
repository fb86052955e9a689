import Foundation

/// The PostgreSQL store's view of an outage. Without it every call made while the server was down
/// waited for the pool's connection attempts (67 s for the console's first status call, measured),
/// so the page froze. Now a call that finds the server unreachable, or gets no answer within
/// `PostgresJobStore.callSeconds`, marks the server down; while it is down calls fail at once with
/// why, and one probe asks the server every `probeSeconds` until it answers again.
final class PostgresOutage: @unchecked Sendable {
    // unchecked: `since`, `reason` and `probe` are only touched under `lock`.
    private let lock = NSLock()
    private var since: Date?
    private var reason = ""
    private var probe: Task<Void, Never>?
    let probeSeconds: Double

    init(probeSeconds: Double = 2) { self.probeSeconds = probeSeconds }

    /// Throws at once while the server is down: `what` was not tried.
    func check(_ url: PostgresURL, _ what: String) throws {
        guard let (since, reason) = lock.withLock({ self.since.map { ($0, reason) } }) else { return }
        let time = ISO8601DateFormatter.string(from: since, timeZone: .current, formatOptions: [.withTime, .withColonSeparatorInTime])
        throw QueueURLError("PostgreSQL at \(url.redacted): \(what) not tried: the server has not answered since \(time) (\(reason)); "
                            + "asking again every \(Int(probeSeconds)) s", unreachable: true)
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

