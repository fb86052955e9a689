#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reading pictures given by users (init images, masks, control images, references): PNG, JPEG or WebP,
/// told apart by their magic bytes, decoded to 8-bit RGB or RGBA with the EXIF orientation applied.
///
/// PNG goes through libpng (`PNG.decode`: grayscale, palette, 16-bit, tRNS all become 8-bit RGB/RGBA);
/// JPEG through libjpeg-turbo (`JPEG.decode`: grayscale becomes RGB, CMYK/YCCK is refused); WebP through
/// libwebp (`WebP.decode`: still pictures, RGB or RGBA). The EXIF orientation (JPEG APP1 "Exif", PNG
/// eXIf chunk, WebP EXIF chunk) is applied as Pillow's `ImageOps.exif_transpose` does.
public enum ImageFile {
    /// The default pixel limit: 8192 x 8192.
    public static let defaultMaxPixels = 8192 * 8192

    /// The container formats `ImageFile` reads.
    public enum Format: String, Sendable {
        case png = "PNG"
        case jpeg = "JPEG"
        case webp = "WebP"
    }

    /// The format the magic bytes announce, or nil for anything else.
    public static func format(of bytes: [UInt8]) -> Format? {
        if bytes.starts(with: PNGChunks.signature) { return .png }
        // SOI followed by the first marker's 0xFF.
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        if WebP.isWebP(bytes) { return .webp }
        return nil
    }

    /// Decodes PNG, JPEG or WebP bytes into an upright 8-bit RGB or RGBA image. `source` names the data in errors.
    /// A picture whose header claims more than `maxPixels` pixels is refused before its pixels are allocated.
    /// Throws `TensorError.corrupt` for unknown formats and damaged, truncated or empty data, and
    /// `TensorError.invalidArgument` for pictures over the limit or of an unsupported kind (CMYK JPEG,
    /// animated WebP).
    public static func decode(_ bytes: [UInt8], source: String, maxPixels: Int = defaultMaxPixels) throws -> PNGImage {
        guard !bytes.isEmpty else { throw TensorError.corrupt(path: source, reason: "empty file (expected a PNG, JPEG or WebP image)") }
        switch format(of: bytes) {
        case .png:
            try checkPNGSize(bytes, source: source, maxPixels: maxPixels)
            let image = try PNG.decode(bytes, source: source).image
            let orientation = try bytes.withUnsafeBytes { b -> Int? in
                let chunks = try PNGChunks.walk(b, source: source)
                guard let exif = chunks.first(where: { $0.type == "eXIf" }) else { return nil }
                return EXIFOrientation.parse(Array(b[exif.dataStart..<(exif.dataStart + exif.length)]))
            }
            return EXIFOrientation.apply(orientation ?? 1, to: image)
        case .jpeg:
            let image = try JPEG.decode(bytes, source: source, maxPixels: maxPixels)
            let orientation = JPEG.exifPayload(bytes).flatMap(EXIFOrientation.parse)
            return EXIFOrientation.apply(orientation ?? 1, to: image)
        case .webp:
            let image = try WebP.decode(bytes, source: source, maxPixels: maxPixels)
            return EXIFOrientation.apply(WebP.exifPayload(bytes).flatMap(EXIFOrientation.parse) ?? 1, to: image)
        case nil:
            let head = bytes.prefix(8).map { String($0, radix: 16) }.joined(separator: " ")
            throw TensorError.corrupt(path: source, reason: "not a PNG, JPEG or WebP image (first bytes: \(head)); supported formats: PNG, JPEG, WebP")
        }
    }

    /// Reads and decodes a PNG, JPEG or WebP file (see `decode`).
    public static func read(_ path: String, maxPixels: Int = defaultMaxPixels) throws -> PNGImage {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TensorError.io(path: path, reason: "cannot read image file: \(error)")
        }
        return try decode([UInt8](data), source: path, maxPixels: maxPixels)
    }

    /// Checks the IHDR's claimed size (bytes 16..<24, right after the signature and IHDR's header).
    private static func checkPNGSize(_ bytes: [UInt8], source: String, maxPixels: Int) throws {
        guard bytes.count >= 24 else { throw TensorError.corrupt(path: source, reason: "truncated PNG: \(bytes.count) bytes, no complete IHDR") }
        func u32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        try checkSize(width: u32(16), height: u32(20), source: source, maxPixels: maxPixels)
    }

    static func checkSize(width: Int, height: Int, source: String, maxPixels: Int) throws {
        guard width.multipliedReportingOverflow(by: height).partialValue <= maxPixels, width <= maxPixels, height <= maxPixels else {
            throw TensorError.invalidArgument("\(source): image \(width)x\(height) has more than the \(maxPixels) pixels allowed")
        }
    }
}
