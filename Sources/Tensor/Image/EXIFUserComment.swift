/// EXIF's UserComment, where AUTOMATIC1111 and Forge keep a JPEG's or WebP's generation parameters:
/// piexif's `UserComment.dump(text, encoding="unicode")` (an 8-byte "UNICODE\0" prefix, then UTF-16)
/// in the Exif IFD, which IFD0 points to.
public enum EXIFUserComment {
    /// A big-endian TIFF payload (for `JPEG.encode` or `WebP.encode`) holding only `text` as UserComment.
    public static func payload(_ text: String) -> [UInt8] {
        var comment: [UInt8] = Array("UNICODE".utf8) + [0]
        for unit in text.utf16 { comment += [UInt8(unit >> 8), UInt8(unit & 0xFF)] }
        func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func u32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        // Header (8) | IFD0: 1 entry, the Exif IFD's offset (18) | Exif IFD: 1 entry, UserComment (18) | the comment.
        let exifIFD = 8 + 18, data = exifIFD + 18
        return Array("MM".utf8) + u16(42) + u32(8)
            + u16(1) + u16(0x8769) + u16(4) + u32(1) + u32(exifIFD) + u32(0)
            + u16(1) + u16(0x9286) + u16(7) + u32(comment.count) + u32(data) + u32(0)
            + comment
    }

    /// The UserComment of an EXIF (TIFF) block ("Exif\0\0" before it or not) as text (UNICODE: UTF-16
    /// in the TIFF's byte order; ASCII; or undefined, read as UTF-8), or nil when it has none or is malformed.
    public static func read(_ exif: [UInt8]) -> String? {
        guard let t = TIFFReader(exif), let ifd0 = t.ifd0, let pointer = t.entry(0x8769, in: ifd0),
              let exifIFD = t.u32(pointer.field), let c = t.entry(0x9286, in: exifIFD), c.count >= 8,
              let offset = t.u32(c.field), let bytes = t.slice(offset, c.count) else { return nil }
        let body = Array(bytes.dropFirst(8))
        if bytes.prefix(8).elementsEqual(Array("UNICODE".utf8) + [0]) {
            let units = stride(from: 0, to: body.count - 1, by: 2).map { i -> UInt16 in
                t.little ? UInt16(body[i + 1]) << 8 | UInt16(body[i]) : UInt16(body[i]) << 8 | UInt16(body[i + 1])
            }
            return String(decoding: units, as: UTF16.self)
        }
        return String(decoding: body.prefix { $0 != 0 }, as: UTF8.self)
    }
}
