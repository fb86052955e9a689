import Foundation
import MajicFluxApp
import XCTest

/// Requests at the edges (issue 23): numbers that overflow, bodies cut short, near-JSON content
/// types, the largest seed, an idle status, and connections that never finish their headers.
final class ConsoleRequestTests: XCTestCase {
    private var consoles: [TestConsole] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
    }

    private func start(idleTimeout: Double? = nil) async throws -> TestConsole {
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        if let idleTimeout { c.idleTimeout = idleTimeout }
        let console = try await TestConsole.start(configuration: c)
        consoles.append(console)
        return console
    }

    /// Sizes whose product overflows `Int` are refused with a message, not a trap that kills the server.
    func testSizesThatOverflowAre400() async throws {
        let console = try await start()
        let cases = [(#"{"prompt":"x","width":4611686018427387904,"height":16}"#, "width must be at most 16384"),
                     (#"{"prompt":"x","width":16,"height":4611686018427387904}"#, "height must be at most 16384"),
                     (#"{"prompt":"x","width":4611686018427387904,"height":4611686018427387904}"#, "at most 16384"),
                     (#"{"prompt":"x","width":9223372036854775792,"height":9223372036854775792}"#, "at most 16384"),
                     (#"{"prompt":"x","width":16384,"height":16384}"#, "above this server's limit")]
        for (body, message) in cases {
            let r = try await console.post("/api/jobs", raw: body)
            XCTAssertEqual(r.status, 400, "\(body): \(r.text)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains(message), "\(body): \(r.text)")
        }
        let alive = try await console.get("/api/status")
        XCTAssertEqual(alive.status, 200)
    }

    /// A body shorter than its Content-Length (the client then stops sending), or broken chunked
    /// framing, is the client's mistake: 400 with a JSON message.
    func testBodyCutShortIs400() async throws {
        let console = try await start()
        let head = "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        let short = try console.exchange(head + "Content-Length: 100\r\n\r\n{\"prompt\": \"x\"", halfClose: true)
        XCTAssertEqual(short.status, 400, short.text)
        XCTAssertTrue((short.json["error"] as? String ?? "").contains("cut short"), short.text)
        let chunked = try console.exchange(head + "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"pro\r\nzz\r\n", halfClose: true)
        XCTAssertEqual(chunked.status, 400, chunked.text)
        let unfinishedChunks = try console.exchange(head + "Transfer-Encoding: chunked\r\n\r\n40\r\n{\"prompt\": \"x\"", halfClose: true)
        XCTAssertEqual(unfinishedChunks.status, 400, unfinishedChunks.text)
        let alive = try await console.get("/api/status")
        XCTAssertEqual(alive.status, 200)
    }

    /// Only `application/json` itself, with or without parameters, in any case (and multipart uploads,
    /// which are parsed as such).
    func testContentTypeMustBeExactlyJSON() async throws {
        let console = try await start()
        let body = Data(#"{"prompt": "x", "steps": 1, "width": 32, "height": 32}"#.utf8)
        for type in ["application/jsonp", "application/json-seq", "application/jsonx; charset=utf-8", "text/plain; application/json",
                     "application/x-www-form-urlencoded"] {
            let r = try await console.send("POST", "/api/jobs", body: body, contentType: type)
            XCTAssertEqual(r.status, 415, "\(type): \(r.text)")
        }
        // multipart/form-data is the picture upload (#18): read as multipart, never as JSON.
        let multipart = try await console.send("POST", "/api/jobs", body: body, contentType: "multipart/form-data; boundary=application/json")
        XCTAssertEqual(multipart.status, 400, multipart.text)
        XCTAssertTrue(multipart.text.contains("does not contain its boundary"), multipart.text)
        for type in ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/json ;charset=UTF-8"] {
            let r = try await console.send("POST", "/api/jobs", body: body, contentType: type)
            XCTAssertEqual(r.status, 202, "\(type): \(r.text)")
            if let id = r.json["id"] as? String { _ = try await console.send("DELETE", "/api/jobs/\(id)") }
        }
    }

    /// docs/API.md allows seeds up to 2^64-1 given as a JSON number: it is kept exactly.
    func testLargestSeedAsJSONNumber() async throws {
        let console = try await start()
        let r = try await console.post("/api/jobs", raw: #"{"prompt": "x", "steps": 1, "width": 32, "height": 32, "seed": 18446744073709551615}"#)
        XCTAssertEqual(r.status, 202, r.text)
        XCTAssertTrue(r.text.contains(#""seed":18446744073709551615"#), r.text)
        let id = try XCTUnwrap(r.json["id"] as? String)
        let end = try await console.events(id).last?.data
        XCTAssertEqual(end?["status"] as? String, "done")
        XCTAssertTrue((end?["image"] as? String ?? "").hasSuffix("-18446744073709551615.png"), "\(end ?? [:])")
        for tooLarge in ["18446744073709551616", "99999999999999999999999", "-9223372036854775809"] {
            let bad = try await console.post("/api/jobs", raw: #"{"prompt": "x", "seed": "# + tooLarge + "}")
            XCTAssertEqual(bad.status, 400, "\(tooLarge): \(bad.text)")
            XCTAssertTrue((bad.json["error"] as? String ?? "").contains("seed must be an integer"), bad.text)
        }
    }

    /// `running` is `null` when idle, as documented, not absent.
    func testIdleStatusHasRunningNull() async throws {
        let console = try await start()
        let status = try await console.get("/api/status")
        XCTAssertTrue(status.text.contains(#""running":null"#), status.text)
        XCTAssertTrue(status.json["running"] is NSNull, status.text)
    }

    /// A known path asked with a method it does not take is 405 with `Allow` (was 404 "no such
    /// endpoint"); the JSON error body of each API; unknown paths stay 404; HEAD follows GET.
    func testAWrongMethodOnAKnownPathIs405WithAllow() async throws {
        let console = try await start()
        let cases: [(String, String, String)] = [("GET", "/api/jobs/abc/cancel", "POST"), ("PUT", "/api/jobs", "GET, HEAD, POST"),
                                                 ("POST", "/api/status", "GET, HEAD"), ("PATCH", "/api/jobs/abc", "DELETE, GET, HEAD")]
        for (method, path, allow) in cases {
            let r = try await console.send(method, path)
            XCTAssertEqual(r.status, 405, "\(method) \(path): \(r.text)")
            XCTAssertEqual(r.header("Allow"), allow, "\(method) \(path)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains("takes \(allow)"), r.text)
        }
        let a1111 = try await console.send("GET", "/sdapi/v1/txt2img")
        XCTAssertEqual(a1111.status, 405, a1111.text)
        XCTAssertEqual(a1111.header("Allow"), "POST")
        XCTAssertEqual(a1111.json["detail"] as? String, "Method Not Allowed", a1111.text)
        let head = try await console.send("HEAD", "/api/jobs/abc/cancel")
        XCTAssertEqual(head.status, 405)
        let unknown = try await console.send("PUT", "/no/such/path"), headStatus = try await console.send("HEAD", "/api/status")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(headStatus.status, 200)
    }

    /// A body trickling in (one byte at a time, each before the idle timer runs out) is cut with 408
    /// once the idle timeout has passed at under 1 KiB/s, and the connection closed: the idle timer
    /// alone restarts with every byte.
    func testABodyTricklingInIsCutAndTheConnectionClosed() async throws {
        let console = try await start(idleTimeout: 1)
        for path in ["/api/prompt-length", "/sdapi/v1/txt2img"] {
            let slow = try console.exchange("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
                                            trickle: Array(repeating: UInt8(ascii: " "), count: 40), every: 0.25, timeout: 15)
            XCTAssertTrue(slow.text.contains(" 408 "), "\(path): \(slow.text)")
            XCTAssertTrue(slow.text.contains("too slowly"), slow.text)
            XCTAssertTrue(slow.closedByServer && slow.seconds < 8, "\(path): held open \(slow.seconds) s")
        }
        let fine = try await console.post("/api/prompt-length", json: ["prompt": "still answering"])
        XCTAssertEqual(fine.status, 200, fine.text)
    }

    /// A connection that never finishes its headers is closed after the idle timeout; a complete
    /// request still works, and an event stream longer than the timeout is not cut.
    func testUnfinishedHeadersAreClosedAfterTheTimeout() async throws {
        let console = try await start(idleTimeout: 1)
        let partial = try console.exchange("GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", timeout: 10)
        XCTAssertTrue(partial.closedByServer, "the half-sent request was held open \(partial.seconds)s")
        XCTAssertLessThan(partial.seconds, 5)
        let silent = try console.exchange("", timeout: 10)
        XCTAssertTrue(silent.closedByServer && silent.seconds < 5, "a connection that sends nothing: \(silent.seconds)s")

        let blocker = try await console.submit(["prompt": "hold the queue", "seed": 1, "steps": 100, "width": 512, "height": 512])
        let id = try XCTUnwrap(blocker["id"] as? String)
        let stream = try console.exchange("GET /api/jobs/\(id)/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", timeout: 2)
        XCTAssertFalse(stream.closedByServer, "an event stream is an answer in progress, not an idle connection")
        XCTAssertTrue(stream.text.contains("event: progress"), stream.text)
        // The tiny model may finish its 100 steps soon after; either way the job is over after this.
        let cancel = try await console.send("DELETE", "/api/jobs/\(id)")
        XCTAssertTrue([200, 409].contains(cancel.status), "\(cancel.status) \(cancel.text)")
    }
}
