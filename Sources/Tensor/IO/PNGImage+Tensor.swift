/// Conversions between images and float tensors in [-1, 1], rounding like diffusers' `VaeImageProcessor`.
extension PNGImage {
    /// 8-bit RGB from a (3, H, W) or (1, 3, H, W) tensor with values in [-1, 1] (a VAE decoder output).
    ///
    /// Matches diffusers' `postprocess` bit for bit: `denormalize` = `(x * 0.5 + 0.5).clamp(0, 1)` computed
    /// in the tensor's own dtype (each op rounded to bf16 / f16 for those dtypes), then `.float()`, then
    /// numpy's `(x * 255).round().astype(uint8)` in float32 with round-half-to-even. NaN becomes 0.
    public init(tensor: Tensor) throws {
        var t = tensor
        if t.rank == 4 {
            guard t.shape[0] == 1 else { throw TensorError.shapeMismatch("image tensor batch must be 1, got shape \(t.shape)") }
            t = t.select(dim: 0, index: 0)
        }
        guard t.rank == 3, t.shape[0] == 3, t.shape[1] > 0, t.shape[2] > 0 else {
            throw TensorError.shapeMismatch("image tensor must be (3, H, W) or (1, 3, H, W), got \(tensor.shape)")
        }
        guard t.dtype.isFloatingPoint else { throw TensorError.invalidArgument("image tensor must be floating point, not \(t.dtype)") }
        let h = t.shape[1], w = t.shape[2]
        // floats() of bf16/f16 is exact; the rounding below reproduces torch's per-op rounding in that dtype.
        let values = t.floats()
        var pixels = [UInt8](repeating: 0, count: h * w * 3)
        let plane = h * w
        values.withUnsafeBufferPointer { v in
            pixels.withUnsafeMutableBufferPointer { px in
                // One loop per dtype so the per-op rounding is inlined, not a closure call per value.
                func convert(_ r: (Float) -> Float) {
                    for c in 0..<3 {
                        for i in 0..<plane { px[i * 3 + c] = PNGImage.byte(fromSigned: v[c * plane + i], r) }
                    }
                }
                switch t.dtype {
                case .bf16: convert { BFloat16.float(fromBits: BFloat16.bits(from: $0)) }
                case .f16: convert { Half.float(fromBits: Half.bits(from: $0)) }
                default: convert { $0 }
                }
            }
        }
        try self.init(width: w, height: h, channels: 3, pixels: pixels)
    }

    /// diffusers' rounding of one value in [-1, 1] to a byte (see `init(tensor:)`).
    @inline(__always)
    static func byte(fromSigned x: Float, _ r: (Float) -> Float) -> UInt8 {
        var v = r(r(x * 0.5) + 0.5)
        if v.isNaN { return 0 }
        v = min(max(v, 0), 1)
        return UInt8((v * 255).rounded(.toNearestOrEven))
    }

    /// diffusers' rounding of one f32 value in [-1, 1] to a byte: `round(clamp(x * 0.5 + 0.5, 0, 1) * 255)`.
    public static func byte(fromSigned x: Float) -> UInt8 { byte(fromSigned: x, { $0 }) }

    /// A (1, 3, H, W) f32 tensor in [-1, 1] from the RGB channels (alpha is dropped), like diffusers'
    /// `preprocess`: `2 * (v / 255) - 1` in float32.
    public func tensor(backend: any Backend = CPUBackend.shared) -> Tensor {
        let plane = width * height
        var values = [Float](repeating: 0, count: 3 * plane)
        for c in 0..<3 {
            for i in 0..<plane {
                values[c * plane + i] = 2 * (Float(pixels[i * channels + c]) / 255) - 1
            }
        }
        return Tensor(values, shape: [1, 3, height, width], backend: backend)
    }
}
