import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// Bounded waits for the processes and requests the tests start. A server that does not stop on
/// SIGTERM, or a request nobody answers, fails its test with what it was doing, instead of holding
/// the whole run until CI's time limit (the project's CI once ran out of time with no word of where).
extension Process {
    /// SIGTERM, then waits at most `seconds` for the process to end; one still running then is killed
    /// with SIGKILL and the test fails, naming `what` and the tail of `log`. True when it stopped by itself.
    @discardableResult
    func stop(within seconds: Double = 30, _ what: String, log: String? = nil,
              file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard isRunning else { return true }
        terminate()
        return waitForExit(within: seconds, what + " (after SIGTERM)", log: log, file: file, line: line)
    }

    /// Waits at most `seconds` for the process to end by itself; else kills it (SIGKILL), waits for
    /// that and fails the test. True when it ended in time.
    @discardableResult
    func waitForExit(within seconds: Double = 120, _ what: String, log: String? = nil,
                     file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        guard isRunning else { waitUntilExit(); return true }
        kill(processIdentifier, SIGKILL)
        waitUntilExit()
        let tail = log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }.map { "\n" + String($0.suffix(3000)) } ?? ""
        XCTFail("\(what): still running after \(seconds) s; killed\(tail)", file: file, line: line)
        return false
    }
}

/// Runs `body`, failing with "`what`: no answer within `seconds` s" when it has not finished by
/// then. The body is left to finish (or not) on its own: URLSession on Linux does not always stop
/// a request for a cancelled task, and a task group would wait for it.
func withDeadline<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let once = ResumeOnce(continuation)
        let work = Task {
            do { once.resume(with: .success(try await body())) } catch { once.resume(with: .failure(error)) }
        }
        Task {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            if once.resume(with: .failure(TestFailure("\(what): no answer within \(seconds) s"))) { work.cancel() }
        }
    }
}

/// A continuation resumed by whichever side comes first; the other's result is dropped.
// unchecked: `continuation` is only touched under `lock`.
private final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, Error>?

    init(_ continuation: CheckedContinuation<T, Error>) { self.continuation = continuation }

    /// True when this call resumed it (it came first).
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
