import Foundation
import XCTest
import Models

/// Every combining mark and every canonical composition against transformers 5
/// (Tools/make_tokenizer_differential.py). HF's NFC (unicode-normalization-alignments 0.1.12) has
/// Unicode 9.0 tables, so marks added later are neither reordered nor composed by it, e.g.
/// `"o\u{30A}\u{1DF7}"` and `"\u{11935}\u{11930}"`; Swift's own NFC (Unicode 17) would do both.
final class TokenizerCombiningMarkTests: XCTestCase {
    struct Marks: Decodable {
        let unicode: String
        /// [prefix, suffix]: each mark m is tokenized as prefix + m + suffix.
        let contexts: [[String]]
        /// Every scalar with a nonzero canonical combining class in Unicode 17.
        let marks: [UInt32]
        let clip: [[[Int32]]]
        let t5: [[[Int32]]]
        /// Canonical decompositions of the primary composites.
        let compositions: [[UInt32]]
        let clip_compositions: [[Int32]]
        let t5_compositions: [[Int32]]
    }

    static let fixture: Marks = {
        let url = TokenizerCorpus.fixturesURL.appendingPathComponent("tokenizer-combining-marks.json")
        return try! JSONDecoder().decode(Marks.self, from: Data(contentsOf: url))
    }()

    static func string(_ scalars: [UInt32]) -> String {
        String(String.UnicodeScalarView(scalars.map { Unicode.Scalar($0)! }))
    }

    /// (strings, expected ids) of the marks in their contexts, for one tokenizer's ids.
    static func markCases(_ ids: [[[Int32]]]) -> ([String], [[Int32]]) {
        let f = fixture
        var strings: [String] = [], want: [[Int32]] = []
        for (m, row) in zip(f.marks, ids) {
            for (ctx, w) in zip(f.contexts, row) {
                strings.append(ctx[0] + string([m]) + ctx[1])
                want.append(w)
            }
        }
        return (strings, want)
    }

    /// The fixture enumerates exactly the marks Swift's tables know (both Unicode 17), so no mark is missed.
    func testFixtureHoldsEveryCombiningMark() {
        let swiftMarks = (0...0x10FFFF).compactMap { Unicode.Scalar(UInt32($0)) }
            .filter { $0.properties.canonicalCombiningClass.rawValue != 0 }.map(\.value)
        XCTAssertEqual(Self.fixture.unicode, "17.0.0")
        XCTAssertEqual(swiftMarks, Self.fixture.marks)
        XCTAssertEqual(Self.fixture.contexts.count * Self.fixture.marks.count,
                       Self.fixture.clip.map(\.count).reduce(0, +))
    }

    func testCLIPEveryCombiningMark() {
        let (strings, want) = Self.markCases(Self.fixture.clip)
        XCTAssertEqual(strings.count, 4 * 968)
        let t = CLIPTokenizerTests.tokenizer
        XCTAssertEqual(TokenizerDifferentialTests.mismatches(strings, want, "CLIP combining marks", t.encode), 0)
    }

    func testCLIPEveryComposition() {
        let f = Self.fixture
        XCTAssertGreaterThan(f.compositions.count, 900)
        let t = CLIPTokenizerTests.tokenizer
        XCTAssertEqual(TokenizerDifferentialTests.mismatches(f.compositions.map(Self.string), f.clip_compositions,
                                                             "CLIP compositions", t.encode), 0)
    }

    func testT5EveryCombiningMarkAndComposition() {
        let (strings, want) = Self.markCases(Self.fixture.t5)
        let f = Self.fixture
        for (name, t) in [("tokenizer.json", T5TokenizerTests.fromJSON), ("v1_1", TokenizerDifferentialTests.v1_1)] {
            XCTAssertEqual(TokenizerDifferentialTests.mismatches(strings, want, "T5 \(name) combining marks", t.encode), 0)
            XCTAssertEqual(TokenizerDifferentialTests.mismatches(f.compositions.map(Self.string), f.t5_compositions,
                                                                 "T5 \(name) compositions", t.encode), 0)
        }
    }

    /// The two examples of issue #23: HF leaves U+1DF7 (Unicode 10) after U+030A and does not
    /// compose U+11935 U+11930 (Unicode 13) into U+11938.
    func testCLIPIssueExamples() {
        let t = CLIPTokenizerTests.tokenizer
        // Unicode 17 NFC would move U+1DF7 (class 228) before U+030A (230), making both strings one.
        XCTAssertNotEqual(t.encode("o\u{30A}\u{1DF7}"), t.encode("o\u{1DF7}\u{30A}"))
        XCTAssertNotEqual(t.encode("\u{11935}\u{11930}"), t.encode("\u{11938}"))
        XCTAssertEqual(t.encode("e\u{301}"), t.encode("\u{E9}"), "Unicode 9 compositions still apply")
    }
}
