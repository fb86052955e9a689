import Foundation
import MajicFluxApp
import Tensor
import XCTest

/// Seeded random requests against a running console. Whatever arrives, the server answers with a
/// 2xx or 4xx (never a 5xx, never a trap), follows the Host/Origin policy exactly, and keeps serving.
/// A failure message carries the seed and the request, so it can be replayed.
final class ConsoleFuzzTests: XCTestCase {
    private var console: TestConsole?

    override func tearDown() async throws {
        await console?.stop()
        console = nil
    }

    /// A short idle timeout: requests that stall (a length that promises more, never sent) end quickly.
    private func start() async throws -> TestConsole {
        var configuration = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        configuration.idleTimeout = 1
        let c = try await TestConsole.start(configuration: configuration)
        console = c
        return c
    }

    /// Numbers at and past every integer and floating-point edge, as JSON literals.
    static let numbers = ["0", "-0", "1", "-1", "15", "16", "32", "17", "100", "101", "512", "513", "16384", "16400",
                          "4611686018427387904", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                          "18446744073709551615", "18446744073709551616", "-18446744073709551616", "100000000000000000000000000000",
                          "1e308", "-1e308", "1.7976931348623157e308", "4.9e-324", "0.5", "16.0", "1e2", "4.611686018427387904e18",
                          "1e15", "-1e15", "3.4028235e38", "3.5e38"]
    static let others = ["null", "true", "false", #""""#, #""abc""#, #"" 16 ""#, #""1e999""#, #""NaN""#, #""inf""#, #""-1""#,
                         #""18446744073709551615""#, #""4611686018427387904""#, "[]", "[16]", "{}", #"{"a": 1}"#,
                         #""\u0000""#, #""model""#, #""diffsynth""#]
    static let fields = ["prompt", "negative_prompt", "seed", "steps", "width", "height", "guidance", "true_cfg_scale",
                         "max_sequence_length", "schedule", "shift"]

    /// Job bodies with random fields and extreme values: 202 or 4xx with a JSON message, never 5xx.
    func testRandomJobBodiesNeverGet5xx() async throws {
        let console = try await start()
        let seed = UInt64(20_230_023)
        var rng = SeededRandom(seed: seed)
        for i in 0..<400 {
            var members: [String] = []
            if Int.random(in: 0..<10, using: &rng) > 0 { members.append(#""prompt": "x""#) }
            for field in Self.fields.shuffled(using: &rng).prefix(Int.random(in: 1...5, using: &rng)) {
                let pool = Int.random(in: 0..<4, using: &rng) == 0 ? Self.others : Self.numbers
                members.append("\"\(field)\": \(pool.randomElement(using: &rng)!)")
            }
            let body = "{" + members.joined(separator: ", ") + "}"
            let r = try await console.post("/api/jobs", raw: body)
            let context = "seed \(seed) case \(i): \(body) -> \(r.status) \(r.text.prefix(300))"
            XCTAssertTrue(r.status == 202 || (400..<500).contains(r.status), context)
            if r.status != 202 { XCTAssertFalse((r.json["error"] as? String ?? "").isEmpty, context) }
            if let id = r.json["id"] as? String { _ = try await console.send("DELETE", "/api/jobs/\(id)") }
        }
        let alive = try await console.get("/api/status")
        XCTAssertEqual(alive.status, 200)
    }

    /// The metadata endpoints (`/api/prompt-length`, `/api/picture-parameters`, `/sdapi/v1/png-info`)
    /// with random values and damaged pictures (PNG, JPEG, WebP with their parameters, bytes changed,
    /// cut or repeated): 200 or 4xx with a message, never a 5xx, and the server keeps serving.
    func testMetadataEndpointsTakeRandomValuesAndDamagedPictures() async throws {
        let console = try await start()
        let seed = UInt64(20_261_204)
        var rng = SeededRandom(seed: seed)
        let picture = try TestPictures.image(width: 24, height: 16)
        let infotext = "a fox <lora:ink:0.5>\nNegative prompt: blur\nSteps: 20, Seed: 7, Size: 24x16, CFG scale: 1"
        let exif = EXIFUserComment.payload(infotext)
        let pictures = [try PNG.encode(picture, text: [("parameters", infotext), ("majicflux", #"{"prompt": "x", "seed": 1}"#)]),
                        try JPEG.encode(picture, exif: exif), try WebP.encode(picture, exif: exif), try WebP.encode(picture, lossless: true, exif: exif)]
        for i in 0..<300 {
            var bytes = pictures.randomElement(using: &rng)!
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: for _ in 0..<Int.random(in: 1...6, using: &rng) { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            case 1: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
            case 2: bytes += bytes.suffix(Int.random(in: 1...64, using: &rng))
            default: break
            }
            let image: String = Int.random(in: 0..<8, using: &rng) == 0 ? Self.others.randomElement(using: &rng)!
                : "\"" + (Bool.random(using: &rng) ? "data:image/png;base64," : "") + Data(bytes).base64EncodedString() + "\""
            let (path, body) = [("/api/picture-parameters", #"{"image": \#(image)}"#), ("/sdapi/v1/png-info", #"{"image": \#(image)}"#),
                                ("/api/prompt-length", #"{"prompt": \#((Self.others + [#""a cat""#]).randomElement(using: &rng)!), "max_sequence_length": \#((Self.numbers + Self.others).randomElement(using: &rng)!)}"#)]
                .randomElement(using: &rng)!
            let r = try await console.post(path, raw: body)
            let context = "seed \(seed) case \(i): \(path) \(body.prefix(120)) -> \(r.status) \(r.text.prefix(300))"
            XCTAssertTrue(r.status == 200 || (400..<500).contains(r.status), context)
            if r.status != 200 { XCTAssertFalse(r.text.isEmpty, context) }
        }
        let alive = try await console.get("/api/status")
        XCTAssertEqual(alive.status, 200)
    }

    /// Raw requests with broken framing — bodies cut anywhere, lengths that lie, bad chunks, odd
    /// content types — on real sockets: any answer is below 500, and the server keeps serving.
    func testRandomBrokenRequestsNeverGet5xx() async throws {
        let console = try await start()
        let seed = UInt64(23)
        var rng = SeededRandom(seed: seed)
        let json = #"{"prompt": "x", "steps": 1, "width": 32, "height": 32, "seed": 18446744073709551615}"#
        let types = ["application/json", "application/jsonp", "application/json; charset=utf-8", "text/plain", "", "application/json;",
                     "APPLICATION/JSON", "application/json\t", "*/*"]
        for i in 0..<100 {
            let body = String(json.prefix(Int.random(in: 0...json.count, using: &rng)))
            var head = "POST \(["/api/jobs", "/api/jobs/0123456789abcdef/cancel"].randomElement(using: &rng)!) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            let type = types.randomElement(using: &rng)!
            if !type.isEmpty { head += "Content-Type: \(type)\r\n" }
            var payload: String
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: payload = "Content-Length: \(json.utf8.count)\r\n\r\n" + body  // a length that promises more
            case 1: payload = "Content-Length: \(Int.random(in: 0...200, using: &rng))\r\n\r\n" + body
            case 2: payload = "Transfer-Encoding: chunked\r\n\r\n" + String(body.utf8.count + Int.random(in: -3...3, using: &rng), radix: 16)
                        + "\r\n" + body + ["\r\n0\r\n\r\n", "\r\n", "", "zz\r\n"].randomElement(using: &rng)!
            default: payload = "Content-Length: \(body.utf8.count)\r\n\r\n" + body
            }
            let request = head + payload
            let r = try console.exchange(request, halfClose: Int.random(in: 0..<4, using: &rng) > 0, timeout: 5)
            let context = "seed \(seed) case \(i): \(request.debugDescription) -> \(r.text.prefix(300))"
            if let status = r.status {
                XCTAssertLessThan(status, 500, context)
                if let id = r.json["id"] as? String { _ = try await console.send("DELETE", "/api/jobs/\(id)") }
            }
        }
        let alive = try await console.get("/api/status")
        XCTAssertEqual(alive.status, 200)
    }

    /// Random Host and Origin headers against an independent statement of the rule: a Host is
    /// answered iff its name is 127.0.0.1, localhost or [::1] (any case) with an optional port of
    /// 1-5 digits; a state change with an Origin goes through iff the Origin is this console.
    func testRandomHostAndOriginHeadersFollowThePolicy() async throws {
        let console = try await start()
        let seed = UInt64(6006)
        var rng = SeededRandom(seed: seed)
        let names = ["127.0.0.1", "localhost", "LocalHost", "[::1]", "[::1", "::1", "attacker.example", "127.0.0.1.attacker.example",
                     "localhost.attacker", "127.0.0.1@evil", "evil@127.0.0.1", "127.0.0.2", "0.0.0.0", "2130706433",
                     "[::ffff:127.0.0.1]", "127.0.0.1 ", "local host", "xn--localhost", ""]
        let ports = ["", ":", ":\(console.port)", ":0", ":99999", ":abc", ":123456", "/x", ":80:80"]
        func accepted(_ host: String) -> Bool {
            let lower = host.trimmingCharacters(in: .whitespaces).lowercased()
            for name in ["127.0.0.1", "localhost", "[::1]"] where lower.hasPrefix(name) {
                let rest = lower.dropFirst(name.count)
                if rest.isEmpty { return true }
                let port = rest.dropFirst()
                return rest.first == ":" && (1...5).contains(port.count) && port.allSatisfy { $0.isASCII && $0.isNumber }
            }
            return false
        }
        for i in 0..<150 {
            let host = names.randomElement(using: &rng)! + ports.randomElement(using: &rng)!
            let r = try console.exchange("GET /api/status HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
            let context = "seed \(seed) case \(i): Host \(host.debugDescription) -> \(r.text.prefix(300))"
            if accepted(host) {
                XCTAssertEqual(r.status, 200, context)
            } else {
                XCTAssertTrue([400, 421].contains(r.status ?? 0), context)
            }
        }
        let own = "127.0.0.1:\(console.port)"
        let origins = ["http://\(own)", "HTTP://\(own)", "https://\(own)", "http://localhost:\(console.port)", "http://127.0.0.1",
                       "http://\(own).attacker.example", "http://attacker.example/?\(own)", "null", "", "file://", "http://\(own)/",
                       "http://[::1]:\(console.port)", "http://attacker.example:\(console.port)", "ftp://\(own)"]
        for i in 0..<60 {
            let origin = origins.randomElement(using: &rng)!
            let r = try console.exchange("POST /api/jobs/0123456789abcdef/cancel HTTP/1.1\r\nHost: \(own)\r\nOrigin: \(origin)\r\n"
                                         + "Content-Type: text/plain\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            let context = "seed \(seed) case \(i): Origin \(origin.debugDescription) -> \(r.text.prefix(300))"
            let same = ["http://\(own)", "https://\(own)"].contains(origin.lowercased())
            XCTAssertEqual(r.status, same ? 404 : 403, context)  // 404: through the check, then an unknown job
        }
    }
}
