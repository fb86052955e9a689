#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CPNG

/// PNG encoding and decoding with text metadata.
///
/// Pixels go through libpng's simplified API (which reports errors by return value, so no longjmp crosses
/// Swift frames); text chunks are handled here at the chunk level. Decoding accepts any PNG libpng reads
/// (gray, gray+alpha, palette, tRNS, 16-bit, interlaced) and returns 8-bit RGB, or RGBA when the file has
/// alpha. 16-bit files are taken as sRGB-encoded. Errors are `TensorError.corrupt` (bad data, naming the
/// source) or `TensorError.invalidArgument` (bad text keys); malformed input never crashes.
public enum PNG {
    /// Encodes `image` as PNG, with `text` stored as tEXt chunks (Latin-1 key and value) or iTXt chunks
    /// (UTF-8 value), in the given order, before the image data. `fast` asks libpng to favour speed over
    /// file size (PNG_IMAGE_FLAG_FAST).
    public static func encode(_ image: PNGImage, text: [(key: String, value: String)] = [], fast: Bool = false) throws -> [UInt8] {
        let textChunks = try text.map { try PNGChunks.textChunk(key: $0.key, value: $0.value) }
        guard image.width <= 0x7FFF_FFFF, image.height <= 0x7FFF_FFFF else {
            throw TensorError.invalidArgument("image \(image.width)x\(image.height) is too large for PNG")
        }
        var img = png_image()
        img.version = png_uint_32(PNG_IMAGE_VERSION)
        img.width = png_uint_32(image.width)
        img.height = png_uint_32(image.height)
        img.format = png_uint_32(image.channels == 4 ? 0x03 : 0x02) // PNG_FORMAT_RGBA / PNG_FORMAT_RGB
        if fast { img.flags |= 0x02 } // PNG_IMAGE_FLAG_FAST
        let rowStride = png_int_32(image.width * image.channels)

        var encoded: [UInt8] = try image.pixels.withUnsafeBytes { px in
            // One pass into a buffer that holds any outcome: the filtered rows stored uncompressed
            // plus zlib's and the chunks' framing (libpng's own measuring call would compress twice;
            // at 1024x1024 that was a third of a second).
            let raw = image.height * (image.width * image.channels + 1)
            var size = png_alloc_size_t(raw + raw / 64 + (64 << 10))
            var out = [UInt8](repeating: 0, count: Int(size))
            var ok = out.withUnsafeMutableBytes { o in
                png_image_write_to_memory(&img, o.baseAddress, &size, 0, px.baseAddress, rowStride, nil)
            }
            if ok == 0 && Int(size) > out.count {
                // Not expected: libpng reports the size it needs; write again into that.
                img.warning_or_error = 0
                out = [UInt8](repeating: 0, count: Int(size))
                ok = out.withUnsafeMutableBytes { o in
                    png_image_write_to_memory(&img, o.baseAddress, &size, 0, px.baseAddress, rowStride, nil)
                }
            }
            guard ok != 0 else { throw TensorError.invalidArgument("libpng could not encode the image: \(message(&img))") }
            out.removeSubrange(Int(size)...)
            return out
        }
        if !textChunks.isEmpty {
            let chunks = try encoded.withUnsafeBytes { try PNGChunks.walk($0, source: "encoder output") }
            let firstIDAT = chunks.first(where: { $0.type == "IDAT" })!.start
            encoded.insert(contentsOf: textChunks.joined(), at: firstIDAT)
        }
        return encoded
    }

    /// Decodes PNG bytes into an 8-bit RGB / RGBA image and its text chunks (tEXt, zTXt, iTXt, in file
    /// order). `source` names the data in error messages.
    public static func decode(_ bytes: [UInt8], source: String = "PNG data") throws -> (image: PNGImage, text: [(key: String, value: String)]) {
        try bytes.withUnsafeBytes { b in
            let chunks = try PNGChunks.walk(b, source: source)
            let text = try PNGChunks.texts(b, chunks: chunks, source: source)
            // Hand libpng exactly the chunks up to IEND (ignoring anything after it).
            let used = chunks.last!.end

            var img = png_image()
            img.version = png_uint_32(PNG_IMAGE_VERSION)
            guard png_image_begin_read_from_memory(&img, b.baseAddress, used) != 0 else {
                throw TensorError.corrupt(path: source, reason: "libpng: \(message(&img))")
            }
            let hasAlpha = img.format & 0x01 != 0
            let channels = hasAlpha ? 4 : 3
            img.format = png_uint_32(hasAlpha ? 0x03 : 0x02)
            img.flags |= 0x04 // PNG_IMAGE_FLAG_16BIT_sRGB: 16-bit data without gAMA is sRGB, not linear
            let width = Int(img.width), height = Int(img.height)
            let (rowBytes, o1) = width.multipliedReportingOverflow(by: channels)
            let (total, o2) = rowBytes.multipliedReportingOverflow(by: height)
            // deflate expands at most ~1032:1 and a pixel takes at least 1 bit, so a header claiming far
            // more pixels than the IDAT data can hold is corrupt (and must not make us allocate gigabytes).
            let idatBytes = chunks.lazy.filter { $0.type == "IDAT" }.reduce(0) { $0 + $1.length }
            guard !o1, !o2, total <= 1 << 31, width * height / 8 <= (idatBytes + 64) * 1100 else {
                png_image_free(&img)
                throw TensorError.corrupt(path: source, reason: "image \(width)x\(height) is too large to decode")
            }
            var pixels = [UInt8](repeating: 0, count: total)
            let ok = pixels.withUnsafeMutableBytes { p in
                png_image_finish_read(&img, nil, p.baseAddress, png_int_32(rowBytes), nil)
            }
            guard ok != 0 else {
                let why = message(&img)
                png_image_free(&img)
                throw TensorError.corrupt(path: source, reason: "libpng: \(why)")
            }
            png_image_free(&img)
            return (try PNGImage(width: width, height: height, channels: channels, pixels: pixels), text)
        }
    }

    /// The text chunks of PNG bytes (tEXt, zTXt, iTXt, in file order) without decoding the pixels: a
    /// picture's metadata, read as cheaply as its header. Throws when the chunk structure is corrupt.
    public static func text(_ bytes: [UInt8], source: String = "PNG data") throws -> [(key: String, value: String)] {
        try bytes.withUnsafeBytes { b in
            try PNGChunks.texts(b, chunks: try PNGChunks.walk(b, source: source), source: source)
        }
    }

    /// Encodes and writes a PNG file.
    public static func write(_ image: PNGImage, to path: String, text: [(key: String, value: String)] = [], fast: Bool = false) throws {
        let bytes = try encode(image, text: text, fast: fast)
        try AtomicWrite.write(bytes, to: path)
    }

    /// Reads and decodes a PNG file.
    public static func read(_ path: String) throws -> (image: PNGImage, text: [(key: String, value: String)]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TensorError.io(path: path, reason: "cannot read file: \(error)")
        }
        return try decode([UInt8](data), source: path)
    }

    private static func message(_ img: inout png_image) -> String {
        withUnsafeBytes(of: &img.message) { raw in
            let bytes = raw.prefix(while: { $0 != 0 })
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

extension PNGImage {
    /// Encodes the image as PNG (see `PNG.encode`).
    public func pngData(text: [(key: String, value: String)] = [], fast: Bool = false) throws -> [UInt8] {
        try PNG.encode(self, text: text, fast: fast)
    }

    /// Writes the image as a PNG file (see `PNG.write`).
    public func write(to path: String, text: [(key: String, value: String)] = [], fast: Bool = false) throws {
        try PNG.write(self, to: path, text: text, fast: fast)
    }
}
