import Foundation
import MajicFluxApp
import XCTest

/// Who may talk to the console (docs/API.md, "Who may talk to the console"): only the bound host
/// names (DNS rebinding), no state change from another site's page (Origin), no framing.
final class ConsoleHostOriginTests: XCTestCase {
    private var consoles: [TestConsole] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
    }

    private func start(host: String = "127.0.0.1") async throws -> TestConsole {
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        c.host = host
        c.security.insecureNoAuth = !ServerSecurity.isLoopback(host)  // beyond loopback needs a token or this
        let console = try await TestConsole.start(configuration: c)
        consoles.append(console)
        return console
    }

    private func request(_ method: String, _ path: String, host: String?, origin: String? = nil,
                         contentType: String? = nil, body: String = "") -> String {
        var r = "\(method) \(path) HTTP/1.1\r\n"
        if let host { r += "Host: \(host)\r\n" }
        if let origin { r += "Origin: \(origin)\r\n" }
        if let contentType { r += "Content-Type: \(contentType)\r\n" }
        if method != "GET" { r += "Content-Length: \(body.utf8.count)\r\n" }
        return r + "Connection: close\r\n\r\n" + body
    }

    /// A foreign Host (DNS rebinding) reads nothing and queues nothing; the bound names work with any port.
    func testOnlyTheBoundHostNamesAreAnswered() async throws {
        let console = try await start()
        let attacker = "attacker.example:\(console.port)"
        let history = try console.exchange(request("GET", "/api/history", host: attacker))
        XCTAssertEqual(history.status, 421, history.text)
        XCTAssertTrue((history.json["error"] as? String ?? "").contains("DNS rebinding"), history.text)
        XCTAssertFalse(history.body.contains("items"), "no history through a foreign name")
        let job = try console.exchange(request("POST", "/api/jobs", host: attacker, contentType: "application/json",
                                               body: #"{"prompt": "x", "steps": 1, "width": 32, "height": 32}"#))
        XCTAssertEqual(job.status, 421, job.text)
        let jobs = try await console.get("/api/jobs").json["jobs"] as? [Any]
        XCTAssertEqual(jobs?.count, 0, "the refused job was not queued")

        for good in ["127.0.0.1", "127.0.0.1:\(console.port)", "localhost", "LOCALHOST:1", "[::1]", "[::1]:\(console.port)"] {
            let r = try console.exchange(request("GET", "/api/status", host: good))
            XCTAssertEqual(r.status, 200, "Host \(good): \(r.text)")
        }
        for bad in ["127.0.0.1.attacker.example", "localhost.attacker.example:\(console.port)", "evil@127.0.0.1", "127.0.0.2"] {
            let r = try console.exchange(request("GET", "/api/status", host: bad))
            XCTAssertTrue([400, 421].contains(r.status ?? 0), "Host \(bad): \(r.text)")
            XCTAssertFalse((r.json["error"] as? String ?? "").isEmpty, "Host \(bad): \(r.text)")
        }
        let none = try console.exchange("GET /api/status HTTP/1.0\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(none.status, 400, none.text)
        XCTAssertTrue((none.json["error"] as? String ?? "").contains("no Host"), none.text)
        let two = try console.exchange("GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(two.status, 400, two.text)
    }

    /// The `--host` value is one of the bound names.
    func testTheHostOptionValueIsAccepted() async throws {
        let console = try await start(host: "127.0.0.2")
        let own = try console.exchange(request("GET", "/api/status", host: "127.0.0.2:\(console.port)"))
        XCTAssertEqual(own.status, 200, own.text)
        let other = try console.exchange(request("GET", "/api/status", host: "127.0.0.3:\(console.port)"))
        XCTAssertEqual(other.status, 421, other.text)
    }

    /// Another site's page cannot cancel or queue jobs, whatever the Content-Type; the console's own
    /// page (Origin = Host) and clients without Origin can.
    func testForeignOriginCannotChangeAnything() async throws {
        let console = try await start()
        let host = "127.0.0.1:\(console.port)"
        let blocker = try await console.submit(["prompt": "hold the queue", "seed": 1, "steps": 100, "width": 512, "height": 512])
        let id = try XCTUnwrap(blocker["id"] as? String)
        for origin in ["http://attacker.example", "http://attacker.example:\(console.port)", "null", "http://localhost:\(console.port)",
                       "http://127.0.0.1:1", "http://127.0.0.1"] {
            let cancel = try console.exchange(request("POST", "/api/jobs/\(id)/cancel", host: host, origin: origin, contentType: "text/plain"))
            XCTAssertEqual(cancel.status, 403, "Origin \(origin): \(cancel.text)")
            XCTAssertTrue((cancel.json["error"] as? String ?? "").contains("cross-site"), cancel.text)
            let delete = try console.exchange(request("DELETE", "/api/jobs/\(id)", host: host, origin: origin))
            XCTAssertEqual(delete.status, 403, "Origin \(origin): \(delete.text)")
            let submit = try console.exchange(request("POST", "/api/jobs", host: host, origin: origin, contentType: "application/json",
                                                      body: #"{"prompt": "x", "steps": 1, "width": 32, "height": 32}"#))
            XCTAssertEqual(submit.status, 403, "Origin \(origin): \(submit.text)")
        }
        let still = try await console.get("/api/jobs")
        XCTAssertEqual((still.json["jobs"] as? [[String: Any]])?.map { $0["id"] as? String }, [id], "nothing queued, nothing cancelled")
        // Reading with a foreign Origin is not refused here: without CORS headers the browser hides the answer.
        let read = try console.exchange(request("GET", "/api/status", host: host, origin: "http://attacker.example"))
        XCTAssertEqual(read.status, 200, read.text)
        // The console's own page.
        let own = try console.exchange(request("POST", "/api/jobs/\(id)/cancel", host: host, origin: "http://\(host)"))
        XCTAssertEqual(own.status, 200, own.text)
        XCTAssertEqual(own.json["id"] as? String, id)
    }

    /// Bound to every interface: any Host is answered (the machine's names are unknown), but the
    /// Origin must still equal the Host.
    func testBindAllAcceptsAnyHostButStillChecksOrigin() async throws {
        let console = try await start(host: "0.0.0.0")
        let name = "gpu-box.lan:\(console.port)"
        let status = try console.exchange(request("GET", "/api/status", host: name))
        XCTAssertEqual(status.status, 200, status.text)
        let foreign = try console.exchange(request("POST", "/api/jobs/0123456789abcdef/cancel", host: name, origin: "http://attacker.example"))
        XCTAssertEqual(foreign.status, 403, foreign.text)
        let own = try console.exchange(request("POST", "/api/jobs/0123456789abcdef/cancel", host: name, origin: "http://\(name)"))
        XCTAssertEqual(own.status, 404, "passes the Origin check, then the job is unknown: \(own.text)")
    }

    /// Every answer forbids framing; the page keeps its own policy.
    func testEveryAnswerForbidsFraming() async throws {
        let console = try await start()
        let page = try await console.get("/")
        XCTAssertEqual(page.header("X-Frame-Options"), "DENY")
        let csp = page.header("Content-Security-Policy") ?? ""
        XCTAssertTrue(csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"), csp)
        XCTAssertTrue(csp.contains("frame-ancestors 'none'"), csp)
        for path in ["/api/status", "/api/nothing"] {
            let r = try await console.get(path)
            XCTAssertEqual(r.header("X-Frame-Options"), "DENY", path)
            XCTAssertEqual(r.header("Content-Security-Policy"), "frame-ancestors 'none'", path)
        }
        let refused = try console.exchange(request("GET", "/", host: "attacker.example"))
        XCTAssertEqual(refused.header("X-Frame-Options"), "DENY", refused.text)
    }
}
