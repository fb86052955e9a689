import Foundation

/// Wakes one waiting task: `signal()` from anywhere, `wait(timeout:)` in the waiter. A signal sent
/// while nobody waits is kept for the next wait (so none is lost between a check and the wait).
// unchecked: `pending`, `waiter` and `generation` are only touched under `lock`.
final class WakeSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var pending = false
    private var waiter: CheckedContinuation<Void, Never>?
    private var generation = 0

    func signal() {
        let c = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            if let w = waiter {
                waiter = nil
                return w
            }
            pending = true
            return nil
        }
        c?.resume()
    }

    /// Returns at the next signal (or at once for one already sent), or after `timeout` seconds.
    func wait(timeout: Double) async {
        let ticket = lock.withLock { () -> Int? in
            if pending {
                pending = false
                return nil
            }
            generation += 1
            return generation
        }
        guard let ticket else { return }
        let timer = Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1e9))
            self?.expire(ticket)
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = lock.withLock { () -> Bool in
                // Signalled (or timed out) between the ticket and here.
                if pending || generation != ticket {
                    pending = false
                    return true
                }
                waiter = c
                return false
            }
            if resumeNow { c.resume() }
        }
        timer.cancel()
    }

    /// The timer of wait `ticket` ran out: resume it if it still waits.
    private func expire(_ ticket: Int) {
        let c = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            guard generation == ticket else { return nil }
            generation += 1  // a later check sees this wait as over
            defer { waiter = nil }
            return waiter
        }
        c?.resume()
    }
}
