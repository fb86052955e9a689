import Tensor

/// The pictures a generation starts from or is guided by besides the prompt (img2img, inpainting,
/// FLUX.1-Fill, outpainting, FLUX.1 Canny/Depth control, FLUX.1 Kontext), with diffusers' pipelines as
/// the reference for what each does. Which inputs a model takes depends on its kind
/// (`ModelPreset.conditioning`); `GenerationLimits.check` refuses the others by name.
///
/// Pictures are 8-bit RGB or RGBA (`PNGImage`, whatever file they came from). They may have any size:
/// the pipeline resizes them to the request's `width` x `height` with Lanczos, as diffusers'
/// `VaeImageProcessor` does (the Kontext reference follows `referenceResize` instead).
public struct ImageConditioning: Sendable, Equatable {
    /// The picture to start from: img2img (alone), inpainting (with a mask), FLUX.1-Fill (with a
    /// mask), outpainting (with `outpaint`). RGBA: colour used, alpha ignored, except that where no
    /// `mask` is given the transparent pixels are the mask (255 - alpha; a fully opaque picture has none).
    public var image: PNGImage?
    /// White = repaint, black = keep; read as luma (PIL's "L"), binarised at 0.5 after `maskBlur`.
    /// The same size as `image`.
    public var mask: PNGImage?
    /// img2img / inpainting with an ordinary model: the part of the schedule that runs, in (0, 1]
    /// (steps run = steps - int(steps - steps * strength)). nil: `ImageConditioning.defaultStrength`.
    /// FLUX.1-Fill always starts from pure noise and takes no strength.
    public var strength: Float?
    /// Gaussian blur radius in pixels applied to the mask before binarising (PIL's GaussianBlur); 0 = none.
    public var maskBlur: Int = 0
    /// Outpainting: grow the canvas by these margins (pixels); the new area is the mask (added to any
    /// `mask`), filled by repeating the edge pixels. Runs through Fill for a Fill model, inpainting otherwise.
    public var outpaint: OutpaintMargins?
    /// FLUX.1 Canny / Depth: the control picture (an edge or depth map, or a photo when
    /// `controlPreprocess` makes the edges).
    public var control: PNGImage?
    /// How `control` is turned into the control picture first; nil: use it as given.
    public var controlPreprocess: ControlPreprocess?
    /// FLUX.1 Kontext: the picture to edit, appended to the image tokens.
    public var reference: PNGImage?
    /// How the Kontext reference is sized before encoding.
    public var referenceResize: ReferenceResize = .auto
    /// Inpainting: paste the input picture back over the result outside the mask (A1111's img2img
    /// overlay), so the unmasked area keeps its exact pixels; off as in diffusers, where it goes
    /// through the VAE and comes back slightly changed (ImageConditioning+Overlay.swift).
    public var keepUnmasked = false

    /// The Kontext reference's size: its own floored to multiples of 16, or (`.auto`) the preferred
    /// Kontext resolution whose aspect ratio is closest (ties: the smaller width), as diffusers picks it.
    public static func referenceSize(width: Int, height: Int, resize: ReferenceResize) -> (width: Int, height: Int) {
        var (w, h) = (width - width % 16, height - height % 16)
        if resize == .auto {
            // diffusers floors to 16 first (a side under 16 px divides by zero there); the picture's own
            // aspect ratio then (it was 0/0: every such picture got the first, portrait, size).
            let aspect = w > 0 && h > 0 ? Double(w) / Double(h) : Double(Swift.max(1, width)) / Double(Swift.max(1, height))
            let best = preferredKontextResolutions.min { a, b in
                let da = abs(aspect - Double(a.0) / Double(a.1)), db = abs(aspect - Double(b.0) / Double(b.1))
                return da != db ? da < db : (a.0, a.1) < (b.0, b.1)
            }!
            (w, h) = (best.0, best.1)
        }
        return (Swift.max(16, w - w % 16), Swift.max(16, h - h % 16))
    }

    /// diffusers' PREFERRED_KONTEXT_RESOLUTIONS (width, height), about one megapixel each.
    public static let preferredKontextResolutions: [(Int, Int)] = [
        (672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248), (880, 1184), (944, 1104),
        (1024, 1024), (1104, 944), (1184, 880), (1248, 832), (1328, 800), (1392, 752), (1456, 720), (1504, 688), (1568, 672),
    ]

    /// diffusers' default strength for img2img and inpainting.
    public static let defaultStrength: Float = 0.6

    public init(image: PNGImage? = nil, mask: PNGImage? = nil, strength: Float? = nil, maskBlur: Int = 0,
                outpaint: OutpaintMargins? = nil, control: PNGImage? = nil, controlPreprocess: ControlPreprocess? = nil,
                reference: PNGImage? = nil, referenceResize: ReferenceResize = .auto) {
        self.image = image
        self.mask = mask
        self.strength = strength
        self.maskBlur = maskBlur
        self.outpaint = outpaint
        self.control = control
        self.controlPreprocess = controlPreprocess
        self.reference = reference
        self.referenceResize = referenceResize
    }

    /// Nothing given: text-to-image.
    public var isEmpty: Bool { image == nil && mask == nil && outpaint == nil && control == nil && reference == nil }

    /// What the inputs ask for, before the model kind is taken into account.
    public var mode: Mode {
        if reference != nil { return .kontext }
        if control != nil { return .control }
        if outpaint != nil { return .outpaint }
        if mask != nil || image?.hasTransparency == true { return .inpaint }
        if image != nil { return .img2img }
        return .textToImage
    }

    /// The ways a generation can use pictures.
    public enum Mode: String, Sendable {
        case textToImage = "txt2img", img2img, inpaint, outpaint, control, kontext
    }
}

/// Pixels added on each side of the input picture when outpainting.
public struct OutpaintMargins: Sendable, Equatable {
    public var left, top, right, bottom: Int
    public init(left: Int, top: Int, right: Int, bottom: Int) {
        (self.left, self.top, self.right, self.bottom) = (left, top, right, bottom)
    }
    /// Parses "LEFT,TOP,RIGHT,BOTTOM" (non-negative integers); nil when malformed.
    public init?(parsing text: String) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: " ")) }
        guard parts.count == 4, let l = parts[0], let t = parts[1], let r = parts[2], let b = parts[3] else { return nil }
        self.init(left: l, top: t, right: r, bottom: b)
    }
    /// The largest margin accepted on a side.
    public static let limit = 4096
}

/// Built-in preprocessing of a control picture.
public enum ControlPreprocess: Sendable, Equatable {
    /// Canny edges (OpenCV's `cv2.Canny` on the RGB picture, L1 gradient, 3x3 Sobel), white on black,
    /// with the hysteresis thresholds (the usual FLUX.1-Canny ones are 50 and 200).
    case canny(low: Int, high: Int)
    public static let defaultCanny = ControlPreprocess.canny(low: 50, high: 200)
}

/// How FLUX.1 Kontext's reference picture is sized.
public enum ReferenceResize: String, Sendable, Equatable, CaseIterable {
    /// diffusers' preferred Kontext resolution closest to the reference's aspect ratio.
    case auto
    /// Its own size, each side floored to a multiple of 16.
    case off
}

private extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}
