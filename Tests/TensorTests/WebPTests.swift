import Foundation
import Tensor
import XCTest

/// WebP through libwebp: decoding Pillow's files to Pillow's pixels (Tools/make_webp_fixtures.py,
/// Pillow 13 / libwebp 1.6), the EXIF UserComment AUTOMATIC1111 writes, orientation, refusals, and
/// our encoder's files read back (Pillow reads them too: the script's --check).
final class WebPTests: XCTestCase {
    static let dir = Bundle.module.url(forResource: "webp", withExtension: nil, subdirectory: "Fixtures")!

    struct Expected: Decodable {
        let width, height: Int
        let mode, pixels: String
        let comment: String?
    }

    static let expected: [String: Expected] = {
        (try? JSONDecoder().decode([String: Expected].self, from: Data(contentsOf: dir.appendingPathComponent("webp_fixtures.json")))) ?? [:]
    }()

    func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: Self.dir.appendingPathComponent(name))) }

    func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = [], it = s.utf8.makeIterator()
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
        while let a = it.next(), let b = it.next() { out.append(nibble(a) << 4 | nibble(b)) }
        return out
    }

    func testDecodesPillowsFilesToPillowsPixels() throws {
        XCTAssertEqual(Self.expected.count, 6)
        for (name, e) in Self.expected.sorted(by: { $0.key < $1.key }) {
            let file = try bytes(name)
            XCTAssertEqual(ImageFile.format(of: file), .webp, name)
            let image = try ImageFile.decode(file, source: name)
            XCTAssertEqual([image.width, image.height], [e.width, e.height], name)
            XCTAssertEqual(image.channels, e.mode == "RGBA" ? 4 : 3, name)
            let want = hex(e.pixels)
            if name.hasPrefix("lossless") || name.hasPrefix("orientation") {
                XCTAssertEqual(image.pixels, want, "\(name): lossless, so exactly Pillow's pixels")
            } else {
                // Lossy: the same VP8 bitstream through another libwebp version (1.2 here, 1.6 in Pillow).
                let worst = zip(image.pixels, want).map { abs(Int($0) - Int($1)) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 2, "\(name): at most 2 levels from Pillow's decode")
            }
        }
    }

    func testReadsAUTOMATIC1111sUserCommentAndTheOrientation() throws {
        let a1111 = try XCTUnwrap(Self.expected["a1111_comment.webp"])
        XCTAssertEqual(WebP.userComment(in: try bytes("a1111_comment.webp")), a1111.comment)
        XCTAssertTrue(a1111.comment?.contains("提示词") ?? false)
        XCTAssertNil(WebP.userComment(in: try bytes("lossy_rgb.webp")), "no EXIF, no comment")
        // Orientation 6: 10x6 stored, 6x10 upright (the pixels compared above are Pillow's exif_transpose).
        let turned = try ImageFile.decode(try bytes("orientation6.webp"), source: "o")
        XCTAssertEqual([turned.width, turned.height], [6, 10])
        XCTAssertEqual(try WebP.decode(try bytes("orientation6.webp")).width, 10, "WebP.decode itself does not turn")
    }

    func testAnimationsCorruptAndOversizedFilesAreRefusedClearly() throws {
        XCTAssertThrowsError(try ImageFile.decode(try bytes("animated.webp"), source: "anim.webp")) { e in
            XCTAssertTrue("\(e)".contains("animated WebP"), "\(e)")
        }
        let good = try bytes("lossy_rgb.webp")
        for n in [12, 20, 30, good.count / 2, good.count - 1] {
            XCTAssertThrowsError(try ImageFile.decode(Array(good.prefix(n)), source: "cut.webp"), "cut at \(n)")
        }
        XCTAssertThrowsError(try ImageFile.decode(try bytes("lossy_rgb.webp"), source: "big", maxPixels: 100)) { e in
            XCTAssertTrue("\(e)".contains("24x16"), "\(e)")
        }
        // Random damage after a valid header: an error or a picture, never a crash.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var bad = good
            for _ in 0..<4 { bad[Int.random(in: 12..<bad.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? ImageFile.decode(bad, source: "fuzz")
            _ = WebP.userComment(in: bad)
        }
        // A RIFF chunk claiming more bytes than the file has: no chunks, no comment.
        var lying = try bytes("a1111_comment.webp")
        lying[16] = 0xFF; lying[17] = 0xFF; lying[18] = 0xFF; lying[19] = 0x7F
        XCTAssertNil(WebP.userComment(in: lying))
    }

    func testEncodedFilesDecodeBackWithTheirComment() throws {
        var pixels = [UInt8](repeating: 0, count: 40 * 24 * 4)
        for i in 0..<(40 * 24) {
            let x = i % 40, y = i / 40
            pixels[i * 4] = UInt8(x * 6); pixels[i * 4 + 1] = UInt8(y * 10); pixels[i * 4 + 2] = 120; pixels[i * 4 + 3] = UInt8(255 - x * 3)
        }
        let rgba = try PNGImage(width: 40, height: 24, channels: 4, pixels: pixels)
        let rgb = rgba.rgb()
        let text = "a cat on a 红色 sofa, 🐱\nSteps: 20, Seed: 42"
        for (image, lossless) in [(rgb, false), (rgb, true), (rgba, false), (rgba, true)] {
            for exif in [nil, EXIFUserComment.payload(text)] {
                let file = try WebP.encode(image, quality: 90, lossless: lossless, exif: exif)
                let what = "\(image.channels) channels, lossless \(lossless), exif \(exif != nil)"
                XCTAssertTrue(WebP.isWebP(file), what)
                XCTAssertEqual(file.count, 8 + Int(file[4]) | Int(file[5]) << 8 | Int(file[6]) << 16 | Int(file[7]) << 24, "RIFF size: \(what)")
                XCTAssertEqual(WebP.userComment(in: file), exif == nil ? nil : text, what)
                let back = try ImageFile.decode(file, source: what)
                XCTAssertEqual([back.width, back.height, back.channels], [40, 24, image.channels], what)
                if lossless {
                    XCTAssertEqual(back.pixels, image.pixels, what)
                } else {
                    let worst = zip(back.pixels, image.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
                    XCTAssertLessThan(worst, 40, what)
                }
            }
        }
        XCTAssertThrowsError(try WebP.encode(rgb, quality: 0))
        XCTAssertThrowsError(try WebP.encode(try PNGImage(width: 16384, height: 1, channels: 3, pixels: [UInt8](repeating: 0, count: 16384 * 3)))) { e in
            XCTAssertTrue("\(e)".contains("16383"), "\(e)")
        }
        // Quality matters.
        XCTAssertLessThan(try WebP.encode(rgb, quality: 10).count, try WebP.encode(rgb, quality: 95).count)
    }
}
