import Foundation
import Tensor
import XCTest

/// `ImageFile` decoding: PNG / JPEG kinds against Pillow's decoding, EXIF orientation against
/// `ImageOps.exif_transpose`, and clear errors for unknown, empty, truncated, corrupt and oversized input.
final class ImageFileTests: XCTestCase {
    func testDecodesLikePillow() throws {
        for c in ImageFixture.manifest.decode {
            let got = try ImageFile.read(ImageFixture.path(c.file))
            let want = try ImageFixture.png(c.expected)
            XCTAssertEqual([got.width, got.height, got.channels], [want.width, want.height, want.channels], c.file)
            let (same, first) = ImageFixture.compare(got.pixels, want.pixels)
            XCTAssertEqual(same, 1.0, "\(c.file): first differing byte \(first ?? -1)")
        }
    }

    func testEXIFOrientationLikeExifTranspose() throws {
        XCTAssertEqual(ImageFixture.manifest.orient.count, 16)
        for c in ImageFixture.manifest.orient {
            let got = try ImageFile.read(ImageFixture.path(c.file))
            let want = try ImageFixture.png(c.expected)
            XCTAssertEqual([got.width, got.height], [want.width, want.height], c.file)
            XCTAssertEqual(got.pixels, want.pixels, c.file)
            // The tag itself is read from the file.
            let bytes = try ImageFixture.bytes(c.file)
            if c.file.hasSuffix(".jpg") {
                let raw = try JPEG.decode(bytes)
                XCTAssertEqual(EXIFOrientation.apply(c.orientation, to: raw), got, c.file)
            }
        }
        // Orientations 5-8 swap width and height of the 40x24 picture.
        let o6 = try ImageFile.read(ImageFixture.path("orient_6.png"))
        XCTAssertEqual([o6.width, o6.height], [24, 40])
    }

    func testEXIFParsing() {
        // Big-endian TIFF, orientation 6 as SHORT; then little-endian with "Exif\0\0" prefix, orientation 3.
        let mm: [UInt8] = [0x4D, 0x4D, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]
        XCTAssertEqual(EXIFOrientation.parse(mm), 6)
        let ii: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0, 0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 3, 0, 0, 0]
        XCTAssertEqual(EXIFOrientation.parse(ii), 3)
        // Truncated / garbage blocks: nil, no crash (the orientation value ends at byte 20).
        for n in 0..<20 { XCTAssertNil(EXIFOrientation.parse(Array(mm.prefix(n))), "prefix \(n)") }
        XCTAssertNil(EXIFOrientation.parse([0x4D, 0x4D, 0, 42, 0xFF, 0xFF, 0xFF, 0xF0, 0xFF, 0xFF]))
        let img = try! PNGImage(width: 2, height: 1, channels: 3, pixels: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(EXIFOrientation.apply(9, to: img), img)
        XCTAssertEqual(EXIFOrientation.apply(2, to: img).pixels, [4, 5, 6, 1, 2, 3])
    }

    func testUnknownFormatNamesFileAndFormats() {
        let bytes: [UInt8] = Array("GIF89a....".utf8)
        XCTAssertThrowsError(try ImageFile.decode(bytes, source: "cat.gif")) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("cat.gif") && s.contains("PNG") && s.contains("JPEG"), s)
        }
        XCTAssertThrowsError(try ImageFile.decode([], source: "empty.png")) { e in
            XCTAssertTrue("\(e)".contains("empty.png") && "\(e)".contains("empty"), "\(e)")
        }
        XCTAssertThrowsError(try ImageFile.read("/nonexistent/dir/x.jpg")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/dir/x.jpg"), "\(e)")
        }
    }

    /// Every prefix length of a JPEG and a PNG (stepping), and garbage after the magic bytes: errors, no crash.
    func testTruncatedAndGarbageBytesThrow() throws {
        for name in ["jpeg_420.jpg", "jpeg_progressive.jpg", "png_rgb.png", "orient_6.jpg"] {
            let full = try ImageFixture.bytes(name)
            XCTAssertNoThrow(try ImageFile.decode(full, source: name))
            var n = 1
            while n < full.count {
                XCTAssertThrowsError(try ImageFile.decode(Array(full.prefix(n)), source: name), "\(name) cut at \(n)") { e in
                    XCTAssertTrue("\(e)".contains(name), "\(e)")
                }
                n += n < 64 ? 1 : 97
            }
        }
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<200 {
            let magic: [UInt8] = trial % 2 == 0 ? [0xFF, 0xD8, 0xFF] : [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            let junk = (0..<Int.random(in: 0..<600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            XCTAssertThrowsError(try ImageFile.decode(magic + junk, source: "junk"))
        }
        // Corrupted entropy-coded data inside a valid JPEG: libjpeg may decode it (garbled) or refuse it;
        // either way no crash and the right size.
        var jpeg = try ImageFixture.bytes("jpeg_420.jpg")
        for i in stride(from: jpeg.count / 2, to: jpeg.count - 2, by: 7) { jpeg[i] ^= 0x5A }
        if let img = try? ImageFile.decode(jpeg, source: "bad.jpg") { XCTAssertEqual([img.width, img.height], [64, 48]) }
    }

    func testSizeLimitBeforeAllocation() throws {
        // The picture itself is 64x48 = 3072 pixels.
        for name in ["jpeg_420.jpg", "png_rgb.png"] {
            XCTAssertNoThrow(try ImageFile.read(ImageFixture.path(name), maxPixels: 3072))
            XCTAssertThrowsError(try ImageFile.read(ImageFixture.path(name), maxPixels: 3071)) { e in
                XCTAssertTrue("\(e)".contains("64x48") && "\(e)".contains("3071"), "\(e)")
            }
        }
        // A JPEG whose SOF claims 65000x65000: refused by size, not by an allocation failure.
        var jpeg = try ImageFixture.bytes("jpeg_420.jpg")
        let sof = (0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 }!
        jpeg[sof + 5] = 0xFD; jpeg[sof + 6] = 0xE8; jpeg[sof + 7] = 0xFD; jpeg[sof + 8] = 0xE8
        XCTAssertThrowsError(try ImageFile.decode(jpeg, source: "huge.jpg")) { e in
            XCTAssertTrue("\(e)".contains("65000x65000"), "\(e)")
        }
        // Same for a PNG IHDR.
        var png = try ImageFixture.bytes("png_rgb.png")
        png[16...23] = [0, 0, 0xFD, 0xE8, 0, 0, 0xFD, 0xE8]
        XCTAssertThrowsError(try ImageFile.decode(png, source: "huge.png")) { e in
            XCTAssertTrue("\(e)".contains("65000x65000"), "\(e)")
        }
    }

    func testCMYKJPEGRefused() throws {
        for c in ImageFixture.manifest.refused {
            XCTAssertThrowsError(try ImageFile.read(ImageFixture.path(c.file))) { e in
                XCTAssertTrue("\(e)".contains(c.contains) && "\(e)".contains(c.file), "\(e)")
            }
        }
    }

    /// Timing of a 1024x1024 JPEG when MAJICFLUX_BENCH_JPEG names one
    /// (Tools/make_image_fixtures.py --bench-jpeg /tmp/bench.jpg), and of Lanczos 1024 -> 512 on it.
    func testDecodeAndResizeSpeed() throws {
        guard let path = ProcessInfo.processInfo.environment["MAJICFLUX_BENCH_JPEG"] else {
            throw XCTSkip("set MAJICFLUX_BENCH_JPEG to a 1024x1024 JPEG to time decoding")
        }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var img = try ImageFile.decode(bytes, source: path)
        let clock = ContinuousClock()
        let n = 10
        let tDecode = clock.measure { for _ in 0..<n { img = try! ImageFile.decode(bytes, source: path) } }
        var small = img
        let tResize = clock.measure { for _ in 0..<n { small = try! img.resized(width: 512, height: 512) } }
        var edges = img
        let tCanny = clock.measure { for _ in 0..<n { edges = try! img.cannyEdges(low: 100, high: 200) } }
        let l = img.luma()
        var blurred = l
        let tBlur = clock.measure { for _ in 0..<n { blurred = try! BoxBlur.gaussianBlur(l, width: 1024, height: 1024, radius: 8) } }
        print("1024x1024 JPEG decode: \(tDecode / n); Lanczos 1024->512: \(tResize / n); Canny: \(tCanny / n); GaussianBlur(8) L: \(tBlur / n)")
        XCTAssertEqual([img.width, small.width, edges.width, blurred.count], [1024, 512, 1024, 1024 * 1024])
        // For an outside comparison with Pillow / cv2 on the big picture.
        if let out = ProcessInfo.processInfo.environment["MAJICFLUX_BENCH_OUT"] {
            try small.write(to: out + "/resized.png")
            try edges.write(to: out + "/canny.png")
            try PNGImage.gray(blurred, width: 1024, height: 1024).write(to: out + "/blur8.png")
            try img.write(to: out + "/decoded.png")
        }
    }
}
