/// bfloat16 <-> float32 bit conversions. bf16 is the top half of an f32.
public enum BFloat16 {
    /// f32 -> bf16 bits, rounding to nearest even; NaN stays a (quiet) NaN.
    @inlinable @inline(__always)
    public static func bits(from f: Float) -> UInt16 {
        let b = f.bitPattern
        if f.isNaN { return UInt16(truncatingIfNeeded: (b >> 16) | 0x40) }
        let rounded = b &+ 0x7FFF &+ ((b >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// bf16 bits -> f32 (exact).
    @inlinable @inline(__always)
    public static func float(fromBits h: UInt16) -> Float {
        Float(bitPattern: UInt32(h) << 16)
    }
}
