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
