import CJPEG

/// JPEG decoding through libjpeg-turbo, with libjpeg's defaults (islow IDCT, fancy upsampling), as Pillow
/// decodes. libjpeg's error exits are caught in C (Sources/CJPEG/shim.h), so bad data never unwinds Swift.
public enum JPEG {
    /// Decodes JPEG bytes into 8-bit RGB (grayscale is expanded to RGB). The EXIF orientation is *not*
    /// applied (see `ImageFile.decode`). Throws `TensorError.corrupt` for damaged or truncated data and
    /// `TensorError.invalidArgument` for CMYK/YCCK pictures and pictures over `maxPixels`.
    public static func decode(_ bytes: [UInt8], source: String = "JPEG data", maxPixels: Int = ImageFile.defaultMaxPixels) throws -> PNGImage {
        var result = mf_jpeg_result()
        let status = bytes.withUnsafeBufferPointer { b in
            mf_jpeg_decode(b.baseAddress, b.count, Int64(maxPixels), &result)
        }
        defer { mf_jpeg_free(result.pixels) }
        let width = Int(result.width), height = Int(result.height)
        switch status {
        case MF_JPEG_OK:
            guard let p = result.pixels, width > 0, height > 0 else {
                throw TensorError.corrupt(path: source, reason: "libjpeg returned an empty image")
            }
            let pixels = [UInt8](UnsafeBufferPointer(start: p, count: width * height * 3))
            return try PNGImage(width: width, height: height, channels: 3, pixels: pixels)
        case MF_JPEG_TOO_LARGE:
            try ImageFile.checkSize(width: width, height: height, source: source, maxPixels: maxPixels)
            throw TensorError.invalidArgument("\(source): image \(width)x\(height) is too large")
        case MF_JPEG_CMYK:
            throw TensorError.invalidArgument("\(source): CMYK/YCCK JPEG images are not supported; convert the picture to RGB")
        case MF_JPEG_NO_MEMORY:
            throw TensorError.invalidArgument("\(source): out of memory decoding a \(width)x\(height) JPEG")
        default:
            let why = withUnsafeBytes(of: &result.message) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            throw TensorError.corrupt(path: source, reason: "JPEG: \(why.isEmpty ? "cannot decode" : why)")
        }
    }

    /// The TIFF payload of the first APP1 "Exif\0\0" segment before the image data, or nil. Walks the
    /// marker segments by their lengths; stops at SOS or at anything malformed.
    static func exifPayload(_ bytes: [UInt8]) -> [UInt8]? {
        var at = 2 // after SOI
        while at + 4 <= bytes.count {
            guard bytes[at] == 0xFF else { return nil }
            let marker = bytes[at + 1]
            if marker == 0xFF { at += 1; continue } // fill byte
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { at += 2; continue } // no length
            if marker == 0xDA || marker == 0xD9 { return nil } // SOS / EOI: no more metadata segments
            let length = Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            guard length >= 2, at + 2 + length <= bytes.count else { return nil }
            let start = at + 4, end = at + 2 + length
            if marker == 0xE1, end - start >= 6, Array(bytes[start..<(start + 6)]) == [0x45, 0x78, 0x69, 0x66, 0, 0] {
                return Array(bytes[(start + 6)..<end])
            }
            at = end
        }
        return nil
    }
}

extension JPEG {
    /// The largest EXIF (TIFF) payload one APP1 segment holds: 65535 less the length field and "Exif\0\0".
    public static let maxEXIFBytes = 65_527

    /// Encodes an RGB or RGBA picture (alpha dropped) as JPEG through libjpeg-turbo at `quality`
    /// (1-100), with `exif` (a TIFF payload, see `EXIFUserComment.payload`) in an APP1 "Exif" segment when
    /// given. Throws `TensorError.invalidArgument` for a quality out of range or an EXIF payload over
    /// what one segment holds.
    public static func encode(_ image: PNGImage, quality: Int = 95, exif: [UInt8]? = nil) throws -> [UInt8] {
        guard (1...100).contains(quality) else { throw TensorError.invalidArgument("JPEG quality must be 1...100, got \(quality)") }
        if let exif, exif.count > maxEXIFBytes {
            throw TensorError.invalidArgument("the EXIF data (\(exif.count) bytes) does not fit one JPEG segment (\(maxEXIFBytes))")
        }
        let app1 = exif.map { [0x45, 0x78, 0x69, 0x66, 0, 0] + $0 } ?? []
        let rgb = image.rgb().pixels
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        var message = [CChar](repeating: 0, count: 200)
        let status = rgb.withUnsafeBufferPointer { p in
            app1.withUnsafeBufferPointer { a in
                mf_jpeg_encode(p.baseAddress, Int32(image.width), Int32(image.height), Int32(quality),
                               a.baseAddress, UInt32(app1.count), &buffer, &size, &message)
            }
        }
        defer { mf_jpeg_free(buffer) }
        guard status == MF_JPEG_OK, let buffer else {
            let why = String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw TensorError.invalidArgument("JPEG encoding failed: \(why.isEmpty ? "libjpeg error" : why)")
        }
        return [UInt8](UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    /// Encodes and writes a JPEG file (atomically: a reader never sees half of one).
    public static func write(_ image: PNGImage, to path: String, quality: Int = 95, exif: [UInt8]? = nil) throws {
        try AtomicWrite.write(try encode(image, quality: quality, exif: exif), to: path)
    }
}
