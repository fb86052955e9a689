import Foundation
import Tensor

/// Small input pictures for the picture options' tests.
enum TestPictures {
    /// A `width` x `height` picture of a colour ramp (pixels differ, so a picture read back is checked
    /// byte for byte), RGB or RGBA.
    static func image(width: Int, height: Int, channels: Int = 3, seed: Int = 1) throws -> PNGImage {
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * channels
                pixels[i] = UInt8(truncatingIfNeeded: x * 7 + seed)
                pixels[i + 1] = UInt8(truncatingIfNeeded: y * 5 + seed * 3)
                pixels[i + 2] = UInt8(truncatingIfNeeded: (x + y) * 3)
                if channels == 4 { pixels[i + 3] = x < width / 2 ? 255 : 0 }
            }
        }
        return try PNGImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// A mask: white (repaint) in the left half, black elsewhere.
    static func mask(width: Int, height: Int) throws -> PNGImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height { for x in 0..<(width / 2) { for c in 0..<3 { pixels[(y * width + x) * 3 + c] = 255 } } }
        return try PNGImage(width: width, height: height, channels: 3, pixels: pixels)
    }

    static func png(_ p: PNGImage) throws -> [UInt8] { try PNG.encode(p) }

    /// A valid-looking PNG signature and IHDR claiming `width` x `height`, with no pixel data: an
    /// image bomb's header.
    static func bombHeader(width: UInt32, height: UInt32) -> [UInt8] {
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        let ihdr = Array("IHDR".utf8) + be(width) + be(height) + [8, 2, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + be(13) + ihdr + [0, 0, 0, 0]
            + be(10) + Array("IDAT".utf8) + [0x78, 0x9C, 0x63, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 0, 0] + be(0) + Array("IEND".utf8) + [0xAE, 0x42, 0x60, 0x82]
    }

    /// Writes `bytes` into `folder/name`; returns the path.
    @discardableResult
    static func write(_ bytes: [UInt8], _ name: String, in folder: String) throws -> String {
        let path = folder + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
