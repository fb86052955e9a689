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
final class TestConsole {
    /// nil for a server running in another process (`remote(port:)`).
    let server: ConsoleServer?
    let port: Int
    let outputDirectory: String

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
        let console = TestConsole(server: server, port: port, outputDirectory: c.outputDirectory)
        if waitForModel { try await console.waitUntilReady() }
        return console
    }

    /// A client for a server this process did not start.
    static func remote(port: Int) -> TestConsole { TestConsole(server: nil, port: port, outputDirectory: "") }

    private init(server: ConsoleServer?, port: Int, outputDirectory: String) {
        self.server = server
        self.port = port
        self.outputDirectory = outputDirectory
    }

    func stop() async { await server?.stop() }

    var base: String { "http://127.0.0.1:\(port)" }

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
        let (data, response) = try await session.data(for: r)
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
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { throw TestFailure("connect() failed") }
        let request = Array("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var received = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            received += chunk[0..<n]
        }
        let text = String(decoding: received, as: UTF8.self)
        let parts = text.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw TestFailure("no HTTP answer to \(target): \(text.prefix(200))") }
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (status, body)
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

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
