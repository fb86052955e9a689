import XCTest
import Models
import Tensor

/// `FluxPipeline.promptLength`: how much of a prompt CLIP and T5 read, and the notice when T5 drops words.
final class PromptLengthTests: XCTestCase {
    static let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-flux"

    func testCountsMatchWhatTheEncodersTakeAndTheNoticeNamesTheLimit() throws {
        let p = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.dir))
        let short = p.promptLength("a red circle", maxSequenceLength: 64)
        XCTAssertFalse(short.t5Truncated)
        XCTAssertFalse(short.clipTruncated)
        XCTAssertGreaterThan(short.t5Tokens, 3, "the words and the end token")
        XCTAssertNil(short.notice(option: "--max-sequence-length", maximum: 512))

        let long = String(repeating: "a red circle on a blue square, ", count: 30)
        let l = p.promptLength(long, maxSequenceLength: 64)
        XCTAssertTrue(l.t5Truncated)
        XCTAssertTrue(l.clipTruncated)
        XCTAssertEqual(l.t5Limit, 64)
        XCTAssertEqual(l.clipLimit, 77)
        let notice = try XCTUnwrap(l.notice("negative prompt", option: "--max-sequence-length", maximum: 512))
        XCTAssertTrue(notice.hasPrefix("the negative prompt is \(l.t5Tokens) T5 tokens and T5 reads 64 (--max-sequence-length, at most 512)"), notice)
        XCTAssertTrue(notice.contains("CLIP") && notice.contains("first 77 of \(l.clipTokens)"), notice)
        XCTAssertTrue(try XCTUnwrap(l.notice(option: "x", maximum: 64)).contains("the most there is"))

        // The limit is inclusive: a prompt of exactly the limit's tokens loses nothing.
        let exact = p.promptLength(long, maxSequenceLength: l.t5Tokens)
        XCTAssertFalse(exact.t5Truncated)
        XCTAssertTrue(p.promptLength(long, maxSequenceLength: l.t5Tokens - 1).t5Truncated)
        // Counting does not depend on the limit.
        XCTAssertEqual(exact.t5Tokens, l.t5Tokens)
    }
}
