import Foundation
import XCTest
import Models

/// Exact id equality with transformers 5 on the differential strings of
/// Tools/make_tokenizer_differential.py (special tokens inside text, every Unicode whitespace, every
/// canonical combining class, every script, random mixes): CLIP, and T5 from the three layouts a
/// `tokenizer_2/` folder comes in (transformers 5's `tokenizer.json`, the t5-v1_1 `tokenizer.json` that
/// FLUX.1-dev and ComfyUI ship, `spiece.model` alone), which transformers all turns into the same
/// tokenizer.
final class TokenizerDifferentialTests: XCTestCase {
    struct Differential: Decodable {
        let strings: [String]
        let clip: [[Int32]]
        let t5: [[Int32]]
    }

    static let differential: Differential = {
        let url = TokenizerCorpus.fixturesURL.appendingPathComponent("tokenizer-differential.json")
        return try! JSONDecoder().decode(Differential.self, from: Data(contentsOf: url))
    }()

    static var v1_1Folder: String { TokenizerCorpus.fixturesURL.appendingPathComponent("t5-tokenizer-v1_1").path }
    static let v1_1 = try! T5Tokenizer(directory: v1_1Folder)

    /// Number of strings whose ids differ; the first few are printed.
    static func mismatches(_ strings: [String], _ expected: [[Int32]], _ name: String,
                           _ encode: (String) -> [Int32]) -> Int {
        var count = 0
        for (s, want) in zip(strings, expected) {
            let got = encode(s)
            guard got != want else { continue }
            count += 1
            if count <= 8 {
                let scalars = s.unicodeScalars.prefix(24).map { String(format: "%04X", $0.value) }.joined(separator: " ")
                print("\(name) mismatch \(s.debugDescription.prefix(60)) [\(scalars)]\n  got  \(got.prefix(30))\n  want \(want.prefix(30))")
            }
        }
        print("\(name): \(count) of \(strings.count) strings differ from transformers")
        return count
    }

    func testCLIP() {
        let d = Self.differential
        XCTAssertGreaterThan(d.strings.count, 3000)
        XCTAssertEqual(Self.mismatches(d.strings, d.clip, "CLIP differential", CLIPTokenizerTests.tokenizer.encode), 0)
    }

    func testT5TransformersTokenizerJSON() {
        let d = Self.differential
        XCTAssertEqual(Self.mismatches(d.strings, d.t5, "T5 tokenizer.json differential", T5TokenizerTests.fromJSON.encode), 0)
    }

    func testT5V1_1TokenizerJSON() {
        let d = Self.differential
        XCTAssertEqual(Self.mismatches(d.strings, d.t5, "T5 v1_1 tokenizer.json differential", Self.v1_1.encode), 0)
    }

    func testT5SpieceModel() {
        let d = Self.differential
        XCTAssertEqual(Self.mismatches(d.strings, d.t5, "T5 spiece.model differential", T5TokenizerTests.fromModel.encode), 0)
    }

    /// The v1_1 layout on the older 2,400-prompt corpus (transformers gives the same ids for every layout).
    func testT5V1_1OnTokenizerCorpus() {
        let c = TokenizerCorpus.shared
        XCTAssertEqual(Self.mismatches(c.prompts, c.t5, "T5 v1_1 tokenizer.json corpus", Self.v1_1.encode), 0)
    }

    /// The cases of issue #23, spelled out: a word after a special token starts with the word-start
    /// marker, and U+0085 separates words, whatever the file's own pre-tokenizer says.
    func testT5V1_1SpecialTokenAndNextLine() {
        let t = Self.v1_1, ref = T5TokenizerTests.fromJSON
        let dog = ref.encode("dog")  // "▁dog" + EOS
        XCTAssertEqual(dog.count, 2)
        XCTAssertEqual(t.encode("</s>dog"), [1, dog[0], 1])
        XCTAssertEqual(t.encode("a\u{85}dog"), t.encode("a dog"))
        XCTAssertEqual(t.encode("<extra_id_0>dog"), [5099, dog[0], 1])
        XCTAssertEqual(t.eosTokenID, 1)
        XCTAssertEqual(t.padTokenID, 0)
        XCTAssertEqual(t.unknownTokenID, 2)
        XCTAssertEqual(t.vocabularySize, 5100)
    }
}
