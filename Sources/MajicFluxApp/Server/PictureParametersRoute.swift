import Foundation
import Hummingbird
import Models
import Tensor

/// `POST /api/picture-parameters`: the generation parameters a picture carries, as a job's
/// `parameters` (docs/API.md), so the page can load them into its form (A1111's "PNG Info" and
/// "send to txt2img"). Read from the metadata only, never the pixels: our PNGs' `majicflux` chunk
/// (exact), else the A1111 infotext of a PNG's `parameters` text or a JPEG's / WebP's EXIF
/// UserComment (ours, A1111's, Forge's).
extension ConsoleServer {
    func addPictureParametersRoute(to router: Router<ConsoleRequestContext>, images: JobImages, uploadLimit: Int) {
        router.post("/api/picture-parameters") { request, _ in
            let (o, size) = try await self.jsonObject(request, limit: uploadLimit, shape: "{\"image\": base64 or a data URL}")
            if size - JobImages.pictureBytes(o) > self.configuration.maxBodyBytes { throw JobRequestParser.tooLarge(self.configuration.maxBodyBytes) }
            guard let v = o["image"], !v.isNull else { throw APIError.badRequest("image is missing: send the picture as base64 text or a data URL") }
            guard let text = v.string else { throw APIError.badRequest("image must be a picture as base64 text or a data URL, got \(JobRequestParser.shown(v))") }
            let bytes = try images.base64(text, field: "image")
            return try JSONResponse.make(try PictureParameters.read(bytes, defaults: self.configuration.jobDefaults(model: self.host.preset)))
        }
    }
}

/// The answer of `POST /api/picture-parameters`: the parameters and where they were read from
/// ("majicflux": our own record; "infotext": A1111-style text, whatever tool wrote it).
struct PictureParameters: Codable {
    var parameters: JobParameters
    var source: String

    /// Reads `bytes` (PNG, JPEG or WebP). The size comes from the picture's header when the text has
    /// none; input pictures a `majicflux` record names are left out (they are files of the server that
    /// made it). Throws a 400 naming what is missing.
    /// `defaults`: what a job that leaves a field out gets on this server, for what an infotext does not say.
    static func read(_ bytes: [UInt8], defaults: ModelPreset? = nil) throws -> PictureParameters {
        guard let format = ImageFile.format(of: bytes) else {
            throw APIError.badRequest("image is not a PNG, JPEG or WebP picture" + (bytes.isEmpty ? " (it is empty)" : ""))
        }
        guard let size = PictureHeader.size(bytes) else { throw APIError.badRequest("image is a damaged \(format.rawValue) file (no size in its header)") }
        let chunks: [(key: String, value: String)]
        do { chunks = try PictureText.read(bytes)?.chunks ?? [] } catch { throw APIError.badRequest("image is a damaged PNG file: \(error)") }
        if let record = chunks.first(where: { $0.key == "majicflux" }),
           var p = try? JSONDecoder().decode(JobParameters.self, from: Data(record.value.utf8)) {
            p.conditioning = nil
            return PictureParameters(parameters: p, source: "majicflux")
        }
        let infotext = chunks.first { $0.key == "parameters" }?.value
        guard let infotext, !infotext.isEmpty else {
            throw APIError.badRequest("image carries no generation parameters (no PNG \"parameters\" text, no EXIF UserComment)")
        }
        guard let p = Infotext.parameters(infotext, width: size.width, height: size.height, preset: defaults) else {
            throw APIError.badRequest("image's parameters text has no Steps and Seed, so it is not a generation's: \"\(infotext.prefix(80))\"")
        }
        return PictureParameters(parameters: p, source: "infotext")
    }
}
