import Foundation
import Models
import XCTest

/// `POST /api/prompt-length` on a running server with the tiny model: the counts are the library's,
/// bad input is a 400/415 naming the problem, and it answers while a job generates.
final class ConsolePromptLengthTests: XCTestCase {
    private var consoles: [TestConsole] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
    }

    func testCountsAreTheLibrarysAndBadInputIsRefused() async throws {
        let console = try await TestConsole.start()
        consoles.append(console)
        let pipeline = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: TestConsole.tinyModel))
        let status = try await console.get("/api/status").json
        let defaultLength = try XCTUnwrap((status["defaults"] as? [String: Any])?["max_sequence_length"] as? Int)

        let short = "a red circle on a white background"
        let a = try await console.post("/api/prompt-length", json: ["prompt": short])
        XCTAssertEqual(a.status, 200, a.text)
        let expected = pipeline.promptLength(short, maxSequenceLength: defaultLength)
        XCTAssertEqual(a.json["t5_tokens"] as? Int, expected.t5Tokens)
        XCTAssertEqual(a.json["clip_tokens"] as? Int, expected.clipTokens)
        XCTAssertEqual(a.json["t5_limit"] as? Int, defaultLength, "the served model's default length when left out")
        XCTAssertEqual(a.json["clip_limit"] as? Int, 77)
        XCTAssertEqual(a.json["t5_truncated"] as? Bool, false)
        XCTAssertTrue(a.json["notice"] is NSNull || a.json["notice"] == nil, a.text)

        // Past the length asked for: truncated, with the notice naming the API's field.
        let long = String(repeating: "a red circle on a blue square, ", count: 30)
        let b = try await console.post("/api/prompt-length", json: ["prompt": long, "max_sequence_length": 64])
        XCTAssertEqual(b.status, 200, b.text)
        let l = pipeline.promptLength(long, maxSequenceLength: 64)
        XCTAssertEqual(b.json["t5_tokens"] as? Int, l.t5Tokens)
        XCTAssertEqual(b.json["t5_limit"] as? Int, 64)
        XCTAssertEqual(b.json["t5_truncated"] as? Bool, true)
        XCTAssertEqual(b.json["clip_truncated"] as? Bool, true)
        let notice = b.json["notice"] as? String ?? ""
        XCTAssertTrue(notice.contains("T5 reads 64 (max_sequence_length, at most 512)"), notice)
        // An empty prompt counts its special tokens only (what the page sends is never empty, but it may be).
        let empty = try await console.post("/api/prompt-length", json: ["prompt": ""])
        XCTAssertEqual(empty.status, 200, empty.text)
        XCTAssertEqual(empty.json["t5_tokens"] as? Int, pipeline.promptLength("", maxSequenceLength: 64).t5Tokens)
        XCTAssertTrue(empty.json.keys.contains("notice") && empty.json["notice"] is NSNull, "notice is null, not left out: \(empty.text)")

        let bad: [(String, Int, String)] = [
            (#"{"max_sequence_length": 64}"#, 400, "prompt is missing"),
            (#"{"prompt": 5}"#, 400, "prompt must be a string, got 5"),
            (#"{"prompt": "x", "max_sequence_length": 0}"#, 400, "max_sequence_length must be between 1 and 512, got 0"),
            (#"{"prompt": "x", "max_sequence_length": 513}"#, 400, "max_sequence_length must be between 1 and 512, got 513"),
            (#"{"prompt": "x", "max_sequence_length": "many"}"#, 400, "max_sequence_length must be an integer"),
            (#"["prompt"]"#, 400, "must be a JSON object"),
            (#"{"prompt": "x""#, 400, "not valid JSON"),
            (#"{"prompt": "\#(String(repeating: "a", count: GenerationLimits.promptCharacters + 1))"}"#, 400,
             "prompt is \(GenerationLimits.promptCharacters + 1) characters long"),
        ]
        for (body, status, message) in bad {
            let r = try await console.post("/api/prompt-length", raw: body)
            XCTAssertEqual(r.status, status, "\(body.prefix(60)): \(r.text)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains(message), "\(body.prefix(60)): \(r.text)")
        }
        let form = try await console.send("POST", "/api/prompt-length", body: Data("prompt=x".utf8), contentType: "application/x-www-form-urlencoded")
        XCTAssertEqual(form.status, 415, form.text)
        let get = try await console.get("/api/prompt-length")
        XCTAssertTrue([404, 405].contains(get.status), "only POST: \(get.status)")
        // A body past the server's limit is 413, and the server goes on answering.
        let huge = try await console.post("/api/prompt-length", raw: #"{"prompt": ""# + String(repeating: "b", count: 2_000_000) + #""}"#)
        XCTAssertEqual(huge.status, 413, huge.text)
        let after = try await console.post("/api/prompt-length", json: ["prompt": short])
        XCTAssertEqual(after.status, 200)
    }

    /// Counting reads the tokenizers only: it answers at once while the model generates.
    func testAnswersWhileAJobRuns() async throws {
        let console = try await TestConsole.start()
        consoles.append(console)
        let job = try await console.submit(["prompt": "hold the worker", "seed": 1, "steps": 100, "width": 512, "height": 512])
        let id = try XCTUnwrap(job["id"] as? String)
        _ = try await console.waitForJob(id) { ($0["step"] as? Int ?? 0) >= 1 }
        let started = Date()
        let r = try await console.post("/api/prompt-length", json: ["prompt": "a small blue square"])
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(r.status, 200, r.text)
        let running = try await console.get("/api/jobs/\(id)").json["status"] as? String
        XCTAssertEqual(running, "running", "the count came back before the job ended (\(seconds) s)")
        XCTAssertLessThan(seconds, 5)
        let cancel = try await console.post("/api/jobs/\(id)/cancel", raw: "")
        XCTAssertEqual(cancel.status, 200)
    }
}
