/// The EXIF orientation tag (0x0112): reading it from an EXIF (TIFF) block and turning a picture upright
/// as Pillow's `ImageOps.exif_transpose` does.
///
/// Values: 1 upright, 2 mirrored left-right, 3 rotated 180°, 4 mirrored top-bottom, 5 transposed,
/// 6 needs 90° clockwise, 7 transversed, 8 needs 90° counter-clockwise. Anything else is left as is.
public enum EXIFOrientation {
    /// The orientation in IFD0 of a TIFF-structured EXIF block ("II*\0" or "MM\0*", optionally preceded
    /// by "Exif\0\0"), or nil when the block is malformed or has no orientation tag.
    public static func parse(_ exif: [UInt8]) -> Int? {
        guard let t = TIFFReader(exif), let ifd = t.ifd0, let e = t.entry(0x0112, in: ifd) else { return nil }
        switch e.type {
        case 3: return t.u16(e.field)   // SHORT, the usual
        case 4: return t.u32(e.field)   // LONG, seen in some writers
        default: return nil
        }
    }

    /// `image` turned upright for `orientation` (1...8; other values return the image unchanged).
    public static func apply(_ orientation: Int, to image: PNGImage) -> PNGImage {
        guard (2...8).contains(orientation) else { return image }
        let w = image.width, h = image.height, c = image.channels
        let swaps = orientation >= 5
        let ow = swaps ? h : w, oh = swaps ? w : h
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<oh {
                    for x in 0..<ow {
                        // The source pixel of output (x, y), per Pillow's transpose methods.
                        let (sx, sy): (Int, Int)
                        switch orientation {
                        case 2: (sx, sy) = (w - 1 - x, y)           // FLIP_LEFT_RIGHT
                        case 3: (sx, sy) = (w - 1 - x, h - 1 - y)   // ROTATE_180
                        case 4: (sx, sy) = (x, h - 1 - y)           // FLIP_TOP_BOTTOM
                        case 5: (sx, sy) = (y, x)                   // TRANSPOSE
                        case 6: (sx, sy) = (y, h - 1 - x)           // ROTATE_270 (90° clockwise)
                        case 7: (sx, sy) = (w - 1 - y, h - 1 - x)   // TRANSVERSE
                        default: (sx, sy) = (w - 1 - y, x)          // 8: ROTATE_90 (counter-clockwise)
                        }
                        let o = (y * ow + x) * c, s = (sy * w + sx) * c
                        for k in 0..<c { dst[o + k] = src[s + k] }
                    }
                }
            }
        }
        return try! PNGImage(width: ow, height: oh, channels: c, pixels: out)
    }
}
