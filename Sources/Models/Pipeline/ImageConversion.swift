import Tensor

/// Decoder output -> 8-bit pixels, rounded as diffusers does.
enum ImageConversion {
    /// (3, H, W) in about [-1, 1] -> interleaved RGB bytes:
    /// round_half_even(clamp(x / 2 + 0.5, 0, 1) * 255), diffusers' `denormalize` then `numpy_to_pil`.
    static func rgb8(fromSigned image: Tensor) -> [UInt8] {
        precondition(image.rank == 3 && image.shape[0] == 3, "expected a (3, H, W) image, got \(image.shape)")
        let (h, w) = (image.shape[1], image.shape[2])
        let planes = image.floats()
        var out = [UInt8](repeating: 0, count: h * w * 3)
        for c in 0..<3 {
            for i in 0..<(h * w) {
                let v = Swift.min(Swift.max(planes[c * h * w + i] / 2 + 0.5, 0), 1)
                out[i * 3 + c] = UInt8((v * 255).rounded(.toNearestOrEven))
            }
        }
        return out
    }
}
