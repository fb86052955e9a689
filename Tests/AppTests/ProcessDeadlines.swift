import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import MajicFluxApp
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
/// then (`firstWithin`: the body is left to finish or not on its own, as URLSession on Linux does
/// not always stop a request for a cancelled task).
func withDeadline<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    guard let value = try await firstWithin(seconds, body) else { throw TestFailure("\(what): no answer within \(seconds) s") }
    return value
}
