import Foundation
import XCTest
import Models

final class CLIPTokenizerTests: XCTestCase {
    static let tokenizer: CLIPTokenizer = try! CLIPTokenizer(
        directory: TokenizerCorpus.fixturesURL.appendingPathComponent("clip-tokenizer").path)

    /// Exact ids of transformers.CLIPTokenizer (5.x) on every prompt of the corpus (untruncated).
    func testCorpusParityWithTransformers() {
        let corpus = TokenizerCorpus.shared
        XCTAssertGreaterThanOrEqual(corpus.prompts.count, 2000)
        var mismatches = 0
        for (i, prompt) in corpus.prompts.enumerated() {
            let got = Self.tokenizer.encode(prompt)
            if got != corpus.clip[i] {
                mismatches += 1
                if mismatches <= 10 {
                    print("CLIP mismatch #\(i) \(prompt.debugDescription.prefix(120))\n  got  \(got.prefix(40))\n  want \(corpus.clip[i].prefix(40))")
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "prompts whose ids differ from transformers.CLIPTokenizer")
    }

    /// Known ids of openai/clip-vit-large-patch14 for a plain prompt.
    func testKnownIDs() {
        XCTAssertEqual(Self.tokenizer.encode("a photo of a cat"), [49406, 320, 1125, 539, 320, 2368, 49407])
        XCTAssertEqual(Self.tokenizer.bosTokenID, 49406)
        XCTAssertEqual(Self.tokenizer.eosTokenID, 49407)
        XCTAssertEqual(Self.tokenizer.padTokenID, 49407)
        XCTAssertEqual(Self.tokenizer.maxLength, 77)
        XCTAssertEqual(Self.tokenizer.vocabularySize, 49408)
    }

    /// Pad to 77 with the pad id; truncate to BOS + 75 tokens + EOS (as diffusers calls it; the
    /// fixture script asserts this rule against transformers for every corpus prompt).
    func testPaddingAndTruncation() {
        let corpus = TokenizerCorpus.shared
        var long = 0, short = 0
        for (i, prompt) in corpus.prompts.enumerated() {
            let want = corpus.clip[i]
            let got = Self.tokenizer.encode(prompt, length: 77)
            XCTAssertEqual(got.count, 77)
            if want.count > 77 {
                long += 1
                XCTAssertEqual(Array(got[..<76]), Array(want[..<76]))
                XCTAssertEqual(got[76], 49407)
            } else {
                short += 1
                XCTAssertEqual(Array(got[..<want.count]), want)
                XCTAssertTrue(got[want.count...].allSatisfy { $0 == 49407 })
            }
        }
        XCTAssertGreaterThan(long, 50)
        XCTAssertGreaterThan(short, 1000)
        XCTAssertEqual(Self.tokenizer.encode("", length: 5), [49406, 49407, 49407, 49407, 49407])
        XCTAssertEqual(Self.tokenizer.encode("a photo of a cat", length: 4), [49406, 320, 1125, 49407])
    }

    /// `pad_token` from tokenizer_config.json is honoured (Stable Diffusion 2 style pads with "!" = 0).
    func testPadTokenFromConfig() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = TokenizerCorpus.fixturesURL.appendingPathComponent("clip-tokenizer")
        for f in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        try #"{"pad_token": "!", "model_max_length": 8}"#.write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        let t = try CLIPTokenizer(directory: dir.path)
        XCTAssertEqual(t.padTokenID, 0)
        XCTAssertEqual(t.maxLength, 8)
        XCTAssertEqual(t.encode("a cat"), [49406, 320, 2368, 49407])
        XCTAssertEqual(t.encode("a cat", length: nil), [49406, 320, 2368, 49407, 0, 0, 0, 0])
        // Without a config: transformers' defaults (pad = <|endoftext|>, length 77).
        try FileManager.default.removeItem(at: dir.appendingPathComponent("tokenizer_config.json"))
        let d = try CLIPTokenizer(directory: dir.path)
        XCTAssertEqual(d.padTokenID, 49407)
        XCTAssertEqual(d.encode("<|endoftext|>a"), [49406, 49407, 320, 49407])
    }

    /// Missing and corrupt files give thrown errors that name the file.
    func testMissingAndCorruptFiles() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func expectError(_ file: String, _ kind: String, line: UInt = #line) {
            XCTAssertThrowsError(try CLIPTokenizer(directory: dir.path), line: line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(file) && text.contains(kind), "expected \(file) / \(kind), got: \(text)", line: line)
            }
        }
        expectError("vocab.json", "not found")
        try "{\"a\": 0, \"b\":".write(to: dir.appendingPathComponent("vocab.json"), atomically: true, encoding: .utf8)
        expectError("vocab.json", "malformed")
        try #"{"a": 0, "b": 1, "ab": 2, "a</w>": 3, "b</w>": 4, "ab</w>": 5}"#.write(to: dir.appendingPathComponent("vocab.json"), atomically: true, encoding: .utf8)
        expectError("merges.txt", "not found")
        try "#version: 0.2\na b\nthree parts here\n".write(to: dir.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
        expectError("merges.txt", "line 3")
        try "#version: 0.2\na c\n".write(to: dir.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
        expectError("merges.txt", "missing from the vocabulary")
        try "#version: 0.2\na b\n".write(to: dir.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
        expectError("vocab.json", "bos token")  // the toy vocabulary has no <|startoftext|>
        try "{\"pad_token\": ".write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        expectError("tokenizer_config.json", "malformed")
    }

    /// Prompts per second over the corpus (cold cache, then warm); printed for the report.
    func testSpeed() throws {
        let prompts = TokenizerCorpus.shared.prompts
        let fresh = try CLIPTokenizer(directory: TokenizerCorpus.fixturesURL.appendingPathComponent("clip-tokenizer").path)
        var total = 0
        let t0 = Date()
        for p in prompts { total += fresh.encode(p, length: 77).count }
        let t1 = Date()
        for p in prompts { total += fresh.encode(p, length: 77).count }
        let t2 = Date()
        let loadStart = Date()
        _ = try CLIPTokenizer(directory: TokenizerCorpus.fixturesURL.appendingPathComponent("clip-tokenizer").path)
        let load = Date().timeIntervalSince(loadStart)
        XCTAssertEqual(total, prompts.count * 77 * 2)
        print(String(format: "CLIPTokenizer speed: %.0f prompts/s cold cache, %.0f prompts/s warm; load %.3f s",
                     Double(prompts.count) / t1.timeIntervalSince(t0), Double(prompts.count) / t2.timeIntervalSince(t1), load))
    }
}
