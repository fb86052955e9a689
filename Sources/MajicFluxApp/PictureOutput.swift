import Foundation
import Tensor

/// The file `generate --output` writes, by its extension (any case): `.jpg`/`.jpeg` a JPEG, `.webp`
/// a WebP (both lossy, quality 95, the infotext in EXIF UserComment as AUTOMATIC1111 writes them),
/// `.png` a PNG with its text chunks (`generate` refuses other names).
enum PictureOutput: String {
    case png = "PNG", jpeg = "JPEG", webp = "WebP"

    /// The extensions that choose a format other than PNG.
    static let extensions: [(String, PictureOutput)] = [(".jpg", .jpeg), (".jpeg", .jpeg), (".webp", .webp), (".png", .png)]

    init(path: String) { self = Self(checking: path) ?? .png }

    /// The format `path`'s extension names; nil for any other extension (or none).
    init?(checking path: String) {
        let p = path.lowercased()
        guard let found = Self.extensions.first(where: { p.hasSuffix($0.0) })?.1 else { return nil }
        self = found
    }

    /// Where picture `seed` of a batch goes: `output` with `-seedS` before its extension (after it when
    /// it has none of ours); `output` itself for a single picture.
    static func path(_ output: String, seed: UInt64, batch: Int) -> String {
        guard batch > 1 else { return output }
        for (ext, _) in extensions where output.lowercased().hasSuffix(ext) {
            return String(output.dropLast(ext.count)) + "-seed\(seed)" + String(output.suffix(ext.count))
        }
        return output + "-seed\(seed)"
    }

    /// Writes `image` to `path` in this format: a PNG with `text` chunks, or a JPEG / WebP with the
    /// `parameters` text as EXIF UserComment (where AUTOMATIC1111 keeps their infotext).
    func write(_ image: PNGImage, to path: String, text: [(key: String, value: String)]) throws {
        guard self != .png else { return try PNG.write(image, to: path, text: text) }
        var exif = text.first { $0.key == "parameters" }.map { EXIFUserComment.payload($0.value) }
        if self == .jpeg, let e = exif, e.count > JPEG.maxEXIFBytes {
            // The picture matters more than its record: written without it, and said so.
            Console.info("warning: the parameters take \(e.count) bytes as EXIF, more than a JPEG segment holds (\(JPEG.maxEXIFBytes)); \(path) is written without them (a .png keeps them)")
            exif = nil
        }
        switch self {
        case .jpeg: try JPEG.write(image, to: path, quality: 95, exif: exif)
        default: try WebP.write(image, to: path, quality: 95, exif: exif)
        }
    }
}
