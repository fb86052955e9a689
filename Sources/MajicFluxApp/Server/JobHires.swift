import Models
import Tensor

/// A job's hires fix (`HiresFix`) as the API takes and shows it (snake_case JSON): `width` and
/// `height` (the final size) or `scale`; `steps` (default: the job's), `strength` (default 0.7),
/// `upscaler` (an A1111 name, default "Latent").
struct JobHires: Codable, Equatable, Sendable {
    var width: Int
    var height: Int
    var steps: Int?
    var strength: Float
    var upscaler: String
    /// The factor it was asked for by, if it was.
    var scale: Float?

    init(_ h: HiresFix) {
        (width, height, steps, strength, upscaler, scale) = (h.width, h.height, h.steps, h.strength, h.upscaler.name, h.scale)
    }

    /// The hires fix it describes; nil when its upscaler is not one this version knows.
    var fix: HiresFix? {
        HiresUpscaler(name: upscaler).map { HiresFix(width: width, height: height, steps: steps, strength: strength, upscaler: $0, scale: scale) }
    }

    /// Reads the `hires` field of a submission whose first pass is `width` x `height`: null or absent =
    /// none; otherwise an object with `scale`, or `width` and/or `height` (one alone keeps the aspect
    /// ratio). Problems are 400s naming `hires.<field>`.
    static func parse(_ v: JSONValue?, width: Int, height: Int) throws -> HiresFix? {
        guard let v, !v.isNull else { return nil }
        guard let o = v.object else {
            throw APIError.badRequest("hires must be an object such as {\"scale\": 2} or {\"width\": 1024, \"height\": 1536}, got \(JobRequestParser.shown(v))")
        }
        let steps = try JobRequestParser.optionalInteger(o["steps"], "hires.steps")
        let strength = try JobRequestParser.number(o["strength"], "hires.strength", default: HiresFix.defaultStrength)
        var upscaler = HiresUpscaler.latent(.bilinear, antialias: false)
        switch o["upscaler"] {
        case nil, .null?: break
        case .string(let name)?:
            guard let found = HiresUpscaler(name: name) else {
                throw APIError.badRequest("hires.upscaler \(JobRequestParser.shown(.string(name))) is unknown; choose one of "
                                          + HiresUpscaler.all.map { "\"\($0.name)\"" }.joined(separator: ", "))
            }
            upscaler = found
        case let other?: throw APIError.badRequest("hires.upscaler must be a string, got \(JobRequestParser.shown(other))")
        }
        let toWidth = try JobRequestParser.optionalInteger(o["width"], "hires.width")
        let toHeight = try JobRequestParser.optionalInteger(o["height"], "hires.height")
        if let scaleValue = o["scale"], !scaleValue.isNull {
            guard toWidth == nil && toHeight == nil else { throw APIError.badRequest("hires: give scale, or width and height, not both") }
            let scale = try JobRequestParser.number(scaleValue, "hires.scale", default: 2)
            guard scale > 0, scale <= 16 else { throw APIError.badRequest("hires.scale must be above 0 and at most 16, got \(scale)") }
            return .scaled(width: width, height: height, by: scale, steps: steps, strength: strength, upscaler: upscaler)
        }
        guard toWidth != nil || toHeight != nil else { throw APIError.badRequest("hires needs a scale, or a width and/or height") }
        for (name, side) in [("width", toWidth), ("height", toHeight)] {
            // Given sides are taken as they are (only those computed from scale or the other side are
            // floored): a positive multiple of 16, as width and height.
            if let side, !(GenerationLimits.sides.contains(side) && side % 16 == 0) {
                throw APIError.badRequest("hires.\(name) must be a multiple of 16 from \(GenerationLimits.sides.lowerBound) to \(GenerationLimits.sides.upperBound), got \(side)")
            }
        }
        if let toWidth, let toHeight { return HiresFix(width: toWidth, height: toHeight, steps: steps, strength: strength, upscaler: upscaler) }
        return .resized(width: width, height: height, toWidth: toWidth ?? 0, toHeight: toHeight ?? 0, steps: steps, strength: strength, upscaler: upscaler)
    }
}
