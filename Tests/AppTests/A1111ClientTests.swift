import Foundation
import MajicFluxApp
import XCTest

/// The A1111 API through a real third-party client: `webuiapi` from PyPI running
/// Tools/a1111_client_check.py against this server on loopback. The Python comes from
/// MAJICFLUX_TEST_PYTHON (scripts/ci-python-client.sh makes one; .ci/run sets it).
final class A1111ClientTests: XCTestCase {
    func testWebUIAPIClient() async throws {
        guard let python = ProcessInfo.processInfo.environment["MAJICFLUX_TEST_PYTHON"], !python.isEmpty else {
            print("A1111ClientTests: skipped, MAJICFLUX_TEST_PYTHON is not set (scripts/ci-python-client.sh prints a Python with webuiapi)")
            throw XCTSkip("MAJICFLUX_TEST_PYTHON is not set: run scripts/ci-python-client.sh and export its output to check the A1111 API with webuiapi")
        }
        let token = "webuiapi-check-token-0123456789"
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        c.security.authTokens = [token]
        c.maxBodyBytes = 64 * 1024
        let console = try await TestConsole.start(configuration: c, waitForModel: false)
        let script = TestConsole.repository.appendingPathComponent("Tools/a1111_client_check.py").path
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("a1111-client-\(UUID().uuidString).txt").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, "--port", String(console.port), "--token", token, "--width", "64", "--height", "64", "--steps", "2"]
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = out
        p.standardError = out
        do { try p.run() } catch {
            await console.stop()
            throw error
        }
        let deadline = Date().addingTimeInterval(240)
        while p.isRunning && Date() < deadline { try await Task.sleep(nanoseconds: 50_000_000) }
        p.stop(within: 10, "the webuiapi client check")
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        print(text)
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("ALL CHECKS PASSED"), text)
        let history = try await console.get("/api/history")
        XCTAssertEqual(history.status, 401, "the history needs the token the client was given")
        await console.stop()
    }
}
