import Foundation
import Tensor

/// The text a picture carries, read from its metadata only (never the pixels): a PNG's text chunks
/// in file order, or a JPEG's or WebP's EXIF UserComment under the key "parameters" (where A1111 and
/// this server write the infotext). Shared by `png-info` and `/api/picture-parameters`.
enum PictureText {
    /// nil when `bytes` are no PNG, JPEG or WebP; throws (`TensorError`) for a PNG whose chunks are damaged.
    static func read(_ bytes: [UInt8]) throws -> (format: ImageFile.Format, chunks: [(key: String, value: String)])? {
        switch ImageFile.format(of: bytes) {
        case .png?: return (.png, try PNG.text(bytes, source: "image"))
        case .jpeg?: return (.jpeg, JPEG.userComment(in: bytes).map { [("parameters", $0)] } ?? [])
        case .webp?: return (.webp, WebP.userComment(in: bytes).map { [("parameters", $0)] } ?? [])
        case nil: return nil
        }
    }
}
