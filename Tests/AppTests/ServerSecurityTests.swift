import Foundation
import MajicFluxApp
import XCTest

/// A shared server (docs/API.md, "Security"): bearer tokens, the bind refusal, CORS for one named
/// origin, public names, and the per-client rate limit.
final class ServerSecurityTests: XCTestCase {
    private var consoles: [TestConsole] = []
    private let token = "correct-horse-battery-staple-42"

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
    }

    private func start(_ change: (inout ServerConfiguration) -> Void) async throws -> TestConsole {
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        change(&c)
        let console = try await TestConsole.start(configuration: c, waitForModel: false)
        consoles.append(console)
        return console
    }

    private func request(_ method: String, _ path: String, headers: [String] = [], body: String = "", host: String = "127.0.0.1") -> String {
        var r = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\n"
        for h in headers { r += h + "\r\n" }
        if method != "GET" && method != "OPTIONS" { r += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        return r + "Connection: close\r\n\r\n" + body
    }

    func testMissingOrWrongTokenIs401() async throws {
        let console = try await start { $0.security.authTokens = [token, "another-token-for-someone-else"] }
        let missing = try console.exchange(request("GET", "/api/status"))
        XCTAssertEqual(missing.status, 401, missing.text)
        XCTAssertEqual(missing.header("WWW-Authenticate"), "Bearer realm=\"majicflux\"")
        XCTAssertTrue((missing.json["error"] as? String ?? "").contains("Authorization: Bearer"), missing.text)
        let wrong = try console.exchange(request("GET", "/api/history", headers: ["Authorization: Bearer \(token.dropLast())x"]))
        XCTAssertEqual(wrong.status, 401, wrong.text)
        let basic = try console.exchange(request("GET", "/api/status", headers: ["Authorization: Basic dXNlcjpwYXNz"]))
        XCTAssertEqual(basic.status, 401, basic.text)
        let sdapi = try console.exchange(request("GET", "/sdapi/v1/progress"))
        XCTAssertEqual(sdapi.status, 401, sdapi.text)
        XCTAssertNotNil(sdapi.json["detail"] as? String, "A1111-shaped: \(sdapi.text)")
        let image = try console.exchange(request("GET", "/images/00001-1.png"))
        XCTAssertEqual(image.status, 401, "pictures need the token too")
        let job = try console.exchange(request("POST", "/api/jobs", body: #"{"prompt": "x", "steps": 1, "width": 32, "height": 32}"#))
        XCTAssertEqual(job.status, 401, job.text)

        for t in [token, "another-token-for-someone-else"] {
            let ok = try console.exchange(request("GET", "/api/status", headers: ["Authorization: Bearer \(t)"]))
            XCTAssertEqual(ok.status, 200, ok.text)
        }
        // The cookie the page sets: for GET (EventSource, <img>) only, never for a change.
        let cookie = "Cookie: theme=dark; majicflux_token=\(token)"
        XCTAssertEqual(try console.exchange(request("GET", "/api/jobs", headers: [cookie])).status, 200)
        let cookiePost = try console.exchange(request("POST", "/api/jobs", headers: [cookie], body: #"{"prompt": "x", "steps": 1, "width": 32, "height": 32}"#))
        XCTAssertEqual(cookiePost.status, 401, cookiePost.text)
        let page = try console.exchange(request("GET", "/"))
        XCTAssertEqual(page.status, 200, "the page itself asks for the token")
        XCTAssertTrue(page.text.contains("majicflux.token"), "the page's script keeps the token")
    }

    func testBindingBeyondLoopbackNeedsATokenOrInsecureNoAuth() async throws {
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        c.host = "0.0.0.0"
        XCTAssertThrowsError(try ConsoleServer(configuration: c)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("--auth-token-file") && message.contains("--insecure-no-auth"), message)
        }
        c.security.insecureNoAuth = true
        XCTAssertNoThrow(try ConsoleServer(configuration: c))
        c.security.insecureNoAuth = false
        c.security.authTokens = ["short"]
        XCTAssertThrowsError(try ConsoleServer(configuration: c)) { XCTAssertTrue("\($0)".contains("shorter than"), "\($0)") }
        c.security.authTokens = [token]
        XCTAssertNoThrow(try ConsoleServer(configuration: c))
        c.security.corsOrigin = "*"
        XCTAssertThrowsError(try ConsoleServer(configuration: c)) { XCTAssertTrue("\($0)".contains("--cors-origin"), "\($0)") }
        c.security.corsOrigin = nil
        c.host = "127.0.0.1"
        c.security.authTokens = nil
        XCTAssertNoThrow(try ConsoleServer(configuration: c), "loopback needs neither")

        // The command line refuses before loading anything, naming both options.
        let refused = try TestConsole.runToEnd(["serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--host", "0.0.0.0", "--port", "0"], limit: 60)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.log.contains("--auth-token-file") && refused.log.contains("--insecure-no-auth"), refused.log)
        let file = refused.folder + "/tokens.txt"
        try "# comment\n\n  \(token)  \n".write(toFile: file, atomically: true, encoding: .utf8)
        let withFile = try TestConsole.runToEnd(["serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--host", "0.0.0.0", "--port", "0",
                                                 "--auth-token-file", file, "--insecure-no-auth"], limit: 60)
        XCTAssertNotEqual(withFile.status, 0)
        XCTAssertTrue(withFile.log.contains("contradict"), withFile.log)
    }

    func testCORSOnlyForTheNamedOrigin() async throws {
        let console = try await start { $0.security.corsOrigin = "https://app.example" }
        let app = try console.exchange(request("GET", "/api/status", headers: ["Origin: https://app.example"]))
        XCTAssertEqual(app.header("Access-Control-Allow-Origin"), "https://app.example")
        XCTAssertEqual(app.header("Vary"), "Origin")
        let evil = try console.exchange(request("GET", "/api/status", headers: ["Origin: https://evil.example"]))
        XCTAssertEqual(evil.status, 200)
        XCTAssertNil(evil.header("Access-Control-Allow-Origin"), evil.head)
        let preflight = try console.exchange(request("OPTIONS", "/api/jobs", headers: ["Origin: https://app.example", "Access-Control-Request-Method: POST",
                                                                                   "Access-Control-Request-Headers: content-type, authorization"]))
        XCTAssertEqual(preflight.status, 204, preflight.text)
        XCTAssertEqual(preflight.header("Access-Control-Allow-Origin"), "https://app.example")
        XCTAssertTrue(preflight.header("Access-Control-Allow-Headers")?.contains("Authorization") ?? false, preflight.head)
        let evilPreflight = try console.exchange(request("OPTIONS", "/api/jobs", headers: ["Origin: https://evil.example", "Access-Control-Request-Method: POST"]))
        XCTAssertNil(evilPreflight.header("Access-Control-Allow-Origin"), evilPreflight.head)
        // State changes: the named origin passes the Origin check (then the job is unknown), others are refused.
        let appCancel = try console.exchange(request("POST", "/api/jobs/0123456789abcdef/cancel", headers: ["Origin: https://app.example"]))
        XCTAssertEqual(appCancel.status, 404, appCancel.text)
        let evilCancel = try console.exchange(request("POST", "/api/jobs/0123456789abcdef/cancel", headers: ["Origin: https://evil.example"]))
        XCTAssertEqual(evilCancel.status, 403, evilCancel.text)

        let plain = try await start { _ in }
        let none = try plain.exchange(request("GET", "/api/status", headers: ["Origin: https://app.example"]))
        XCTAssertNil(none.header("Access-Control-Allow-Origin"), "no CORS without --cors-origin")
    }

    func testPublicNamesAreTheOnlyExtraHosts() async throws {
        let console = try await start {
            $0.host = "0.0.0.0"
            $0.security.insecureNoAuth = true
            $0.security.publicNames = ["Flux.Example.com"]
        }
        XCTAssertEqual(try console.exchange(request("GET", "/api/status", host: "flux.example.com:\(console.port)")).status, 200)
        XCTAssertEqual(try console.exchange(request("GET", "/api/status", host: "localhost")).status, 200)
        let other = try console.exchange(request("GET", "/api/status", host: "rebind.attacker.example"))
        XCTAssertEqual(other.status, 421, other.text)
    }

    func testRateLimitAnswers429WithRetryAfter() async throws {
        let console = try await start { $0.security.rateLimit = RateLimit(perSecond: 0.5, burst: 3) }
        for i in 0..<3 {
            XCTAssertEqual(try console.exchange(request("GET", "/api/status")).status, 200, "request \(i) of the burst")
        }
        let limited = try console.exchange(request("GET", "/sdapi/v1/progress"))
        XCTAssertEqual(limited.status, 429, limited.text)
        let retry = Int(limited.header("Retry-After") ?? "") ?? 0
        XCTAssertTrue((1...2).contains(retry), limited.head)
        XCTAssertNotNil(limited.json["detail"] as? String, limited.text)
        XCTAssertEqual(try console.exchange(request("GET", "/")).status, 429, "every path counts")
    }

    /// The page asks for the token once (however many requests were refused), keeps it, and works
    /// with it: the model shows as ready, and a reload does not ask again.
    func testThePageAsksForTheTokenOnceAndKeepsIt() async throws {
        let secret = token
        let console = try await start { $0.security.authTokens = [secret] }
        try await ChromeDevTools.drive(console) { browser in
            try await browser.attachToPage()
            try await browser.call("Page.enable")
            try await browser.call("Runtime.enable")
            // The prompt dialog answered by the test: counts how often the page asks.
            try await browser.call("Page.addScriptToEvaluateOnNewDocument", ["source": "window.__asked = 0; window.prompt = function () { window.__asked += 1; return '\(secret)'; };"])
            for load in 0..<2 {
                try await browser.call("Page.navigate", ["url": console.base + "/"])
                try await browser.waitFor("document.readyState === 'complete'", timeout: 20)
                try await browser.waitFor("document.getElementById('model-status').classList.contains('ready')", timeout: 60)
                let asked = try await browser.evaluate("window.__asked") as? Int
                XCTAssertEqual(asked, load == 0 ? 1 : 0, load == 0 ? "asked once" : "kept: not asked again after a reload")
                let kept = try await browser.evaluate("localStorage.getItem('majicflux.token')") as? String
                XCTAssertEqual(kept, secret)
                let cookie = try await browser.evaluate("document.cookie.includes('majicflux_token=')") as? Bool
                XCTAssertEqual(cookie, true)
            }
        }
    }
}
