import Models
import Tensor
import XCTest

/// `ImageConditioning.overlaid(on:)`: A1111's inpainting overlay, the input picture pasted back
/// outside the mask.
final class ConditioningOverlayTests: XCTestCase {
    func plain(_ w: Int, _ h: Int, _ rgb: [UInt8]) throws -> PNGImage {
        try PNGImage(width: w, height: h, channels: 3, pixels: (0..<(w * h)).flatMap { _ in rgb })
    }

    /// White (repaint) in the left half.
    func leftHalf(_ w: Int, _ h: Int) throws -> PNGImage {
        var p = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 0..<(w / 2) { for c in 0..<3 { p[(y * w + x) * 3 + c] = 255 } } }
        return try PNGImage(width: w, height: h, channels: 3, pixels: p)
    }

    func testTheUnmaskedAreaKeepsThePicturesPixels() throws {
        let (w, h) = (32, 16)
        let picture = try plain(w, h, [0, 0, 255]), generated = try plain(w, h, [200, 10, 10])
        var c = ImageConditioning(image: picture, mask: try leftHalf(w, h))
        XCTAssertEqual(try c.overlaid(on: generated), generated, "off: the generated picture as it is")
        c.keepUnmasked = true
        let sharp = try c.overlaid(on: generated)
        for x in 0..<w {
            let px = Array(sharp.pixels[(5 * w + x) * 3..<(5 * w + x) * 3 + 3])
            XCTAssertEqual(px, x < w / 2 ? [200, 10, 10] : [0, 0, 255], "column \(x)")
        }
        // Blurred: the far sides stay as they were, the edge blends (the doubled mask reaches full
        // strength inside the masked side first, as A1111's does).
        c.maskBlur = 4
        let soft = try c.overlaid(on: generated)
        func red(_ x: Int) -> UInt8 { soft.pixels[(5 * w + x) * 3] }
        XCTAssertEqual(red(0), 200)
        XCTAssertEqual(red(w - 1), 0)
        XCTAssertTrue((1..<200).contains(red(w / 2 + 1)), "the edge blends: \(red(w / 2 + 1))")
        // A picture of another size than the result is resized to it first.
        c = ImageConditioning(image: try plain(16, 8, [0, 0, 255]), mask: try leftHalf(16, 8))
        c.keepUnmasked = true
        let grown = try c.overlaid(on: generated)
        XCTAssertEqual(Array(grown.pixels[(5 * w + w - 1) * 3..<(5 * w + w) * 3]), [0, 0, 255])
        // Outpainting has no unmasked picture area to keep at the result's size: left alone.
        c.outpaint = OutpaintMargins(left: 16, top: 0, right: 0, bottom: 0)
        XCTAssertEqual(try c.overlaid(on: generated), generated)
    }
}
