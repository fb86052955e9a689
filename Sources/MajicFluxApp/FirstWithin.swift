import Foundation

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
