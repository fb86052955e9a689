import Models
import Tensor

/// The output size a conditioned generation takes when the width and height are not given: the
/// input picture's (outpainting: the grown canvas; control: the control picture's; Kontext: the
/// reference's after its resize rule), each side floored to a multiple of 16. The CLI and the
/// console use the same rule.
enum ConditioningSize {
    /// nil for text-to-image (the model's default size applies).
    static func natural(_ c: ImageConditioning) -> (width: Int, height: Int)? {
        if let r = c.reference { return ImageConditioning.referenceSize(width: r.width, height: r.height, resize: c.referenceResize) }
        if let control = c.control { return floored(control.width, control.height) }
        if let image = c.image {
            let m = c.outpaint ?? OutpaintMargins(left: 0, top: 0, right: 0, bottom: 0)
            return floored(image.width + m.left + m.right, image.height + m.top + m.bottom)
        }
        return nil
    }

    /// The output size from the sides given (CLI options or API fields; nil when left out), the
    /// conditioning's `natural` size and the model's default side: both given, as given; one given
    /// with an input picture, the picture's aspect ratio kept (the other side floored to a multiple
    /// of 16, at least 16, as the hires fix computes one side); one given without a picture, square;
    /// none, the picture's size or the default. The CLI and the HTTP API share it.
    static func resolve(width: Int?, height: Int?, natural: (width: Int, height: Int)?, defaultSide: Int) -> (width: Int, height: Int) {
        switch (width, height, natural) {
        case let (w?, h?, _): return (w, h)
        case let (w?, nil, n?) where n.width > 0: return (w, aspectSide(w, n.height, n.width))
        case let (nil, h?, n?) where n.height > 0: return (aspectSide(h, n.width, n.height), h)
        case let (w?, nil, _): return (w, w)
        case let (nil, h?, _): return (h, h)
        case let (nil, nil, n?): return n
        case (nil, nil, nil): return (defaultSide, defaultSide)
        }
    }

    /// `given * num / den` floored to a multiple of 16, at least 16 (a nonsense `given` is left for
    /// the limits to refuse by its own number).
    private static func aspectSide(_ given: Int, _ num: Int, _ den: Int) -> Int {
        guard given > 0, given <= 1 << 20 else { return given }
        return Swift.max(16, given * num / den / 16 * 16)
    }

    /// Outpainting without a given size: margins grown (right, else left; bottom, else top) so the
    /// grown canvas is a multiple of 16 a side. Flooring would otherwise squeeze the canvas back and
    /// small margins (5 px on 128) would add nothing. Returns the note to show when they changed.
    static func aligningOutpaint(_ c: inout ImageConditioning) -> String? {
        guard let image = c.image, var m = c.outpaint else { return nil }
        // Margins the limits refuse stay as given, so the refusal names the user's number (it said
        // "got 4112" of --outpaint 4097,...).
        guard [m.left, m.top, m.right, m.bottom].allSatisfy({ (0...OutpaintMargins.limit).contains($0) }) else { return nil }
        let before = m
        let w = image.width + m.left + m.right, h = image.height + m.top + m.bottom
        if w % 16 != 0, m.left + m.right > 0 {
            if m.right > 0 { m.right += 16 - w % 16 } else { m.left += 16 - w % 16 }
        }
        if h % 16 != 0, m.top + m.bottom > 0 {
            if m.bottom > 0 { m.bottom += 16 - h % 16 } else { m.top += 16 - h % 16 }
        }
        guard m != before else { return nil }
        c.outpaint = m
        return "outpaint margins grown to \(m.left),\(m.top),\(m.right),\(m.bottom) so that the picture's sides are multiples of 16"
    }

    /// Each side floored to a multiple of 16, at least 16.
    static func floored(_ w: Int, _ h: Int) -> (width: Int, height: Int) { (max(16, w - w % 16), max(16, h - h % 16)) }
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
