import CWebP

/// WebP through libwebp's simple API: decoding still pictures (lossy or lossless, with or without alpha)
/// and encoding 8-bit RGB/RGBA, with an EXIF chunk where AUTOMATIC1111 keeps a WebP's parameters
/// (`EXIFUserComment`). The RIFF container is walked here (chunk lengths checked, never read past).
public enum WebP {
    /// The most pixels a WebP picture has on a side (the format's 14-bit dimensions).
    public static let maxSide = 16383

    /// Whether the bytes start as a WebP file ("RIFF", size, "WEBP").
    public static func isWebP(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 12 && bytes[0..<4].elementsEqual(Array("RIFF".utf8)) && bytes[8..<12].elementsEqual(Array("WEBP".utf8))
    }

    /// Width and height from the bitstream's header (no pixel decoded), or nil when libwebp cannot read one.
    public static func size(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
        var w: Int32 = 0, h: Int32 = 0
        let ok = bytes.withUnsafeBufferPointer { WebPGetInfo($0.baseAddress, $0.count, &w, &h) }
        return ok != 0 ? (Int(w), Int(h)) : nil
    }

    /// Decodes a still WebP into 8-bit RGB, or RGBA when it has alpha. The EXIF orientation is *not*
    /// applied (see `ImageFile.decode`). Throws `TensorError.corrupt` for damaged or truncated data and
    /// `TensorError.invalidArgument` for animations and pictures over `maxPixels`.
    public static func decode(_ bytes: [UInt8], source: String = "WebP data", maxPixels: Int = ImageFile.defaultMaxPixels) throws -> PNGImage {
        var features = WebPBitstreamFeatures()
        let status = bytes.withUnsafeBufferPointer { WebPGetFeatures($0.baseAddress, $0.count, &features) }
        guard status == VP8_STATUS_OK else {
            throw TensorError.corrupt(path: source, reason: "WebP: \(describe(status))")
        }
        if features.has_animation != 0 {
            throw TensorError.invalidArgument("\(source): animated WebP pictures are not supported; save one frame as PNG, JPEG or WebP")
        }
        let width = Int(features.width), height = Int(features.height)
        try ImageFile.checkSize(width: width, height: height, source: source, maxPixels: maxPixels)
        let channels = features.has_alpha != 0 ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        let decoded = bytes.withUnsafeBufferPointer { b in
            pixels.withUnsafeMutableBufferPointer { p in
                channels == 4
                    ? WebPDecodeRGBAInto(b.baseAddress, b.count, p.baseAddress, p.count, Int32(width * 4))
                    : WebPDecodeRGBInto(b.baseAddress, b.count, p.baseAddress, p.count, Int32(width * 3))
            }
        }
        guard decoded != nil else { throw TensorError.corrupt(path: source, reason: "WebP: the picture data cannot be decoded (damaged or truncated)") }
        return try PNGImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// Encodes an RGB or RGBA picture as WebP: lossy at `quality` (1-100), or `lossless`; with `exif`
    /// (a TIFF payload, see `EXIFUserComment.payload`) in an EXIF chunk when given, as Pillow writes it.
    public static func encode(_ image: PNGImage, quality: Int = 95, lossless: Bool = false, exif: [UInt8]? = nil) throws -> [UInt8] {
        guard (1...100).contains(quality) else { throw TensorError.invalidArgument("WebP quality must be 1...100, got \(quality)") }
        guard image.width <= maxSide, image.height <= maxSide else {
            throw TensorError.invalidArgument("a WebP picture is at most \(maxSide) pixels a side; \(image.width)x\(image.height) is larger (write PNG or JPEG)")
        }
        let alpha = image.channels == 4
        let pixels = alpha ? image.pixels : image.rgb().pixels
        let stride = Int32(image.width * (alpha ? 4 : 3)), w = Int32(image.width), h = Int32(image.height)
        var output: UnsafeMutablePointer<UInt8>?
        let size = pixels.withUnsafeBufferPointer { p -> Int in
            switch (alpha, lossless) {
            case (false, false): return WebPEncodeRGB(p.baseAddress, w, h, stride, Float(quality), &output)
            case (true, false): return WebPEncodeRGBA(p.baseAddress, w, h, stride, Float(quality), &output)
            case (false, true): return WebPEncodeLosslessRGB(p.baseAddress, w, h, stride, &output)
            case (true, true): return WebPEncodeLosslessRGBA(p.baseAddress, w, h, stride, &output)
            }
        }
        defer { WebPFree(output) }
        guard size > 0, let output else { throw TensorError.invalidArgument("WebP encoding of a \(image.width)x\(image.height) picture failed") }
        let encoded = [UInt8](UnsafeBufferPointer(start: output, count: size))
        guard let exif else { return encoded }
        return try withEXIF(encoded, exif: exif, width: image.width, height: image.height, alpha: alpha)
    }

    /// Encodes and writes a WebP file (atomically: a reader never sees half of one).
    public static func write(_ image: PNGImage, to path: String, quality: Int = 95, lossless: Bool = false, exif: [UInt8]? = nil) throws {
        try AtomicWrite.write(try encode(image, quality: quality, lossless: lossless, exif: exif), to: path)
    }

    /// The UserComment of a WebP's EXIF chunk as text, or nil when it has none (see `EXIFUserComment.read`).
    public static func userComment(in webp: [UInt8]) -> String? {
        exifPayload(webp).flatMap(EXIFUserComment.read)
    }

    /// The data of the EXIF chunk (a TIFF block; some writers put "Exif\0\0" first), or nil.
    static func exifPayload(_ webp: [UInt8]) -> [UInt8]? {
        chunks(webp)?.first { $0.type == "EXIF" }.map { Array(webp[$0.data]) }
    }

    // MARK: the RIFF container

    /// One chunk: its FourCC and where its data lies (chunks are padded to an even length).
    struct Chunk {
        let type: String
        let data: Range<Int>
    }

    /// The chunks after "WEBP", or nil when the file is not a WebP or a chunk runs past the end.
    static func chunks(_ b: [UInt8]) -> [Chunk]? {
        guard isWebP(b) else { return nil }
        var result: [Chunk] = [], at = 12
        while at + 8 <= b.count {
            let length = Int(b[at + 4]) | Int(b[at + 5]) << 8 | Int(b[at + 6]) << 16 | Int(b[at + 7]) << 24
            let start = at + 8
            guard length <= b.count - start else { return nil }
            result.append(Chunk(type: String(decoding: b[at..<(at + 4)], as: UTF8.self), data: start..<(start + length)))
            at = start + length + (length & 1)
        }
        return result
    }

    /// libwebp's output (simple "VP8 "/"VP8L" or extended "VP8X" form) with an EXIF chunk added: an
    /// extended file's VP8X header gets the EXIF flag, a simple one a new VP8X header (EXIF flag, and
    /// the alpha flag for an RGBA picture); the EXIF chunk goes last and the RIFF size is set again.
    static func withEXIF(_ encoded: [UInt8], exif: [UInt8], width: Int, height: Int, alpha: Bool) throws -> [UInt8] {
        guard let parts = chunks(encoded), !parts.isEmpty else { throw TensorError.invalidArgument("libwebp produced no RIFF chunks") }
        let tiff = exif.starts(with: [0x45, 0x78, 0x69, 0x66, 0, 0]) ? Array(exif.dropFirst(6)) : exif
        guard tiff.count <= Int(UInt32.max) - 64 else { throw TensorError.invalidArgument("the EXIF data is too large for a WebP chunk") }
        func le(_ v: Int, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] { Array(type.utf8) + le(data.count, 4) + data + (data.count & 1 == 1 ? [0] : []) }
        var body: [UInt8]
        if parts[0].type == "VP8X" {
            body = Array(encoded[12...])
            body[8] |= 0x08  // the EXIF flag, in the VP8X data's first byte
        } else {
            let flags: UInt8 = 0x08 | (alpha ? 0x10 : 0)
            body = chunk("VP8X", [flags, 0, 0, 0] + le(width - 1, 3) + le(height - 1, 3)) + Array(encoded[12...])
        }
        body += chunk("EXIF", tiff)
        return Array("RIFF".utf8) + le(4 + body.count, 4) + Array("WEBP".utf8) + body
    }

    static func describe(_ status: VP8StatusCode) -> String {
        switch status {
        case VP8_STATUS_OUT_OF_MEMORY: return "out of memory"
        case VP8_STATUS_INVALID_PARAM: return "invalid parameter"
        case VP8_STATUS_BITSTREAM_ERROR: return "not a valid WebP bitstream"
        case VP8_STATUS_UNSUPPORTED_FEATURE: return "a WebP feature libwebp does not support"
        case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated WebP data"
        default: return "cannot decode (status \(status.rawValue))"
        }
    }
}
