extension GenerationLimits {
    /// Largest input picture (any of image, mask, control, reference), in pixels: inputs are resized
    /// to the request's size, so this only bounds decoding and resizing work.
    public static let inputPixels = 8192 * 8192
    /// Mask blur radius in pixels.
    public static let maskBlur = 0...256
    /// Canny hysteresis thresholds (on the L1 Sobel gradient, at most 8 x 255 per channel).
    public static let cannyThresholds = 0...2040

    /// The pictures of a request against each other and against the model's kind (`preset`): a
    /// strength outside (0, 1], a mask without a picture or of another size, inputs the kind does not
    /// take (`--control` for FLUX.1-dev, a strength for Fill...) or one it needs and lacks.
    func checkConditioning(_ c: ImageConditioning, preset: ModelPreset?) throws {
        typealias I = GenerationIssue
        for (field, picture) in [(I.Field.image, c.image), (.mask, c.mask), (.control, c.control), (.reference, c.reference)] {
            if let p = picture, p.width * p.height > Self.inputPixels {
                throw I(field, "is \(p.width)x\(p.height), more than \(Self.inputPixels) pixels")
            }
        }
        if let s = c.strength, !(s.isFinite && s > 0 && s <= 1) {
            throw I(.strength, "must be above 0 and at most 1, got \(s)")
        }
        if !Self.maskBlur.contains(c.maskBlur) { throw I(.maskBlur, Self.between(Self.maskBlur, got: "\(c.maskBlur)")) }
        if let mask = c.mask {
            guard let image = c.image else { throw I(.mask, "needs an input image to repaint") }
            if mask.width != image.width || mask.height != image.height {
                throw I(.mask, "is \(mask.width)x\(mask.height) but the input image is \(image.width)x\(image.height): they must be the same size")
            }
            // An all-black mask keeps every pixel: the run would only hand the picture back.
            if c.outpaint == nil, !mask.luma().contains(where: { $0 >= 128 }) {
                throw I(.mask, "is all black (no pixel at or above mid-grey): nothing would be repainted; white marks what to repaint")
            }
        }
        if let m = c.outpaint {
            guard c.image != nil else { throw I(.outpaint, "needs an input image to extend") }
            for v in [m.left, m.top, m.right, m.bottom] where !(0...OutpaintMargins.limit).contains(v) {
                throw I(.outpaint, "margins must be between 0 and \(OutpaintMargins.limit) pixels, got \(v)")
            }
            if m.left + m.top + m.right + m.bottom == 0 { throw I(.outpaint, "margins are all 0: nothing to extend") }
        }
        if c.maskBlur > 0 && c.mask == nil && c.outpaint == nil && c.image?.hasTransparency != true {
            throw I(.maskBlur, "needs a mask (or outpaint margins) to blur")
        }
        if case .canny(let low, let high) = c.controlPreprocess {
            guard c.control != nil else { throw I(.control, "preprocessing needs a control image") }
            for v in [low, high] where !Self.cannyThresholds.contains(v) {
                throw I(.control, "Canny thresholds " + Self.between(Self.cannyThresholds, got: "\(v)"))
            }
            if low > high { throw I(.control, "Canny thresholds: the low one (\(low)) is above the high one (\(high))") }
        }
        guard let preset else { return }
        let kind = preset.conditioning, name = preset.name
        switch kind {
        case .base:
            if c.control != nil { throw I(.control, "does not apply: \(name) is no control model (use a FLUX.1 Canny or Depth model)") }
            if c.reference != nil { throw I(.reference, "does not apply: \(name) is no Kontext model (use FLUX.1 Kontext)") }
        case .fill:
            if c.strength != nil { throw I(.strength, "does not apply: \(name) always starts from pure noise") }
            if c.control != nil { throw I(.control, "does not apply: \(name) is an inpainting model, not a control model") }
            if c.reference != nil { throw I(.reference, "does not apply: \(name) is an inpainting model, not a Kontext model") }
            guard c.image != nil else { throw I(.image, "is needed: \(name) repaints part of a picture (give an image and a mask or outpaint margins)") }
            if c.mask == nil && c.outpaint == nil && c.image?.hasTransparency != true {
                throw I(.mask, "is needed: \(name) repaints the masked part of the picture (give a mask or outpaint margins)")
            }
        case .control:
            for (field, given) in [(I.Field.image, c.image != nil), (.mask, c.mask != nil), (.outpaint, c.outpaint != nil), (.reference, c.reference != nil)] where given {
                throw I(field, "does not apply: \(name) is guided by a control image only")
            }
            if c.strength != nil { throw I(.strength, "does not apply: \(name) starts from pure noise") }
            if c.control == nil { throw I(.control, "is needed: \(name) follows a control image (an edge or depth map)") }
        case .kontext:
            for (field, given) in [(I.Field.image, c.image != nil), (.mask, c.mask != nil), (.outpaint, c.outpaint != nil), (.control, c.control != nil)] where given {
                throw I(field, "does not apply: \(name) edits a reference image (give it as the reference)")
            }
            if c.strength != nil { throw I(.strength, "does not apply: \(name) starts from pure noise") }
        }
    }
}
