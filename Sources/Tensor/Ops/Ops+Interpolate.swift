/// Resizing (N, C, H, W) tensors as PyTorch's `torch.nn.functional.interpolate(x, size=...)` does with
/// `align_corners=False` (the A1111 hires fix's latent upscalers run exactly these six).
///
/// Computed on the host in f32 (latents are small: 16 x 128 x 128 for a 1024 picture); the result
/// lives on `x`'s backend.

/// The resampling filter of `interpolate`.
public enum InterpolationMode: String, Sendable, CaseIterable {
    /// `mode="bilinear"`: two taps per axis, source position clamped at 0.
    case bilinear
    /// `mode="bicubic"`: four taps per axis, Keys' cubic with A = -0.75, edge pixels repeated.
    case bicubic
    /// `mode="nearest"`: source index floor(dst * in / out) (PyTorch's legacy rule).
    case nearest
    /// `mode="nearest-exact"`: source index floor((dst + 0.5) * in / out) (Pillow's rule).
    case nearestExact = "nearest-exact"
}

/// `F.interpolate(x, size=(height, width), mode=mode, antialias=antialias)` for f32 (N, C, H, W).
/// `antialias` applies to bilinear and bicubic only (as in PyTorch, where it is refused for the
/// nearest modes): Pillow-style filters stretched by the downscale factor, weights normalised over
/// the taps inside the image, and bicubic with A = -0.5.
public func interpolate(_ x: Tensor, height: Int, width: Int, mode: InterpolationMode, antialias: Bool = false) -> Tensor {
    precondition(x.rank == 4, "interpolate: input must be (N, C, H, W), got \(x.shape)")
    precondition(height > 0 && width > 0, "interpolate: size \(height)x\(width) must be positive")
    precondition(!antialias || mode == .bilinear || mode == .bicubic, "interpolate: antialias applies to bilinear and bicubic only")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let rows = InterpolationTaps(inSize: h, outSize: height, mode: mode, antialias: antialias)
    let cols = InterpolationTaps(inSize: w, outSize: width, mode: mode, antialias: antialias)
    let input = x.to(.f32).floats()
    var out = [Float](repeating: 0, count: n * c * height * width)
    var across = [Float](repeating: 0, count: h * width)
    for plane in 0..<(n * c) {
        let src = plane * h * w
        // Width first, then height: both passes are linear, so the order only changes rounding.
        for y in 0..<h {
            for ox in 0..<width {
                var s: Float = 0
                for (i, weight) in cols.taps[ox] { s += weight * input[src + y * w + i] }
                across[y * width + ox] = s
            }
        }
        let dst = plane * height * width
        for oy in 0..<height {
            for ox in 0..<width {
                var s: Float = 0
                for (i, weight) in rows.taps[oy] { s += weight * across[i * width + ox] }
                out[dst + oy * width + ox] = s
            }
        }
    }
    return Tensor(out, shape: [n, c, height, width]).moved(to: x.backend)
}

/// Per output position along one axis: the input indices it reads and their weights.
struct InterpolationTaps {
    var taps: [[(Int, Float)]]

    init(inSize: Int, outSize: Int, mode: InterpolationMode, antialias: Bool) {
        // PyTorch's area_pixel_compute_scale with a size and no scale factor: in / out, in f32.
        let scale = Float(inSize) / Float(outSize)
        let last = inSize - 1
        func clamped(_ i: Int) -> Int { Swift.min(Swift.max(i, 0), last) }
        taps = (0..<outSize).map { dst in
            if antialias { return Self.antialiased(dst, inSize: inSize, scale: scale, cubic: mode == .bicubic) }
            switch mode {
            case .nearest:
                return [(Swift.min(Int((Float(dst) * scale).rounded(.down)), last), 1)]
            case .nearestExact:
                return [(Swift.min(Int(((Float(dst) + 0.5) * scale).rounded(.down)), last), 1)]
            case .bilinear:
                let real = Swift.max(scale * (Float(dst) + 0.5) - 0.5, 0)
                let i0 = Int(real)
                let lambda = real - Float(i0)
                let i1 = i0 < last ? i0 + 1 : i0
                return [(i0, 1 - lambda), (i1, lambda)]
            case .bicubic:
                let real = scale * (Float(dst) + 0.5) - 0.5
                let i = Int(real.rounded(.down))
                let t = real - Float(i)
                let a: Float = -0.75
                // Keys' cubic convolution at distances 1 + t, t, 1 - t, (1 - t) + 1, as PyTorch rounds them.
                let weights = [Self.cubicFar(t + 1, a), Self.cubicNear(t, a), Self.cubicNear(1 - t, a), Self.cubicFar((1 - t) + 1, a)]
                return (0..<4).map { (clamped(i - 1 + $0), weights[$0]) }
            }
        }
    }

    /// Keys' cubic convolution for |x| <= 1 and 1 < |x| < 2 (PyTorch's cubic_convolution1 / 2).
    static func cubicNear(_ x: Float, _ a: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
    static func cubicFar(_ x: Float, _ a: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }

    /// PyTorch's `_upsample_*_aa` (after Pillow): a triangle or a bicubic (A = -0.5) of support 1 or 2,
    /// stretched by the scale when shrinking, normalised over the taps inside the image.
    static func antialiased(_ dst: Int, inSize: Int, scale: Float, cubic: Bool) -> [(Int, Float)] {
        let interpSize: Float = cubic ? 4 : 2
        let support = scale >= 1 ? interpSize * 0.5 * scale : interpSize * 0.5
        let center = scale * (Float(dst) + 0.5)
        let invScale: Float = scale >= 1 ? 1 / scale : 1
        let lo = Swift.max(Int(center - support + 0.5), 0)
        let count = Swift.min(Int(center + support + 0.5), inSize) - lo
        func filter(_ x: Float) -> Float {
            let x = abs(x)
            if !cubic { return x < 1 ? 1 - x : 0 }
            if x < 1 { return cubicNear(x, -0.5) }
            if x < 2 { return cubicFar(x, -0.5) }
            return 0
        }
        var weights = (0..<Swift.max(count, 0)).map { filter((Float($0 + lo) - center + 0.5) * invScale) }
        let total = weights.reduce(0, +)
        if total != 0 { weights = weights.map { $0 / total } }
        return weights.enumerated().map { (lo + $0.offset, $0.element) }
    }
}
