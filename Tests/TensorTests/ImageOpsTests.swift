import Foundation
import Tensor
import XCTest

/// 8-bit image processing against Pillow 13 and OpenCV (Tools/make_image_fixtures.py): Lanczos resize,
/// convert("L"), GaussianBlur, Canny; and the editing helpers (alpha, padded).
final class ImageOpsTests: XCTestCase {
    func testLanczosResizeIsBitExactToPillow() throws {
        XCTAssertGreaterThanOrEqual(ImageFixture.manifest.resize.count, 10)
        for c in ImageFixture.manifest.resize {
            let src = try ImageFixture.png(c.source)
            let want = try ImageFixture.png(c.expected)
            let label = "\(c.mode) \(src.width)x\(src.height) -> \(c.width)x\(c.height)"
            switch c.mode {
            case "l":
                let plane = try ImageFixture.plane(c.source)
                let got = try ImageResize.lanczos(plane, width: src.width, height: src.height, channels: 1,
                                                  toWidth: c.width, toHeight: c.height)
                let (same, first) = ImageFixture.compare(got, try ImageFixture.plane(c.expected))
                XCTAssertEqual(same, 1.0, "\(label): first difference at \(first ?? -1)")
            default:
                let got = try src.resized(width: c.width, height: c.height)
                XCTAssertEqual([got.width, got.height, got.channels], [want.width, want.height, want.channels], label)
                let (same, first) = ImageFixture.compare(got.pixels, want.pixels)
                XCTAssertEqual(same, 1.0, "\(label): first difference at \(first ?? -1)")
            }
        }
    }

    func testResizeRejectsBadSizes() throws {
        let img = PNGImage(width: 4, height: 4)
        XCTAssertThrowsError(try img.resized(width: 0, height: 4))
        XCTAssertThrowsError(try ImageResize.lanczos([1, 2, 3], width: 2, height: 2, channels: 1, toWidth: 1, toHeight: 1))
        XCTAssertEqual(try img.resized(width: 4, height: 4), img)
    }

    func testLumaIsPillowConvertL() throws {
        for c in ImageFixture.manifest.luma {
            let src = try ImageFixture.png(c.source)
            XCTAssertEqual(src.luma(), try ImageFixture.plane(c.expected), c.source)
        }
    }

    func testGaussianBlurIsBitExactToPillow() throws {
        XCTAssertTrue(ImageFixture.manifest.blur.contains { $0.radius == 0 })
        for c in ImageFixture.manifest.blur {
            let src = try ImageFixture.png(c.source)
            let got = try BoxBlur.gaussianBlur(try ImageFixture.plane(c.source), width: src.width, height: src.height, radius: c.radius)
            let (same, first) = ImageFixture.compare(got, try ImageFixture.plane(c.expected))
            XCTAssertEqual(same, 1.0, "\(c.source) radius \(c.radius): first difference at \(first ?? -1)")
        }
        // The RGB entry point blurs each channel alike.
        let gray = try PNGImage.gray(try ImageFixture.plane("blur_src_l.png"), width: 64, height: 48)
        let b = try gray.gaussianBlurred(radius: 2.5)
        XCTAssertEqual(b.luma(), try ImageFixture.plane("blur_src_l_r2.5.png"))
        XCTAssertThrowsError(try BoxBlur.gaussianBlur([0, 0], width: 2, height: 1, radius: -1))
        XCTAssertThrowsError(try BoxBlur.gaussianBlur([0, 0], width: 2, height: 1, radius: .nan))
        XCTAssertThrowsError(try BoxBlur.gaussianBlur([0, 0], width: 2, height: 1, radius: .infinity))
        // A huge (allowed) radius on a tiny plane: the mean-ish value, no overflow trap.
        XCTAssertEqual(try BoxBlur.gaussianBlur([0, 255], width: 2, height: 1, radius: 100_000).count, 2)
    }

    func testCannyMatchesOpenCV() throws {
        var worst = 1.0
        var identical = 0
        for c in ImageFixture.manifest.canny {
            let src = try ImageFixture.png(c.source)
            let got = try Canny.edges(src, low: c.low, high: c.high)
            let want = try ImageFixture.plane(c.expected)
            let (same, first) = ImageFixture.compare(got, want)
            worst = min(worst, same)
            if same == 1 { identical += 1 }
            XCTAssertGreaterThanOrEqual(same, 0.995, "\(c.source) \(c.low)/\(c.high): first difference at \(first ?? -1)")
            XCTAssertTrue(want.contains(255), "fixture \(c.expected) has edges")
        }
        print("Canny vs OpenCV: \(identical)/\(ImageFixture.manifest.canny.count) byte-identical, worst \(worst * 100)% of pixels")
        let rgb = try ImageFixture.png("canny_src_a.png").cannyEdges(low: 50, high: 150)
        XCTAssertEqual(rgb.channels, 3)
        XCTAssertEqual(rgb.luma(), try ImageFixture.plane("canny_a_50_150.png"))
    }

    func testAlphaAndPadding() throws {
        let rgba = try PNGImage(width: 2, height: 2, channels: 4, pixels: [1, 2, 3, 10, 4, 5, 6, 20, 7, 8, 9, 30, 10, 11, 12, 40])
        XCTAssertEqual(rgba.alpha(), [10, 20, 30, 40])
        XCTAssertNil(rgba.rgb().alpha())
        let rgb = try PNGImage(width: 2, height: 2, channels: 3, pixels: [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4])
        let p = try rgb.padded(left: 1, top: 0, right: 2, bottom: 1)
        XCTAssertEqual([p.width, p.height], [5, 3])
        XCTAssertEqual(p.luma(), [1, 1, 2, 2, 2,
                                  3, 3, 4, 4, 4,
                                  3, 3, 4, 4, 4])
        XCTAssertEqual(try rgb.padded(left: 0, top: 0, right: 0, bottom: 0), rgb)
        XCTAssertThrowsError(try rgb.padded(left: -1, top: 0, right: 0, bottom: 0))
        XCTAssertEqual(try rgba.padded(left: 0, top: 1, right: 0, bottom: 0).alpha(), [10, 20, 10, 20, 30, 40])
    }
}
