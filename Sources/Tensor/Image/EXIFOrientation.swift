/// The EXIF orientation tag (0x0112): reading it from an EXIF (TIFF) block and turning a picture upright
/// as Pillow's `ImageOps.exif_transpose` does.
///
/// Values: 1 upright, 2 mirrored left-right, 3 rotated 180°, 4 mirrored top-bottom, 5 transposed,
/// 6 needs 90° clockwise, 7 transversed, 8 needs 90° counter-clockwise. Anything else is left as is.
public enum EXIFOrientation {
    /// The orientation in IFD0 of a TIFF-structured EXIF block ("II*\0" or "MM\0*", optionally preceded
    /// by "Exif\0\0"), or nil when the block is malformed or has no orientation tag.
    public static func parse(_ exif: [UInt8]) -> Int? {
        var b = ArraySlice(exif)
        if b.starts(with: [0x45, 0x78, 0x69, 0x66, 0, 0]) { b = b.dropFirst(6) }
        let t = Array(b)
        guard t.count >= 8 else { return nil }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= t.count else { return nil }
            return little ? Int(t[at]) | Int(t[at + 1]) << 8 : Int(t[at]) << 8 | Int(t[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let a = u16(at), let b = u16(at + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return nil }
        for i in 0..<count {
            let entry = ifd + 2 + 12 * i
            guard let tag = u16(entry), let type = u16(entry + 2) else { return nil }
            guard tag == 0x0112 else { continue }
            switch type {
            case 3: return u16(entry + 8)   // SHORT, the usual
            case 4: return u32(entry + 8)   // LONG, seen in some writers
            default: return nil
            }
        }
        return nil
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
