import Tensor

/// The request's pictures made ready for the VAE, as diffusers' `VaeImageProcessor` prepares them:
/// resized to the output size with Lanczos (Pillow's), scaled to [-1, 1]; masks read as luma,
/// blurred when asked, binarised at 0.5.
struct ConditioningPictures {
    /// The input picture (with any outpaint margins), (1, 3, H, W) in [-1, 1].
    var image: Tensor?
    /// The repaint mask at the output's pixel size: H x W values, 1 = repaint, 0 = keep.
    var mask: [Float]?
    /// The control picture, (1, 3, H, W) in [-1, 1].
    var control: Tensor?
    /// The Kontext reference at its own (resized) size, (1, 3, h, w) in [-1, 1].
    var reference: Tensor?

    /// Prepares `c` for a `width` x `height` picture.
    init(_ c: ImageConditioning, width: Int, height: Int) throws {
        if var picture = c.image {
            var maskL = try c.mask.map { try Self.luma($0) } ?? (picture.channels == 4 ? Self.transparency(picture) : nil)
            picture = picture.rgb()
            if let m = c.outpaint {
                picture = Self.padded(picture, m)
                // The new area is repainted, whatever the mask said about the picture itself.
                maskL = Self.paddedPlane(maskL ?? [UInt8](repeating: 0, count: c.image!.width * c.image!.height),
                                         width: c.image!.width, height: c.image!.height, m, fill: 255)
            }
            let (pw, ph) = (picture.width, picture.height)
            image = try Self.resized(picture, width: width, height: height).tensor()
            if var plane = maskL {
                if c.maskBlur > 0 { plane = ImageOps.gaussianBlur(plane, width: pw, height: ph, radius: c.maskBlur) }
                if (pw, ph) != (width, height) { plane = try ImageOps.resizedPlane(plane, width: pw, height: ph, to: width, height) }
                // np.array(L) / 255 < 0.5 -> 0, else 1: v >= 128.
                mask = plane.map { Float($0) / 255 < 0.5 ? 0 : 1 }
            }
        }
        if let control = c.control {
            var picture = control.rgb()
            if case .canny(let low, let high) = c.controlPreprocess { picture = ImageOps.canny(picture, low: low, high: high) }
            self.control = try Self.resized(picture, width: width, height: height).tensor()
        }
        if let reference = c.reference {
            let (rw, rh) = Self.referenceSize(width: reference.width, height: reference.height, resize: c.referenceResize)
            self.reference = try Self.resized(reference.rgb(), width: rw, height: rh).tensor()
        }
    }

    /// The Kontext reference's size: its own floored to multiples of 16, or (`.auto`) the preferred
    /// Kontext resolution whose aspect ratio is closest (ties: the smaller width), as diffusers picks it.
    static func referenceSize(width: Int, height: Int, resize: ReferenceResize) -> (width: Int, height: Int) {
        var (w, h) = (width - width % 16, height - height % 16)
        if resize == .auto {
            let aspect = Double(w) / Double(h)
            let best = preferredKontextResolutions.min { a, b in
                let da = abs(aspect - Double(a.0) / Double(a.1)), db = abs(aspect - Double(b.0) / Double(b.1))
                return da != db ? da < db : (a.0, a.1) < (b.0, b.1)
            }!
            (w, h) = (best.0, best.1)
        }
        return (Swift.max(16, w - w % 16), Swift.max(16, h - h % 16))
    }

    /// diffusers' PREFERRED_KONTEXT_RESOLUTIONS (width, height), about one megapixel each.
    static let preferredKontextResolutions: [(Int, Int)] = [
        (672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248), (880, 1184), (944, 1104),
        (1024, 1024), (1104, 944), (1184, 880), (1248, 832), (1328, 800), (1392, 752), (1456, 720), (1504, 688), (1568, 672),
    ]

    /// `picture` at `width` x `height` (itself when it already is).
    static func resized(_ picture: PNGImage, width: Int, height: Int) throws -> PNGImage {
        (picture.width, picture.height) == (width, height) ? picture : try ImageOps.resized(picture, width: width, height: height)
    }

    /// Pillow's `convert("L")`: ITU-R 601-2 luma with its fixed-point rounding.
    static func luma(_ p: PNGImage) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: p.width * p.height)
        let c = p.channels
        for i in out.indices {
            let (r, g, b) = (UInt32(p.pixels[i * c]), UInt32(p.pixels[i * c + 1]), UInt32(p.pixels[i * c + 2]))
            out[i] = UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
        }
        return out
    }

    /// An RGBA picture's transparent pixels as a mask plane: 255 - alpha.
    static func transparency(_ p: PNGImage) -> [UInt8] {
        (0..<(p.width * p.height)).map { 255 - p.pixels[$0 * 4 + 3] }
    }

    /// `p` grown by the margins, the new pixels repeating the nearest edge pixel.
    static func padded(_ p: PNGImage, _ m: OutpaintMargins) -> PNGImage {
        let (w, h) = (p.width + m.left + m.right, p.height + m.top + m.bottom)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            let sy = Swift.min(Swift.max(y - m.top, 0), p.height - 1)
            for x in 0..<w {
                let sx = Swift.min(Swift.max(x - m.left, 0), p.width - 1)
                for c in 0..<3 { out[(y * w + x) * 3 + c] = p.pixels[(sy * p.width + sx) * 3 + c] }
            }
        }
        return try! PNGImage(width: w, height: h, channels: 3, pixels: out)
    }

    /// A `width` x `height` plane grown by the margins, the new pixels `fill`.
    static func paddedPlane(_ plane: [UInt8], width: Int, height: Int, _ m: OutpaintMargins, fill: UInt8) -> [UInt8] {
        let w = width + m.left + m.right, h = height + m.top + m.bottom
        var out = [UInt8](repeating: fill, count: w * h)
        for y in 0..<height {
            for x in 0..<width { out[(y + m.top) * w + x + m.left] = plane[y * width + x] }
        }
        return out
    }
}
