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
            // The mask as Pillow's "L"; an RGBA picture without one is masked by its transparency.
            var maskL = c.mask?.luma() ?? picture.transparencyMask()
            let (iw, ih) = (picture.width, picture.height)
            picture = picture.rgb()
            if let m = c.outpaint {
                picture = try picture.padded(left: m.left, top: m.top, right: m.right, bottom: m.bottom)
                // The new area is repainted, whatever the mask said about the picture itself.
                maskL = Self.paddedPlane(maskL ?? [UInt8](repeating: 0, count: iw * ih), width: iw, height: ih, m, fill: 255)
            }
            let (pw, ph) = (picture.width, picture.height)
            image = try Self.resized(picture, width: width, height: height).tensor()
            if var plane = maskL {
                // Blurred at the picture's own size (VaeImageProcessor.blur before preprocess), then
                // resized like the picture, then binarised: np.array(L) / 255 < 0.5 -> 0, else 1.
                if c.maskBlur > 0 { plane = try BoxBlur.gaussianBlur(plane, width: pw, height: ph, radius: Float(c.maskBlur)) }
                if (pw, ph) != (width, height) {
                    plane = try ImageResize.lanczos(plane, width: pw, height: ph, channels: 1, toWidth: width, toHeight: height)
                }
                mask = plane.map { Float($0) / 255 < 0.5 ? 0 : 1 }
            }
        }
        if let control = c.control {
            var picture = control.rgb()
            if case .canny(let low, let high) = c.controlPreprocess { picture = try picture.cannyEdges(low: Double(low), high: Double(high)) }
            self.control = try Self.resized(picture, width: width, height: height).tensor()
        }
        if let reference = c.reference {
            let (rw, rh) = ImageConditioning.referenceSize(width: reference.width, height: reference.height, resize: c.referenceResize)
            self.reference = try Self.resized(reference.rgb(), width: rw, height: rh).tensor()
        }
    }

    /// `picture` at `width` x `height` (itself when it already is), resized as Pillow's LANCZOS.
    static func resized(_ picture: PNGImage, width: Int, height: Int) throws -> PNGImage {
        (picture.width, picture.height) == (width, height) ? picture : try picture.resized(width: width, height: height)
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
