import Foundation
import Models
import Tensor

/// `POST /sdapi/v1/extra-single-image` and `extra-batch-images`: A1111's "Extras" tab with its built-in
/// upscalers ("Lanczos", "Nearest"; `PictureUpscaler`, bit-exact to Pillow), as A1111's
/// scripts/postprocessing_upscale.py runs them: by a factor (`resize_mode` 0, `upscaling_resize`,
/// capped by `max_side_length`) or to a size (`resize_mode` 1, `upscaling_resize_w`/`_h`, with
/// `upscaling_crop` centring the picture on a canvas of that size), an optional second upscaler
/// blended in at `extras_upscaler_2_visibility`. The answer's picture keeps the input's text chunks
/// and adds `postprocessing` (the fields, as A1111 writes them); `html_info` is that text as A1111's
/// plaintext_to_html makes it. Face restoration is not available (422).
enum A1111Extras {
    struct Settings {
        var byFactor = true
        var factor = 2.0
        var maxSide = 0
        var toWidth = 512, toHeight = 512
        var crop = true
        var upscaler1: PictureUpscaler?
        var upscaler2: PictureUpscaler?
        var visibility2 = 0.0
    }

    /// The settings of a body, every problem a 422 naming the field.
    static func settings(_ o: [String: JSONValue]) throws -> Settings {
        var s = Settings()
        func upscaler(_ field: String) throws -> PictureUpscaler? {
            let name = try A1111Request.string(o, field) ?? "None"
            if name == "None" { return nil }
            guard let found = PictureUpscaler(rawValue: name) else {
                throw A1111Error.invalid(field, "could not find upscaler named \"\(name.prefix(60))\"; this server has \"None\", "
                                         + PictureUpscaler.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
            }
            return found
        }
        s.upscaler1 = try upscaler("upscaler_1")
        s.upscaler2 = try upscaler("upscaler_2")
        for field in ["gfpgan_visibility", "codeformer_visibility"] where try A1111Request.number(o, field, default: 0) != 0 {
            throw A1111Error.invalid(field, "face restoration is not available on this server: send \(field) 0")
        }
        let mode = try A1111Request.integer(o, "resize_mode", default: 0)
        guard mode == 0 || mode == 1 else { throw A1111Error.invalid("resize_mode", "resize_mode must be 0 (by upscaling_resize) or 1 (to upscaling_resize_w x _h), got \(mode)") }
        s.byFactor = mode == 0
        s.factor = Double(try A1111Request.number(o, "upscaling_resize", default: 2))
        guard s.factor > 0, s.factor <= 16 else { throw A1111Error.invalid("upscaling_resize", "upscaling_resize must be above 0 and at most 16, got \(s.factor)") }
        s.maxSide = try A1111Request.integer(o, "max_side_length", default: 0)
        s.toWidth = try A1111Request.integer(o, "upscaling_resize_w", default: 512)
        s.toHeight = try A1111Request.integer(o, "upscaling_resize_h", default: 512)
        for (field, v) in [("max_side_length", s.maxSide), ("upscaling_resize_w", s.toWidth), ("upscaling_resize_h", s.toHeight)]
        where !((field == "max_side_length" ? 0 : 1)...GenerationLimits.sides.upperBound).contains(v) {
            throw A1111Error.invalid(field, "\(field) must be between \(field == "max_side_length" ? 0 : 1) and \(GenerationLimits.sides.upperBound), got \(v)")
        }
        s.crop = try A1111Request.bool(o, "upscaling_crop", default: true)
        s.visibility2 = Double(try A1111Request.number(o, "extras_upscaler_2_visibility", default: 0))
        guard (0...1).contains(s.visibility2) else {
            throw A1111Error.invalid("extras_upscaler_2_visibility", "extras_upscaler_2_visibility must be from 0 to 1, got \(s.visibility2)")
        }
        return s
    }

    /// One picture through the settings: the result, and the `postprocessing` text (empty when
    /// `upscaler_1` is "None", which leaves the picture as it is). `maxPixels` bounds the result.
    static func run(_ picture: PNGImage, _ s: Settings, maxPixels: Int) throws -> (picture: PNGImage, info: String) {
        let rgb = picture.rgb()
        guard let first = s.upscaler1 else { return (rgb, "") }
        var info: [(String, String)] = []
        var (byFactor, factor, crop, toW, toH) = (s.byFactor, s.factor, s.crop, s.toWidth, s.toHeight)
        if byFactor {
            info.append(("Postprocess upscale by", "\(factor)"))
            if s.maxSide != 0, Double(max(rgb.width, rgb.height)) * factor > Double(s.maxSide) {
                // A1111's limit_size_by_one_dimention: the longer side to max_side_length, the other in
                // proportion (floored, as its float floor division does).
                let (w, h) = (Double(rgb.width) * factor, Double(rgb.height) * factor), limit = Double(s.maxSide)
                (toW, toH) = h > w && h > limit ? (Int((limit * w / h).rounded(.down)), s.maxSide)
                    : w > limit ? (s.maxSide, Int((limit * h / w).rounded(.down))) : (Int(w), Int(h))
                (byFactor, crop) = (false, false)
                factor = max(Double(toW) / Double(rgb.width), Double(toH) / Double(rgb.height))
                info.append(("Max side length", "\(s.maxSide)"))
            }
        } else {
            factor = max(Double(toW) / Double(rgb.width), Double(toH) / Double(rgb.height))
            info.insert(("Postprocess upscale to", "\(toW)x\(toH)"), at: 0)
        }
        let grownW = Double(rgb.width) * factor, grownH = Double(rgb.height) * factor
        guard grownW * grownH <= Double(maxPixels) else {
            throw A1111Error.invalid(s.byFactor ? "upscaling_resize" : "upscaling_resize_w",
                                     "the result would be about \(Int(grownW))x\(Int(grownH)), more than this server's limit of \(maxPixels) pixels (--max-pixels)")
        }
        // The upscalers floor each side to a multiple of 8: a result under 8 pixels a side is the
        // request's fault (a tiny picture, a small factor or size), said as such.
        let (floorW, floorH) = (Int((grownW / 8).rounded(.down)) * 8, Int((grownH / 8).rounded(.down)) * 8)
        if floorW < 8 || floorH < 8 {
            throw A1111Error.invalid(s.byFactor ? "upscaling_resize" : "upscaling_resize_w",
                                     "the \(rgb.width)x\(rgb.height) picture would become \(floorW)x\(floorH): each side of the result must be at least 8 pixels")
        }
        func upscaled(_ upscaler: PictureUpscaler) throws -> PNGImage {
            var out = try upscaler.upscale(rgb, by: factor)
            if !byFactor && crop {
                // Centred on a black canvas of the asked size (Pillow's paste clips what overhangs).
                out = try out.centered(width: toW, height: toH)
            }
            return out
        }
        var result = try upscaled(first)
        if !byFactor && crop { info.append(("Postprocess crop to", "\(result.width)x\(result.height)")) }
        info.append(("Postprocess upscaler", first.rawValue))
        if let second = s.upscaler2, s.visibility2 > 0 {
            result = try result.blended(with: try upscaled(second), alpha: Float(s.visibility2))
            info.append(("Postprocess upscaler 2", second.rawValue))
        }
        return (result, info.map { "\($0.0): \(GeneratedImage.infotextQuoted($0.1))" }.joined(separator: ", "))
    }

    /// A1111's plaintext_to_html: lines HTML-escaped, joined by <br>, in a paragraph.
    static func html(_ text: String) -> String {
        func escaped(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
                .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#x27;")
        }
        return "<p>" + text.components(separatedBy: "\n").map(escaped).joined(separator: "<br>\n") + "</p>"
    }
}

extension PNGImage {
    /// The image centred on a black `width` x `height` canvas, as Pillow pastes it at
    /// (width // 2 - w // 2, height // 2 - h // 2), clipping what lies outside.
    func centered(width cw: Int, height ch: Int) throws -> PNGImage {
        let (ox, oy) = (cw / 2 - width / 2, ch / 2 - height / 2)
        var out = [UInt8](repeating: 0, count: cw * ch * channels)
        for y in max(0, oy)..<min(ch, oy + height) {
            let sx0 = max(0, -ox), sx1 = min(width, cw - ox)
            guard sx0 < sx1 else { break }
            let src = ((y - oy) * width + sx0) * channels, dst = (y * cw + sx0 + ox) * channels
            out.replaceSubrange(dst..<(dst + (sx1 - sx0) * channels), with: pixels[src..<(src + (sx1 - sx0) * channels)])
        }
        return try PNGImage(width: cw, height: ch, channels: channels, pixels: out)
    }

    /// Pillow's `Image.blend(self, other, alpha)`: in1 + alpha * (in2 - in1) in f32, clipped and
    /// truncated to 8 bits. Both images must have one size and channel count.
    func blended(with other: PNGImage, alpha: Float) throws -> PNGImage {
        guard other.width == width, other.height == height, other.channels == channels else {
            throw TensorError.invalidArgument("blend: \(width)x\(height)x\(channels) and \(other.width)x\(other.height)x\(other.channels) differ")
        }
        let px = zip(pixels, other.pixels).map { a, b -> UInt8 in
            let t = Float(Int(a)) + alpha * Float(Int(b) - Int(a))
            return t <= 0 ? 0 : t >= 255 ? 255 : UInt8(t)
        }
        return try PNGImage(width: width, height: height, channels: channels, pixels: px)
    }
}
