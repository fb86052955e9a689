import Foundation
import XCTest
import Models

final class T5TokenizerTests: XCTestCase {
    static var folder: String { TokenizerCorpus.fixturesURL.appendingPathComponent("t5-tokenizer").path }
    static let fromJSON = try! T5Tokenizer(directory: folder)  // tokenizer.json
    static let fromModel = try! T5Tokenizer(sentencePieceModel: folder + "/spiece.model")
    static let spm = try! T5Tokenizer(directory: folder, flavor: .sentencePiece)

    private func checkCorpus(_ tokenizer: T5Tokenizer, expected: (Int) -> [Int32], name: String) {
        let corpus = TokenizerCorpus.shared
        var mismatches = 0
        for (i, prompt) in corpus.prompts.enumerated() {
            let got = tokenizer.encode(prompt)
            let want = expected(i)
            if got != want {
                mismatches += 1
                if mismatches <= 10 {
                    print("\(name) mismatch #\(i) \(prompt.debugDescription.prefix(120))\n  got  \(got.prefix(40))\n  want \(want.prefix(40))")
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "\(name): prompts whose ids differ from the reference")
    }

    /// transformers.T5Tokenizer (5.x) ids from tokenizer.json, every corpus prompt.
    func testCorpusParityTransformersFromTokenizerJSON() {
        XCTAssertGreaterThanOrEqual(TokenizerCorpus.shared.prompts.count, 2000)
        checkCorpus(Self.fromJSON, expected: { TokenizerCorpus.shared.t5[$0] }, name: "tokenizer.json")
    }

    /// transformers.T5Tokenizer ids when the folder holds only spiece.model (converted in memory).
    func testCorpusParityTransformersFromSpieceModel() {
        checkCorpus(Self.fromModel, expected: { TokenizerCorpus.shared.t5[$0] }, name: "spiece.model/transformers")
    }

    /// sentencepiece.SentencePieceProcessor.encode ids (+ EOS 1), every corpus prompt.
    func testCorpusParitySentencePiece() {
        let c = TokenizerCorpus.shared
        XCTAssertGreaterThan(c.t5_spm_diff.count, 50, "the corpus should exercise the flavour differences")
        checkCorpus(Self.spm, expected: { c.t5_spm_diff[String($0)] ?? c.t5[$0] }, name: "sentencepiece")
    }

    /// sentencepiece ids with a byte-fallback model: unknown characters become <0xXX> pieces.
    func testCorpusParityByteFallback() throws {
        let t = try T5Tokenizer(directory: TokenizerCorpus.fixturesURL.appendingPathComponent("t5-tokenizer-bytefallback").path,
                                flavor: .sentencePiece)
        checkCorpus(t, expected: { TokenizerCorpus.shared.t5_bytefallback[$0] }, name: "byte fallback")
        XCTAssertFalse(t.encode("🐱").contains(t.unknownTokenID))
    }

    /// T5 conventions: EOS 1, pad 0, unk 2; pad / truncate to 512 or 256 keeping EOS last (the fixture
    /// script checks this rule against transformers for every prompt and both lengths).
    func testPaddingAndTruncation() {
        let t = Self.fromJSON
        XCTAssertEqual(t.eosTokenID, 1)
        XCTAssertEqual(t.padTokenID, 0)
        XCTAssertEqual(t.unknownTokenID, 2)
        XCTAssertEqual(t.maxLength, 512)
        XCTAssertEqual(t.vocabularySize, 5100)
        let corpus = TokenizerCorpus.shared
        var truncated = [256: 0, 512: 0]
        for (i, prompt) in corpus.prompts.enumerated() {
            let want = corpus.t5[i]
            for n in [256, 512] {
                let got = t.encode(prompt, length: n)
                XCTAssertEqual(got.count, n)
                if want.count > n {
                    truncated[n]! += 1
                    XCTAssertEqual(Array(got[..<(n - 1)]), Array(want[..<(n - 1)]))
                    XCTAssertEqual(got.last, 1)
                } else {
                    XCTAssertEqual(Array(got[..<want.count]), want)
                    XCTAssertTrue(got[want.count...].allSatisfy { $0 == 0 })
                }
            }
        }
        XCTAssertGreaterThan(truncated[256]!, 20)
        XCTAssertGreaterThan(truncated[512]!, 3)
        XCTAssertEqual(t.encode("", length: 4), [1, 0, 0, 0])
        XCTAssertEqual(t.encode(" \t "), [1])
    }

    /// Special tokens: matched in text by transformers (sentinels <extra_id_N> count down from the
    /// end of the vocabulary), plain text for sentencepiece; unknown characters give <unk> = 2 once
    /// per run.
    func testSpecialAndUnknownTokens() {
        XCTAssertEqual(Self.fromJSON.encode("<extra_id_0>"), [5099, 1])
        XCTAssertEqual(Self.fromJSON.encode("<extra_id_99></s>"), [5000, 1, 1])
        XCTAssertEqual(Self.fromModel.encode("<extra_id_0>"), [5099, 1])
        XCTAssertFalse(Self.spm.encode("<extra_id_0>").contains(5099))
        let cats = Self.spm.encode("🐱🐱🐱")
        XCTAssertEqual(cats.filter { $0 == 2 }.count, 1, "\(cats)")
        XCTAssertEqual(Self.fromJSON.encode("🐱🐱🐱").filter { $0 == 2 }.count, 1)
    }

    /// Missing and corrupt files give thrown errors that name the file.
    func testMissingAndCorruptFiles() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func expectError(_ make: @autoclosure () throws -> T5Tokenizer, _ file: String, _ kind: String, line: UInt = #line) {
            XCTAssertThrowsError(try make(), line: line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(file) && text.contains(kind), "expected \(file) / \(kind), got: \(text)", line: line)
            }
        }
        expectError(try T5Tokenizer(directory: dir.path), "spiece.model", "not found")
        expectError(try T5Tokenizer(directory: dir.path, flavor: .sentencePiece), "spiece.model", "not found")
        // Truncated protobuf.
        let model = try Data(contentsOf: URL(fileURLWithPath: Self.folder + "/spiece.model"))
        try model.prefix(model.count / 2).write(to: dir.appendingPathComponent("spiece.model"))
        expectError(try T5Tokenizer(directory: dir.path), "spiece.model", "malformed")
        // Random bytes.
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }).write(to: dir.appendingPathComponent("spiece.model"))
        expectError(try T5Tokenizer(directory: dir.path, flavor: .sentencePiece), "spiece.model", "malformed")
        // Corrupt tokenizer.json is preferred (and reported) by the transformers flavour.
        try "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", ".write(to: dir.appendingPathComponent("tokenizer.json"), atomically: true, encoding: .utf8)
        expectError(try T5Tokenizer(directory: dir.path), "tokenizer.json", "malformed")
        try #"{"model": {"type": "BPE", "vocab": [["a", 0.0]], "unk_id": 0}}"#.write(to: dir.appendingPathComponent("tokenizer.json"), atomically: true, encoding: .utf8)
        expectError(try T5Tokenizer(directory: dir.path), "tokenizer.json", "unsupported")
        try #"{"model": {"type": "Unigram", "vocab": [["a", 0.0]], "unk_id": 0}, "pre_tokenizer": {"type": "ByteLevel"}}"#.write(to: dir.appendingPathComponent("tokenizer.json"), atomically: true, encoding: .utf8)
        expectError(try T5Tokenizer(directory: dir.path), "tokenizer.json", "pre_tokenizer ByteLevel")
        try #"{"model": {"type": "Unigram", "vocab": [["a", 0.0]], "unk_id": 5}}"#.write(to: dir.appendingPathComponent("tokenizer.json"), atomically: true, encoding: .utf8)
        expectError(try T5Tokenizer(directory: dir.path), "tokenizer.json", "unk_id")
    }

    /// Prompts per second over the corpus, printed for the report.
    func testSpeed() throws {
        let prompts = TokenizerCorpus.shared.prompts
        for (name, t) in [("transformers", Self.fromJSON), ("sentencepiece", Self.spm)] {
            var total = 0
            let t0 = Date()
            for p in prompts { total += t.encode(p, length: 512).count }
            let dt = Date().timeIntervalSince(t0)
            XCTAssertEqual(total, prompts.count * 512)
            print(String(format: "T5Tokenizer (%@) speed: %.0f prompts/s", name, Double(prompts.count) / dt))
        }
        let l0 = Date()
        _ = try T5Tokenizer(directory: Self.folder)
        let l1 = Date()
        _ = try T5Tokenizer(sentencePieceModel: Self.folder + "/spiece.model")
        print(String(format: "T5Tokenizer load: tokenizer.json %.3f s, spiece.model %.3f s",
                     l1.timeIntervalSince(l0), Date().timeIntervalSince(l1)))
    }
}
