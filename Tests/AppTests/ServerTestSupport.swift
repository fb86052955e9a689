import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import MajicFluxApp
import Models
import XCTest

/// A console server on an ephemeral port of 127.0.0.1 serving the tiny test model, with its own
/// output folder, plus a real HTTP client (URLSession) pointed at it.
final class TestConsole: Sendable {
    /// nil for a server running in another process (`remote(port:)`).
    let server: ConsoleServer?
    let port: Int
    let outputDirectory: String
    /// The IPv4 address raw connections (`exchange`) go to.
    let address: String

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The tiny random-weight model of the Models tests (64x64 in milliseconds).
    static var tinyModel: String { repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-flux").path }

    /// The project's default model (a small trained FLUX.1 that paints simple shapes), if present.
    static var defaultModel: String? {
        let path = repository.appendingPathComponent("Models/default").path
        return FileManager.default.fileExists(atPath: path + "/model_index.json") ? path : nil
    }

    static func freshOutputDirectory() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("majicflux-serve-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func configuration(outputDirectory: String) throws -> ServerConfiguration {
        var c = ServerConfiguration(files: try FluxModelFiles.resolve(modelDir: tinyModel), modelName: "tiny-flux")
        c.port = 0
        c.outputDirectory = outputDirectory
        c.maxPixels = 512 * 512
        c.maxBodyBytes = 16 * 1024
        c.defaultMaxSequenceLength = 64
        return c
    }

    /// Starts a server and waits until its model is loaded.
    static func start(outputDirectory: String = freshOutputDirectory()) async throws -> TestConsole {
        try await start(configuration: try configuration(outputDirectory: outputDirectory))
    }

    static func start(configuration c: ServerConfiguration, waitForModel: Bool = true) async throws -> TestConsole {
        let server = try ConsoleServer(configuration: c)
        let port = try await server.start()
        // Raw connections go to the bound IPv4 address (tests bind 127.0.0.x or every interface).
        let address = c.host.split(separator: ".").count == 4 && c.host != "0.0.0.0" ? c.host : "127.0.0.1"
        let console = TestConsole(server: server, port: port, outputDirectory: c.outputDirectory, address: address)
        if waitForModel { try await console.waitUntilReady() }
        return console
    }

    /// A client for a server this process did not start.
    static func remote(port: Int) -> TestConsole { TestConsole(server: nil, port: port, outputDirectory: "") }

    /// A client for `majicflux serve` running as `process`, once its stderr (`log`) names the port.
    static func remote(process p: Process, log: String) async throws -> TestConsole {
        for _ in 0..<1000 where p.isRunning {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let r = text.range(of: #"http://127\.0\.0\.1:(\d+)/"#, options: .regularExpression),
               let port = Int(text[r].dropFirst("http://127.0.0.1:".count).dropLast()) {
                return remote(port: port)
            }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        throw TestFailure("serve did not say where it listens: " + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
    }

    private init(server: ConsoleServer?, port: Int, outputDirectory: String, address: String = "127.0.0.1") {
        self.server = server
        self.port = port
        self.outputDirectory = outputDirectory
        self.address = address
    }

    /// The built `majicflux` executable (the test runner sits beside the products in .build/release/).
    static func executable() throws -> URL {
        let products = (Bundle.main.executableURL ?? Bundle.main.bundleURL).deletingLastPathComponent()
        let binary = products.appendingPathComponent("majicflux")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("the majicflux executable is not built beside the tests (\(binary.path))")
        }
        return binary
    }

    /// Runs the built `majicflux` with `arguments` in a fresh folder to the end (at most `limit`
    /// seconds, then it is stopped and the test fails): its exit status, its output and the folder.
    static func runToEnd(_ arguments: [String], limit: Double = 120) throws -> (status: Int32, log: String, folder: String) {
        let (p, log) = try launch(try executable(), arguments)
        let folder = (log as NSString).deletingLastPathComponent
        let deadline = Date().addingTimeInterval(limit)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if p.isRunning { p.terminate(); XCTFail("majicflux \(arguments) kept running") }
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "", folder)
    }

    /// Runs the executable in an empty folder; returns it running, with its stderr going to a file.
    static func launch(_ binary: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> (Process, String) {
        let folder = freshOutputDirectory()
        let log = folder + "/stderr.txt"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.currentDirectoryURL = URL(fileURLWithPath: folder)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return (p, log)
    }

    /// Stops the in-process server; one still stopping after a minute fails the test (and is left).
    func stop(file: StaticString = #filePath, line: UInt = #line) async {
        guard let server else { return }
        do { try await withDeadline(60, "stopping the console") { await server.stop() } } catch { XCTFail("\(error)", file: file, line: line) }
    }

    /// Deletes a stopped server's job database (`majicflux.sqlite` and its WAL files): the history
    /// is rebuilt from the PNGs at the next start.
    static func removeDatabase(in folder: String) throws {
        try FileManager.default.removeItem(atPath: folder + "/majicflux.sqlite")
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: folder + "/majicflux.sqlite" + suffix) }
    }

    var base: String { "http://\(address):\(port)" }

    func waitUntilReady(timeout: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let s = try await get("/api/status")
            let state = (s.json["model"] as? [String: Any])?["state"] as? String
            if state == "ready" { return }
            if state == "failed" { throw TestFailure("model failed to load: \(s.text)") }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        throw TestFailure("the model did not load within \(timeout)s")
    }

    // MARK: HTTP

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
        func header(_ name: String) -> String? {
            headers.first { $0.key.lowercased() == name.lowercased() }?.value
        }
    }

    /// The longest any test request may take, the slowest (an A1111 call of ten CPU pictures, an
    /// event stream followed to its job's end) included.
    static let requestLimit = 240.0

    let session: URLSession = {
        let c = URLSessionConfiguration.ephemeral
        c.timeoutIntervalForRequest = 60
        c.requestCachePolicy = .reloadIgnoringLocalCacheData
        return URLSession(configuration: c)
    }()

    func send(_ method: String, _ path: String, body: Data? = nil, contentType: String = "application/json") async throws -> Reply {
        var r = URLRequest(url: URL(string: base + path)!)
        r.httpMethod = method
        if let body {
            r.httpBody = body
            r.setValue(contentType, forHTTPHeaderField: "Content-Type")
        }
        // Bounded: a request nobody answers fails its test (ProcessDeadlines.swift) instead of the run.
        let (request, session) = (r, self.session)
        let (data, response) = try await withDeadline(Self.requestLimit, "\(method) \(path)") { try await session.data(for: request) }
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (k, v) in http.allHeaderFields { headers["\(k)"] = "\(v)" }
        return Reply(status: http.statusCode, headers: headers, body: data)
    }

    func get(_ path: String) async throws -> Reply { try await send("GET", path) }

    func post(_ path: String, json: [String: Any]) async throws -> Reply {
        try await send("POST", path, body: try JSONSerialization.data(withJSONObject: json))
    }

    func post(_ path: String, raw: String) async throws -> Reply {
        try await send("POST", path, body: Data(raw.utf8))
    }

    /// Submits a job and returns its snapshot (asserting 202).
    func submit(_ json: [String: Any], file: StaticString = #filePath, line: UInt = #line) async throws -> [String: Any] {
        let r = try await post("/api/jobs", json: json)
        XCTAssertEqual(r.status, 202, r.text, file: file, line: line)
        return r.json
    }

    /// Follows a job's Server-Sent Events to the end; returns (event name, JSON) pairs.
    func events(_ id: String) async throws -> [(event: String, data: [String: Any])] {
        let r = try await get("/api/jobs/\(id)/events")
        guard r.status == 200 else { throw TestFailure("events: HTTP \(r.status) \(r.text)") }
        XCTAssertTrue(r.header("Content-Type")?.hasPrefix("text/event-stream") ?? false)
        return ServerSentEventParser.parse(r.text)
    }

    /// Polls a job until `condition` holds for its snapshot.
    func waitForJob(_ id: String, timeout: Double = 60, _ condition: ([String: Any]) -> Bool) async throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let s = try await get("/api/jobs/\(id)").json
            if condition(s) { return s }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        throw TestFailure("job \(id) did not reach the expected state within \(timeout)s")
    }

    /// A request written byte for byte on a TCP socket (URL clients normalise `..` away); returns
    /// the status code and the body.
    func raw(_ target: String) throws -> (status: Int, body: String) {
        let reply = try exchange("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        guard let status = reply.status else { throw TestFailure("no HTTP answer to \(target): \(reply.text.prefix(200))") }
        return (status, reply.body)
    }

    /// What came back on a raw connection: everything read until the server closed it (or `timeout`).
    struct RawReply {
        var bytes: [UInt8]
        /// Whether the server closed the connection (false: the read timed out with it still open).
        var closedByServer: Bool
        /// Seconds from sending to the close (or the timeout).
        var seconds: Double
        var text: String { String(decoding: bytes, as: UTF8.self) }
        /// The first answer's status code, if an answer came.
        var status: Int? {
            guard text.hasPrefix("HTTP/1.") else { return nil }
            let parts = text.split(separator: " ", maxSplits: 2)
            return parts.count >= 2 ? Int(parts[1]) : nil
        }
        var head: String { text.components(separatedBy: "\r\n\r\n").first ?? "" }
        func header(_ name: String) -> String? {
            for line in head.components(separatedBy: "\r\n").dropFirst() {
                let kv = line.split(separator: ":", maxSplits: 1)
                if kv.count == 2, kv[0].lowercased() == name.lowercased() { return kv[1].trimmingCharacters(in: .whitespaces) }
            }
            return nil
        }
        var body: String { text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n") }
        /// The body as JSON; chunked framing (a hex size line before the JSON) is skipped.
        var json: [String: Any] {
            let b = body
            guard let start = b.firstIndex(of: "{"), let end = b.lastIndex(of: "}") else { return [:] }
            return ((try? JSONSerialization.jsonObject(with: Data(b[start...end].utf8))) as? [String: Any]) ?? [:]
        }
    }

    /// Opens a TCP connection, writes `request` byte for byte, optionally half-closes (the client
    /// sends nothing more), and reads until the server closes or `timeout` seconds pass.
    func exchange(_ request: String, halfClose: Bool = false, timeout: Double = 10) throws -> RawReply {
        try exchange(Array(request.utf8), halfClose: halfClose, timeout: timeout)
    }

    /// `exchange` that sends `request`, then `trickle` one byte every `every` seconds (a slow-body
    /// client) until the server answers or closes, then reads the rest as `exchange` does.
    func exchange(_ request: String, trickle: [UInt8], every: Double, timeout: Double = 10) throws -> RawReply {
        try exchange(Array(request.utf8), timeout: timeout, trickle: (trickle, every))
    }

    func exchange(_ request: [UInt8], halfClose: Bool = false, timeout: Double = 10,
                  trickle: (bytes: [UInt8], every: Double)? = nil) throws -> RawReply {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(address)
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { throw TestFailure("connect() failed") }
        let start = Date()
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the server may close before reading everything
            sent += n
        }
        if halfClose { shutdown(fd, Int32(SHUT_WR)) }
        var received = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        for byte in trickle?.bytes ?? [] where Date().timeIntervalSince(start) < timeout {
            Thread.sleep(forTimeInterval: trickle!.every)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { received += chunk[0..<n] }
            if n == 0 || !received.isEmpty { break }  // closed, or answered: stop sending
            if [byte].withUnsafeBytes({ Glibc.send(fd, $0.baseAddress!, 1, Int32(MSG_NOSIGNAL)) }) <= 0 { break }
        }
        while true {
            let left = timeout - Date().timeIntervalSince(start)
            if left <= 0 { return RawReply(bytes: received, closedByServer: false, seconds: timeout) }
            var tv = timeval()
            tv.tv_sec = .init(left)
            tv.tv_usec = .init((left - Double(Int(left))) * 1e6)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { received += chunk[0..<n]; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { continue }
            return RawReply(bytes: received, closedByServer: true, seconds: Date().timeIntervalSince(start))
        }
    }
}

/// Splits a text/event-stream body into events.
enum ServerSentEventParser {
    static func parse(_ text: String) -> [(event: String, data: [String: Any])] {
        var out: [(String, [String: Any])] = []
        for block in text.components(separatedBy: "\n\n") {
            var name = "message", data = ""
            for line in block.split(separator: "\n") {
                if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data += line.dropFirst(6) }
            }
            if data.isEmpty { continue }
            let json = (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:]
            out.append((name, json))
        }
        return out
    }
}

/// A small seeded generator (SplitMix64), so that a fuzz failure can be replayed from its seed.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
