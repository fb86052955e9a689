import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// `majicflux serve` (and `worker`, which arms the same StopDeadline) stops gracefully at a first
/// SIGTERM or SIGINT and at once at a second one: a graceful stop that hangs can always be ended
/// with Ctrl-C again, as operators expect.
final class StopSignalTests: XCTestCase {
    func testOneSignalStopsGracefullyAndASecondEndsAtOnce() async throws {
        let arguments = ["serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--port", "0"]
        let (gentle, gentleLog) = try TestConsole.launch(try TestConsole.executable(), arguments)
        _ = try await TestConsole.remote(process: gentle, log: gentleLog)
        kill(gentle.processIdentifier, SIGTERM)
        gentle.waitForExit(within: 30, "serve after SIGTERM", log: gentleLog)
        let gentleText = (try? String(contentsOfFile: gentleLog, encoding: .utf8)) ?? ""
        XCTAssertEqual(gentle.terminationStatus, 0, gentleText)
        XCTAssertTrue(gentleText.contains("stopping (a second Ctrl-C or SIGTERM ends it at once)"), gentleText)
        XCTAssertTrue(gentleText.hasSuffix("stopped\n"), gentleText)

        let (hasty, hastyLog) = try TestConsole.launch(try TestConsole.executable(), arguments)
        _ = try await TestConsole.remote(process: hasty, log: hastyLog)
        kill(hasty.processIdentifier, SIGTERM)
        kill(hasty.processIdentifier, SIGINT)
        hasty.waitForExit(within: 30, "serve after two signals", log: hastyLog)
        let hastyText = (try? String(contentsOfFile: hastyLog, encoding: .utf8)) ?? ""
        XCTAssertTrue(hastyText.contains("majicflux serve: second signal, ending now"), hastyText)
        XCTAssertEqual(hasty.terminationReason, .exit, "it ends itself, not by the signal's default action")
        XCTAssertTrue([128 + SIGTERM, 128 + SIGINT].contains(hasty.terminationStatus), "\(hasty.terminationStatus)")
    }
}
