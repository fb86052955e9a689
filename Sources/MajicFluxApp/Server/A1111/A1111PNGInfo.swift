import Foundation
import Tensor

/// `POST /sdapi/v1/png-info`: a picture's generation parameters, as A1111 reads them. `info` is the
/// infotext (a PNG's `parameters` text chunk, or a JPEG's or WebP's EXIF UserComment, where A1111
/// and this server write it); `items` the PNG's other text chunks; `parameters` the infotext split into
/// fields (`Infotext.a1111Parameters`). Only the metadata is read, never the pixels.
enum A1111PNGInfo {
    static func answer(_ o: [String: JSONValue], images: JobImages) throws -> JSONValue {
        guard let v = o["image"], !v.isNull else { throw A1111Error.invalid("image", "image is missing: send the picture as base64 text or a data URL") }
        guard let text = v.string else {
            throw A1111Error.invalid("image", "image must be a picture as base64 text or a data URL, got \(JobRequestParser.shown(v))")
        }
        let bytes: [UInt8]
        do { bytes = try images.base64(text.trimmingCharacters(in: .whitespacesAndNewlines), field: "image") } catch let e as APIError {
            throw A1111Error(status: e.status == .badRequest ? .unprocessableContent : e.status, message: e.message, field: e.status == .badRequest ? "image" : nil)
        }
        let picture: (format: ImageFile.Format, chunks: [(key: String, value: String)])?
        do { picture = try PictureText.read(bytes) } catch { throw A1111Error.invalid("image", "image is a corrupt PNG file: \(error)") }
        guard let picture else {
            throw A1111Error.invalid("image", "image is not a PNG, JPEG or WebP picture" + (bytes.isEmpty ? " (it is empty)" : ""))
        }
        var info = "", items: [String: JSONValue] = [:]
        for (key, value) in picture.chunks {
            if key == "parameters" { info = value } else { items[key] = .string(value) }
        }
        return .object(["info": .string(info), "items": .object(items),
                        "parameters": .object(Infotext.a1111Parameters(info).mapValues(JSONValue.string))])
    }
}
