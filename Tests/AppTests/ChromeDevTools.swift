import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Headless Chromium driven through the Chrome DevTools Protocol over `--remote-debugging-pipe`
/// (commands on fd 3, answers on fd 4, each a JSON text ended by a NUL byte). No websocket needed.
final class ChromeDevTools {
    private let pid: pid_t
    private let toChrome: Int32
    private let fromChrome: Int32
    private var buffer: [UInt8] = []
    private var nextID = 0
    /// The page session that `call` targets once `attachToPage` has run.
    private var session: String?
    private var exited = false

    /// Drives a fresh headless Chromium (1280x1000, a throwaway profile) against `console` with
    /// `body`, then shuts the browser and the console down, on failure too. Skips the test when no
    /// Chromium is installed.
    static func drive(_ console: TestConsole, _ body: (ChromeDevTools) async throws -> Void) async throws {
        guard let binary = findBinary() else {
            await console.stop()
            throw XCTSkip("NOTE: Chromium is not installed, so the browser test cannot run (scripts/install-deps.sh installs Debian's chromium package)")
        }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("majicflux-chromium-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let browser = try ChromeDevTools(binary: binary, profile: profile, width: 1280, height: 1000)
        do {
            try await body(browser)
            await browser.shutdown()
        } catch {
            await browser.shutdown()
            await console.stop()
            throw error
        }
        await console.stop()
    }

    /// The Chromium binary, if one is installed.
    static func findBinary() -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/lib/chromium"]
        for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
            for dir in dirs where access(dir + "/" + name, X_OK) == 0 { return dir + "/" + name }
        }
        return nil
    }

    init(binary: String, profile: String, width: Int, height: Int) throws {
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0]
        guard pipe(&input) == 0, pipe(&output) == 0 else { throw TestFailure("pipe() failed") }
        // Move the child's ends above 3 and 4 so the dup2s below cannot clobber each other.
        let childIn = fcntl(input[0], F_DUPFD, 10), childOut = fcntl(output[1], F_DUPFD, 10)
        close(input[0]); close(output[1])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, childIn, 3)
        posix_spawn_file_actions_adddup2(&actions, childOut, 4)
        posix_spawn_file_actions_addclose(&actions, input[1])
        posix_spawn_file_actions_addclose(&actions, output[0])
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--remote-debugging-pipe", "--user-data-dir=\(profile)", "--no-first-run",
                    "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                    "--disable-component-update", "--hide-scrollbars", "--mute-audio", "--lang=zh-CN",
                    "--window-size=\(width),\(height)", "about:blank"]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child = pid_t()
        let rc = posix_spawn(&child, binary, &actions, nil, &argv, environ)
        close(childIn); close(childOut)
        guard rc == 0 else {
            close(input[1]); close(output[0])
            throw TestFailure("could not start \(binary): posix_spawn error \(rc)")
        }
        pid = child
        toChrome = input[1]
        fromChrome = output[0]
        _ = fcntl(fromChrome, F_SETFL, fcntl(fromChrome, F_GETFL) | O_NONBLOCK)
    }

    deinit { close(toChrome); close(fromChrome); if !exited { kill(pid, SIGKILL); waitpid(pid, nil, 0) } }

    /// Sends a command and waits for its answer (events in between are skipped).
    @discardableResult
    func call(_ method: String, _ params: [String: Any] = [:], timeout: Double = 30, browserLevel: Bool = false) async throws -> [String: Any] {
        nextID += 1
        let id = nextID
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if !browserLevel, let session { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(toChrome, $0.baseAddress, $0.count) }
            guard n > 0 else { throw TestFailure("Chromium closed its command pipe") }
            sent += n
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let m = try await nextMessage(deadline: deadline, waitingFor: method)
            guard m["id"] as? Int == id else { continue }
            if let error = m["error"] { throw TestFailure("\(method) failed: \(error)") }
            return m["result"] as? [String: Any] ?? [:]
        }
    }

    private func nextMessage(deadline: Date, waitingFor method: String) async throws -> [String: Any] {
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let data = Data(buffer[..<end])
                buffer.removeSubrange(...end)
                return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let n = chunk.withUnsafeMutableBytes { read(fromChrome, $0.baseAddress, $0.count) }
            if n > 0 { buffer += chunk[0..<n]; continue }
            if n == 0 { throw TestFailure("Chromium exited while waiting for \(method)") }
            if Date() > deadline { throw TestFailure("no answer from Chromium to \(method)") }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }

    /// Attaches to the first page target; later calls go to it.
    func attachToPage() async throws {
        let targets = try await call("Target.getTargets", browserLevel: true)["targetInfos"] as? [[String: Any]] ?? []
        guard let page = targets.first(where: { $0["type"] as? String == "page" })?["targetId"] as? String else {
            throw TestFailure("Chromium has no page target: \(targets)")
        }
        let attached = try await call("Target.attachToTarget", ["targetId": page, "flatten": true], browserLevel: true)
        session = attached["sessionId"] as? String
    }

    /// Runs JavaScript in the page and returns its value.
    func evaluate(_ expression: String) async throws -> Any? {
        let r = try await call("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let exception = r["exceptionDetails"] { throw TestFailure("script failed: \(expression): \(exception)") }
        return (r["result"] as? [String: Any])?["value"]
    }

    /// Waits until a JavaScript expression is true.
    func waitFor(_ expression: String, timeout: Double) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await evaluate(expression) as? Bool == true { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        throw TestFailure("timed out after \(timeout)s waiting for: \(expression)")
    }

    /// A real mouse click (pressed + released) at the centre of the element.
    func click(selector: String) async throws {
        let box = try await evaluate("""
            (() => { const e = document.querySelector(\(Self.quoted(selector))); e.scrollIntoView({block: 'center'});
                     const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()
            """) as? [Double] ?? []
        guard box.count == 2 else { throw TestFailure("no element \(selector)") }
        for type in ["mouseMoved", "mousePressed", "mouseReleased"] {
            try await call("Input.dispatchMouseEvent", ["type": type, "x": box[0], "y": box[1], "button": "left", "clickCount": 1])
        }
    }

    /// Types text into the focused element key by key, as a user does.
    func type(_ text: String) async throws {
        for ch in text {
            try await call("Input.dispatchKeyEvent", ["type": "keyDown", "text": String(ch), "unmodifiedText": String(ch), "key": String(ch)])
            try await call("Input.dispatchKeyEvent", ["type": "keyUp", "key": String(ch)])
        }
    }

    /// A PNG of the whole page.
    func screenshot() async throws -> Data {
        let r = try await call("Page.captureScreenshot", ["format": "png", "captureBeyondViewport": true])
        guard let b64 = r["data"] as? String, let data = Data(base64Encoded: b64) else { throw TestFailure("no screenshot data") }
        return data
    }

    /// Closes the browser and reaps it.
    func shutdown() async {
        _ = try? await call("Browser.close", timeout: 5, browserLevel: true)
        for _ in 0..<100 {
            if waitpid(pid, nil, WNOHANG) == pid { exited = true; return }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, nil, 0)
        exited = true
    }

    static func quoted(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s])
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}
