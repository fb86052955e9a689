/// Reads the TIFF structure of an EXIF block ("II*\0" or "MM\0*", optionally after "Exif\0\0"): its
/// byte order, directories and entries, never reading past the block (a malformed one gives nil).
/// Shared by `EXIFOrientation` (IFD0's orientation) and `JPEG.userComment` (the Exif IFD's UserComment).
struct TIFFReader {
    let bytes: [UInt8]
    let little: Bool

    init?(_ exif: [UInt8]) {
        var b = ArraySlice(exif)
        if b.starts(with: [0x45, 0x78, 0x69, 0x66, 0, 0]) { b = b.dropFirst(6) }
        bytes = Array(b)
        guard bytes.count >= 8 else { return nil }
        switch (bytes[0], bytes[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        guard u16(2) == 42 else { return nil }
    }

    func u16(_ at: Int) -> Int? {
        guard at >= 0, at + 2 <= bytes.count else { return nil }
        return little ? Int(bytes[at]) | Int(bytes[at + 1]) << 8 : Int(bytes[at]) << 8 | Int(bytes[at + 1])
    }

    func u32(_ at: Int) -> Int? {
        guard let a = u16(at), let b = u16(at + 2) else { return nil }
        return little ? a | b << 16 : a << 16 | b
    }

    /// The offset of IFD0.
    var ifd0: Int? { u32(4) }

    /// The entry `tag` of the directory at `ifd`: its type, count and where its value field is (the
    /// value itself when it fits 4 bytes, else the offset of the value). nil when the tag is absent or
    /// an entry before it cannot be read.
    func entry(_ tag: Int, in ifd: Int) -> (type: Int, count: Int, field: Int)? {
        guard let n = u16(ifd) else { return nil }
        for i in 0..<n {
            let e = ifd + 2 + 12 * i
            guard let t = u16(e), let type = u16(e + 2), let count = u32(e + 4) else { return nil }
            if t == tag { return (type, count, e + 8) }
        }
        return nil
    }

    /// `count` bytes at `offset`, or nil past the end.
    func slice(_ offset: Int, _ count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset + count <= bytes.count else { return nil }
        return Array(bytes[offset..<(offset + count)])
    }
}
