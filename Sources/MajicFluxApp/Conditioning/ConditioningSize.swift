import Models
import Tensor

/// The output size a conditioned generation takes when the width and height are not given: the
/// input picture's (outpainting: the grown canvas; control: the control picture's; Kontext: the
/// reference's after its resize rule), each side floored to a multiple of 16. The CLI and the
/// console use the same rule.
enum ConditioningSize {
    /// nil for text-to-image (the model's default size applies).
    static func natural(_ c: ImageConditioning) -> (width: Int, height: Int)? {
        if let r = c.reference { return kontextReference(width: r.width, height: r.height, resize: c.referenceResize) }
        if let control = c.control { return floored(control.width, control.height) }
        if let image = c.image {
            let m = c.outpaint ?? OutpaintMargins(left: 0, top: 0, right: 0, bottom: 0)
            return floored(image.width + m.left + m.right, image.height + m.top + m.bottom)
        }
        return nil
    }

    /// Each side floored to a multiple of 16, at least 16.
    static func floored(_ w: Int, _ h: Int) -> (width: Int, height: Int) { (max(16, w - w % 16), max(16, h - h % 16)) }

    /// The Kontext reference's size as the pipeline sizes it: its own floored to multiples of 16, or
    /// (`.auto`) diffusers' preferred Kontext resolution whose aspect ratio is closest.
    static func kontextReference(width: Int, height: Int, resize: ReferenceResize) -> (width: Int, height: Int) {
        let own = floored(width, height)
        guard resize == .auto else { return own }
        let aspect = Double(own.width) / Double(own.height)
        let best = preferredKontextResolutions.min { a, b in
            let da = abs(aspect - Double(a.0) / Double(a.1)), db = abs(aspect - Double(b.0) / Double(b.1))
            return da != db ? da < db : (a.0, a.1) < (b.0, b.1)
        }!
        return (best.0, best.1)
    }

    /// diffusers' PREFERRED_KONTEXT_RESOLUTIONS (width, height).
    static let preferredKontextResolutions: [(Int, Int)] = [
        (672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248), (880, 1184), (944, 1104),
        (1024, 1024), (1104, 944), (1184, 880), (1248, 832), (1328, 800), (1392, 752), (1456, 720), (1504, 688), (1568, 672),
    ]
}

extension GenerationRequest {
    /// The request at 16 x 16: checking it first reports a picture's problem (a mask of another size,
    /// a picture the model does not take) before the size the pictures imply is checked.
    var withSmallestSize: GenerationRequest {
        var r = self
        (r.width, r.height) = (16, 16)
        return r
    }
}
