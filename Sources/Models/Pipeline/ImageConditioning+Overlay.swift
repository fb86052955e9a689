import Tensor

extension ImageConditioning {
    /// `generated` with the input picture pasted back outside the mask, as A1111 composites its
    /// inpainting result (`apply_overlay`): the mask binarised at 128 (`create_binary_mask`), blurred
    /// by `maskBlur` at the picture's size, resized to the output, doubled and clipped; where it is 0
    /// the picture's own pixels, where it reaches 255 the generated ones, a blend between. Returns
    /// `generated` unchanged unless `keepUnmasked` is on for a masked picture (not outpainting).
    public func overlaid(on generated: PNGImage) throws -> PNGImage {
        guard keepUnmasked, outpaint == nil, let picture = image, var plane = mask?.luma() ?? picture.transparencyMask() else { return generated }
        let (pw, ph) = (picture.width, picture.height), (w, h) = (generated.width, generated.height)
        plane = plane.map { $0 > 128 ? 255 : 0 }
        if maskBlur > 0 { plane = try BoxBlur.gaussianBlur(plane, width: pw, height: ph, radius: Float(maskBlur)) }
        var original = picture.rgb()
        if (pw, ph) != (w, h) {
            plane = try ImageResize.lanczos(plane, width: pw, height: ph, channels: 1, toWidth: w, toHeight: h)
            original = try original.resized(width: w, height: h)
        }
        let gen = generated.rgb().pixels, orig = original.pixels
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) {
            let a = UInt32(min(255, 2 * Int(plane[i])))  // the generated picture's share
            for c in 0..<3 {
                let k = i * 3 + c
                out[k] = UInt8((UInt32(orig[k]) * (255 - a) + UInt32(gen[k]) * a + 127) / 255)
            }
        }
        return try PNGImage(width: w, height: h, channels: 3, pixels: out)
    }
}
