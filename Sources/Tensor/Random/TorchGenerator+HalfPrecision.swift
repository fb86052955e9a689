/// PyTorch's bfloat16 / float16 random kernels (x86-64 PyTorch 2.x, `normal_fill` / `uniform_kernel`
/// with `opmath_t = float`):
/// - randn with >= 16 elements: for each block of 16, draw 16 float uniforms, run the same f32
///   Box-Muller as the f32 path (Cephes log/sincos), round to the 16-bit type. A ragged tail draws 16
///   more uniforms right after the last block (unlike f32, no draws are skipped) and its 16 results
///   overwrite the last 16 elements. So bf16 randn is not bf16(f32 randn) when the count is not a multiple of 16.
/// - randn with < 16 elements: the serial double normals rounded double -> float -> 16-bit.
/// - rand: the float uniform rounded to nearest; a value that rounds up to 1.0 becomes 0.0.
extension TorchGenerator {
    /// A 16-bit float format and its rounding from Float.
    public enum HalfFormat: Sendable {
        /// bfloat16 (round to nearest even).
        case bf16
        /// IEEE half (round to nearest even).
        case f16
        @inlinable func bits(_ x: Float) -> UInt16 {
            switch self {
            case .bf16: return BFloat16.bits(from: x)
            case .f16: return Half.bits(from: x)
            }
        }
    }

    /// `count` standard normals as 16-bit patterns (the values of `torch.randn(count, dtype=...)`).
    public func randnHalfBits(count n: Int, format: HalfFormat = .bf16) -> [UInt16] {
        if n < 16 {
            return (0..<n).map { _ in format.bits(Float(nextNormalDouble())) }
        }
        var out = [UInt16](repeating: 0, count: n)
        var block = [Float](repeating: 0, count: 16)
        out.withUnsafeMutableBufferPointer { o in
            block.withUnsafeMutableBufferPointer { b in
                let buf = b.baseAddress!
                func run(into offset: Int) {
                    fillUniform(buf, count: 16)
                    TorchGenerator.boxMuller16(buf)
                    for j in 0..<16 { o[offset + j] = format.bits(buf[j]) }
                }
                var i = 0
                while i + 16 <= n { run(into: i); i += 16 }
                if n % 16 != 0 { run(into: n - 16) }
            }
        }
        return out
    }

    /// `count` uniforms in [0, 1) as 16-bit patterns (the values of `torch.rand(count, dtype=...)`).
    public func randHalfBits(count n: Int, format: HalfFormat = .bf16) -> [UInt16] {
        let one = format.bits(1)
        return (0..<n).map { _ in
            let b = format.bits(nextUniformFloat())
            return b == one ? 0 : b
        }
    }
}
