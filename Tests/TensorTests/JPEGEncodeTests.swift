import Foundation
import Tensor
import XCTest

/// `JPEG.encode` (libjpeg-turbo) and the infotext in EXIF UserComment, as AUTOMATIC1111 writes and reads
/// it (fixture: Tools/make_exif_fixture.py, piexif 1.1.3 + Pillow).
final class JPEGEncodeTests: XCTestCase {
    /// Smooth colour gradients with a sharp grey square (sharp in brightness only: 4:2:0 chroma
    /// subsampling would blur a sharp colour edge at any quality).
    func picture(_ w: Int, _ h: Int, channels: Int = 3) throws -> PNGImage {
        var p = [UInt8](repeating: 0, count: w * h * channels)
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * channels
                let inSquare = x > w / 4 && x < w / 2 && y > h / 4 && y < h / 2
                let r = x * 200 / max(w - 1, 1), g = y * 200 / max(h - 1, 1)
                p[i] = UInt8(r + (inSquare ? 50 : 0))
                p[i + 1] = UInt8(g + (inSquare ? 50 : 0))
                p[i + 2] = UInt8(100 + (inSquare ? 50 : 0))
                if channels == 4 { p[i + 3] = UInt8((x + y) % 256) }
            }
        }
        return try PNGImage(width: w, height: h, channels: channels, pixels: p)
    }

    func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        var sum = 0.0
        for (x, y) in zip(a, b) {
            let d = Double(Int(x) - Int(y))
            sum += d * d
        }
        let mse = sum / Double(a.count)
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    func testEncodedPicturesDecodeCloseToTheOriginalAndQualityMatters() throws {
        let image = try picture(96, 64)
        let high = try JPEG.encode(image, quality: 95), low = try JPEG.encode(image, quality: 20)
        XCTAssertEqual(Array(high.prefix(3)), [0xFF, 0xD8, 0xFF], "a JPEG stream")
        XCTAssertEqual(ImageFile.format(of: high), .jpeg)
        let back = try JPEG.decode(high), backLow = try JPEG.decode(low)
        XCTAssertEqual([back.width, back.height, back.channels], [96, 64, 3])
        let good = psnr(back.pixels, image.pixels), poor = psnr(backLow.pixels, image.pixels)
        XCTAssertGreaterThan(good, 33, "quality 95")
        XCTAssertGreaterThan(good, poor + 3, "quality 20 loses more")
        XCTAssertLessThan(low.count, high.count)
        // RGBA: the alpha is dropped, the colours kept.
        let rgba = try picture(96, 64, channels: 4)
        let fromRGBA = try JPEG.decode(try JPEG.encode(rgba, quality: 95))
        XCTAssertEqual(fromRGBA.pixels, back.pixels, "the same RGB as the RGB picture")
        // Odd sizes and one pixel encode too.
        for (w, h) in [(1, 1), (17, 3), (3, 17)] {
            let d = try JPEG.decode(try JPEG.encode(try picture(w, h)))
            XCTAssertEqual([d.width, d.height], [w, h])
        }
        XCTAssertThrowsError(try JPEG.encode(image, quality: 0))
        XCTAssertThrowsError(try JPEG.encode(image, quality: 101))
        // The largest EXIF one segment holds encodes; a byte more is refused by name.
        XCTAssertNoThrow(try JPEG.encode(image, exif: [UInt8](repeating: 0, count: JPEG.maxEXIFBytes)))
        XCTAssertThrowsError(try JPEG.encode(image, exif: [UInt8](repeating: 0, count: JPEG.maxEXIFBytes + 1))) { e in
            XCTAssertTrue("\(e)".contains("does not fit one JPEG segment"), "\(e)")
        }
    }

    /// Pillow 13's `save(format="JPEG", quality=95)` of the same picture decodes to the same pixels:
    /// the same libjpeg settings (4:2:0 chroma, the standard tables scaled for 95).
    func testEncodesAsPillowDoes() throws {
        let source = try ImageFixture.png("resize_src_rgb.png")
        let ours = try JPEG.decode(try JPEG.encode(source, quality: 95))
        let pillow = try JPEG.decode(try ImageFixture.bytes("resize_src_rgb.q95.jpg"))
        XCTAssertEqual([ours.width, ours.height], [pillow.width, pillow.height])
        XCTAssertEqual(ours.pixels, pillow.pixels)
    }

    func testInfotextRoundTripsThroughEXIFUserComment() throws {
        let text = "a cat on a 红色 sofa, 🐱\nNegative prompt: x\nSteps: 20, Seed: 42"
        let jpeg = try JPEG.encode(try picture(32, 32), exif: EXIFUserComment.payload(text))
        XCTAssertEqual(JPEG.userComment(in: jpeg), text)
        // The EXIF does not change the picture.
        XCTAssertEqual(try JPEG.decode(jpeg).pixels, try JPEG.decode(try JPEG.encode(try picture(32, 32))).pixels)
        XCTAssertNil(JPEG.userComment(in: try JPEG.encode(try picture(8, 8))), "no EXIF, no comment")
        XCTAssertEqual(JPEG.userComment(in: try JPEG.encode(try picture(8, 8), exif: EXIFUserComment.payload(""))), "")
    }

    /// What AUTOMATIC1111 writes (piexif's UserComment in a Pillow JPEG) reads back to its text, and
    /// our payload has the layout piexif reads (checked by the script's --check on a majicflux JPEG).
    func testReadsAUTOMATIC1111sJPEGInfotext() throws {
        struct Expected: Decodable { let text: String }
        let expected = try JSONDecoder().decode(Expected.self, from: Data(try ImageFixture.bytes("a1111_infotext.json")))
        let jpeg = try ImageFixture.bytes("a1111_infotext.jpg")
        XCTAssertEqual(JPEG.userComment(in: jpeg), expected.text)
        XCTAssertEqual(try ImageFile.decode(jpeg, source: "a1111_infotext.jpg").width, 64)
    }

    /// Damaged EXIF blocks: nil, never a crash or a read past the end.
    func testMalformedEXIFGivesNoComment() throws {
        let good = EXIFUserComment.payload("Steps: 20")
        XCTAssertEqual(EXIFUserComment.read(good), "Steps: 20")
        for n in 0..<good.count {
            XCTAssertNil(EXIFUserComment.read(Array(good.prefix(n))), "prefix \(n)")
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            var bad = good
            for _ in 0..<3 { bad[Int.random(in: 0..<bad.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = EXIFUserComment.read(bad)
        }
        XCTAssertNil(EXIFUserComment.read([0x4D, 0x4D, 0, 42, 0xFF, 0xFF, 0xFF, 0xF0]))
    }
}
