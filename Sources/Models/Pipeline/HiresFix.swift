import Tensor

/// A1111's "hires fix": make the picture at the request's size, upscale it, then run part of a second
/// schedule at the larger size (img2img on the upscaled picture), so a big picture keeps the layout
/// the model composes well at its own size and gains detail. As A1111's txt2img does it
/// (modules/processing.py, `sample_hr_pass`):
/// - latent upscalers resize the first pass's latents (`interpolate`, PyTorch's F.interpolate);
///   picture upscalers decode them, resize the 8-bit picture (Pillow's Lanczos or nearest, with
///   A1111's steps) and encode it again;
/// - when the final size has another aspect ratio, the upscaled picture covers it and is cropped to it
///   around the centre;
/// - the second pass draws its noise from a fresh generator of the same seed at the new size, and runs
///   the last `strength` of its schedule (img2img's rule, `FluxPipeline.firstStep`) with the same prompt.
public struct HiresFix: Sendable, Equatable {
    /// The final picture size (multiples of 16).
    public var width: Int
    public var height: Int
    /// Steps of the second schedule (of which the last `strength` run); nil: the request's steps.
    public var steps: Int?
    /// How much of the second schedule runs, in (0, 1] (A1111's denoising strength): 1 keeps only the
    /// layout's noise seed, low values only sharpen the upscaled picture.
    public var strength: Float = HiresFix.defaultStrength
    public var upscaler: HiresUpscaler = .latent(.bilinear, antialias: false)
    /// The factor the size was asked for by, if it was (recorded in the picture's parameters as
    /// A1111's `Hires upscale`; otherwise `Hires resize` records the size).
    public var scale: Float?

    /// A1111's default denoising strength for the hires fix (its web UI's).
    public static let defaultStrength: Float = 0.7

    public init(width: Int, height: Int, steps: Int? = nil, strength: Float = HiresFix.defaultStrength,
                upscaler: HiresUpscaler = .latent(.bilinear, antialias: false), scale: Float? = nil) {
        self.width = width
        self.height = height
        self.steps = steps
        self.strength = strength
        self.upscaler = upscaler
        self.scale = scale
    }

    /// The hires fix to `scale` times `width` x `height`: A1111's int(side * scale), floored to a
    /// multiple of 16 (Flux latents come in 2x2 patches of 8-pixel cells).
    public static func scaled(width: Int, height: Int, by scale: Float, steps: Int? = nil,
                              strength: Float = defaultStrength, upscaler: HiresUpscaler = .latent(.bilinear, antialias: false)) -> HiresFix {
        func side(_ v: Int) -> Int {
            let s = (Double(v) * Double(scale)).rounded(.down)
            guard s.isFinite, s < Double(Int32.max) else { return Int(Int32.max) / 16 * 16 }  // too large: validation says so
            return Swift.max(0, Int(s)) / 16 * 16
        }
        return HiresFix(width: side(width), height: side(height), steps: steps, strength: strength, upscaler: upscaler, scale: scale)
    }

    /// A1111's `Hires resize`: a final width or height (0 = from the other and the aspect ratio), each
    /// floored to a multiple of 16.
    public static func resized(width: Int, height: Int, toWidth: Int, toHeight: Int, steps: Int? = nil,
                               strength: Float = defaultStrength, upscaler: HiresUpscaler = .latent(.bilinear, antialias: false)) -> HiresFix {
        var (w, h) = (toWidth, toHeight)
        if h == 0 && width > 0 { h = w * height / width }
        if w == 0 && height > 0 { w = h * width / height }
        return HiresFix(width: w / 16 * 16, height: h / 16 * 16, steps: steps, strength: strength, upscaler: upscaler)
    }

    /// One line for people: "256x256 by Latent, 14 of 20 steps (strength 0.7)" (`steps`: the
    /// request's, used when the fix sets none).
    public func summary(requestSteps steps: Int) -> String {
        let second = self.steps ?? steps
        let runs = second - FluxPipeline.firstStep(steps: second, strength: strength)
        return "\(width)x\(height) by \(upscaler.name), \(runs) of \(second) steps (strength \(GeneratedImage.infotextNumber(strength)))"
    }

    /// A1111's infotext fields of the hires fix, in its order: `Hires upscale` (or `Hires resize`),
    /// `Hires steps` (when set), `Hires upscaler`. (The strength is the picture's `Denoising strength`.)
    public var infotextFields: [(key: String, value: String)] {
        var fields = [scale.map { ("Hires upscale", GeneratedImage.infotextNumber($0)) } ?? ("Hires resize", "\(width)x\(height)")]
        if let steps { fields.append(("Hires steps", "\(steps)")) }
        fields.append(("Hires upscaler", upscaler.name))
        return fields
    }

    /// The record in a picture's `majicflux` JSON (the console's job parameters use the same keys).
    var json: JSONValue {
        func number(_ v: Float) -> JSONValue { .double(Double("\(v)") ?? Double(v)) }  // 0.7, not 0.699999988
        var o: [String: JSONValue] = ["width": .int(width), "height": .int(height), "strength": number(strength), "upscaler": .string(upscaler.name)]
        if let steps { o["steps"] = .int(steps) }
        if let scale { o["scale"] = number(scale) }
        return .object(o)
    }

    /// The size the first pass is upscaled to before the centre crop: the final size when the aspect
    /// ratios agree, else the first pass's aspect ratio covering it (A1111's calculate_target_resolution).
    public func upscaledSize(fromWidth w: Int, height h: Int) -> (width: Int, height: Int) {
        if width * h == height * w { return (width, height) }
        if w * height < width * h { return (width, width * h / w) }
        return (height * w / h, height)
    }
}

/// How the hires fix upscales the first pass (A1111's `hr_upscaler` names).
public enum HiresUpscaler: Sendable, Equatable {
    /// The latents, with PyTorch's interpolation (A1111's "Latent ..." modes).
    case latent(InterpolationMode, antialias: Bool)
    /// The decoded 8-bit picture, with one of A1111's built-in picture upscalers ("Lanczos", "Nearest").
    case picture(PictureUpscaler)

    /// Every upscaler with its A1111 name, in the order A1111 lists them.
    public static let all: [(name: String, upscaler: HiresUpscaler)] = [
        ("Latent", .latent(.bilinear, antialias: false)),
        ("Latent (antialiased)", .latent(.bilinear, antialias: true)),
        ("Latent (bicubic)", .latent(.bicubic, antialias: false)),
        ("Latent (bicubic antialiased)", .latent(.bicubic, antialias: true)),
        ("Latent (nearest)", .latent(.nearest, antialias: false)),
        ("Latent (nearest-exact)", .latent(.nearestExact, antialias: false)),
        ("Lanczos", .picture(.lanczos)),
        ("Nearest", .picture(.nearest)),
    ]

    /// The upscaler A1111 calls `name` (exact, as A1111 matches it); nil for any other.
    public init?(name: String) {
        guard let found = Self.all.first(where: { $0.name == name }) else { return nil }
        self = found.upscaler
    }

    /// Its A1111 name.
    public var name: String { Self.all.first { $0.upscaler == self }?.name ?? "Latent" }

    /// Whether it works on the latents (no decode and encode between the passes).
    public var isLatent: Bool { if case .latent = self { return true } else { return false } }
}

/// A1111's built-in picture upscalers, with the steps A1111 takes around them (modules/upscaler.py,
/// modules/images.py): the upscaler resizes by the factor, the result is brought to a multiple of 8
/// with Lanczos, then to the size asked for with Lanczos. Bit-exact to Pillow's resizing.
public enum PictureUpscaler: String, Sendable, Equatable, CaseIterable {
    case lanczos = "Lanczos"
    case nearest = "Nearest"

    /// One resize with this upscaler's filter (its `do_upscale` and the result's size).
    func resample(_ p: PNGImage, width: Int, height: Int) throws -> PNGImage {
        switch self {
        case .lanczos: return try p.resized(width: width, height: height)
        case .nearest: return try p.resizedNearest(width: width, height: height)
        }
    }

    /// A1111's `Upscaler.upscale(img, scale)`: at most three passes of the filter by `scale` until the
    /// picture covers int(side * scale) floored to a multiple of 8, then Lanczos to exactly that.
    public func upscale(_ picture: PNGImage, by scale: Double) throws -> PNGImage {
        guard scale.isFinite, scale > 0 else { throw ModelError.invalidParameter("upscale factor \(scale) must be positive") }
        let destW = Int((Double(picture.width) * scale / 8).rounded(.down) * 8)
        let destH = Int((Double(picture.height) * scale / 8).rounded(.down) * 8)
        guard destW > 0, destH > 0, destW <= 1 << 16, destH <= 1 << 16 else {
            throw ModelError.invalidParameter("upscaling \(picture.width)x\(picture.height) by \(scale) gives \(destW)x\(destH): each side must be 8 to 65536 pixels")
        }
        var p = picture
        for pass in 0..<3 {
            if p.width >= destW && p.height >= destH && (pass > 0 || scale != 1) { break }
            let (w, h) = (Int(Double(p.width) * scale), Int(Double(p.height) * scale))
            guard w > 0, h > 0, w <= 1 << 16, h <= 1 << 16 else { break }
            let before = (p.width, p.height)
            p = try resample(p, width: w, height: h)
            if before == (p.width, p.height) { break }
        }
        return try p.resized(width: destW, height: destH)
    }

    /// A1111's `images.resize_image(0, picture, width, height, upscaler_name=...)` ("just resize"):
    /// this upscaler when the picture grows, then Lanczos to exactly `width` x `height`.
    public func resize(_ picture: PNGImage, width: Int, height: Int) throws -> PNGImage {
        var p = picture
        let scale = Swift.max(Double(width) / Double(p.width), Double(height) / Double(p.height))
        if scale > 1 { p = try upscale(p, by: scale) }
        return try p.resized(width: width, height: height)
    }
}
