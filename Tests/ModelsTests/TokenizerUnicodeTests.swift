import Foundation
import XCTest
import Models

/// Code point by code point agreement with the references: for every scalar c the string
/// "x" + c + c + "7" is tokenized, and the ids are hashed per block of 4096 code points and compared
/// with the hashes Tools/make_tokenizer_unicode_fixture.py computed from transformers/sentencepiece.
/// (`clip_excluded` in the fixture could list code points left out of the CLIP check; it is empty
/// since CLIP normalizes with the reference's Unicode 9 tables.)
final class TokenizerUnicodeTests: XCTestCase {
    struct Blocks: Decodable {
        let block: Int
        /// Code points left out of the CLIP check (none).
        let clip_excluded: [Int]
        let clip: [String]
        let t5: [String]
        let t5_spm: [String]
    }

    static func fnv(_ h: inout UInt64, _ ids: [Int32]) {
        for v in [Int32(ids.count)] + ids {
            let u = UInt32(bitPattern: v)
            for k in 0..<4 {
                h ^= UInt64((u >> (8 * UInt32(k))) & 0xFF)
                h = h &* 0x100000001B3
            }
        }
    }

    static func strings(block: Int, size: Int, excluded: Set<Int> = []) -> [String] {
        (block * size..<(block + 1) * size).map { cp in
            guard !excluded.contains(cp), let s = Unicode.Scalar(UInt32(cp)) else { return "x7" }
            return "x" + String(s) + String(s) + "7"
        }
    }

    private func check(_ name: String, _ key: String, _ expected: [String], size: Int, excluded: Set<Int> = [],
                       _ encode: (String) -> [Int32]) {
        var bad: [Int] = []
        for b in 0..<expected.count {
            var h: UInt64 = 0xCBF29CE484222325
            for s in Self.strings(block: b, size: size, excluded: excluded) { Self.fnv(&h, encode(s)) }
            if String(format: "%016llx", h) != expected[b] { bad.append(b) }
        }
        if !bad.isEmpty {
            print("\(name): blocks differing: \(bad.map { String(format: "U+%04X", $0 * size) })")
        }
        // Diagnosis: with TOKENIZER_UNICODE_DUMP=<dir written by the script's --dump>, list code points.
        if let dir = ProcessInfo.processInfo.environment["TOKENIZER_UNICODE_DUMP"] {
            for b in bad {
                let url = URL(fileURLWithPath: dir).appendingPathComponent(String(format: "block%03d.json", b))
                guard let data = try? Data(contentsOf: url),
                      let obj = try? JSONSerialization.jsonObject(with: data) as? [String: [[Int]]],
                      let want = obj[key] else { continue }
                for (i, s) in Self.strings(block: b, size: size, excluded: excluded).enumerated() {
                    let got = encode(s).map(Int.init)
                    if got != want[i] { print(String(format: "  U+%04X", b * size + i), "got", got, "want", want[i]) }
                }
            }
        }
        XCTAssertEqual(bad, [], "\(name): blocks of 4096 code points whose ids differ from the reference")
    }

    func testWholeUnicodeCLIP() throws {
        let blocks = try JSONDecoder().decode(Blocks.self, from: Data(contentsOf: TokenizerCorpus.fixturesURL.appendingPathComponent("tokenizer-unicode-blocks.json")))
        let t = CLIPTokenizerTests.tokenizer
        XCTAssertEqual(blocks.clip_excluded, [], "every code point is checked")
        check("CLIP", "clip", blocks.clip, size: blocks.block, excluded: Set(blocks.clip_excluded)) { t.encode($0) }
    }

    func testWholeUnicodeT5() throws {
        let blocks = try JSONDecoder().decode(Blocks.self, from: Data(contentsOf: TokenizerCorpus.fixturesURL.appendingPathComponent("tokenizer-unicode-blocks.json")))
        let hf = T5TokenizerTests.fromJSON, spm = T5TokenizerTests.spm
        check("T5 transformers", "t5", blocks.t5, size: blocks.block) { hf.encode($0) }
        check("T5 sentencepiece", "t5_spm", blocks.t5_spm, size: blocks.block) { spm.encode($0) }
    }
}
