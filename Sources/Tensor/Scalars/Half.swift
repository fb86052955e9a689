/// IEEE half (float16) <-> float32 bit conversions done with integer arithmetic, because the
/// toolchain's `Float16 -> Float` at the default x86-64 target is a slow software call.
public enum Half {
    /// f16 bits -> f32 (exact, including subnormals, infinities and NaN).
    @inlinable @inline(__always)
    public static func float(fromBits h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = UInt32(h >> 10) & 0x1F
        let man = UInt32(h) & 0x3FF
        if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (man << 13)) }
        if exp != 0 { return Float(bitPattern: sign | ((exp + 112) << 23) | (man << 13)) }
        if man == 0 { return Float(bitPattern: sign) }
        // Subnormal: value = man * 2^-24, exact in f32.
        let v = Float(man) * 5.9604645e-08
        return sign != 0 ? -v : v
    }

    /// f32 -> f16 bits, rounding to nearest even; overflow gives infinity.
    @inlinable @inline(__always)
    public static func bits(from f: Float) -> UInt16 {
        let b = f.bitPattern
        let sign = UInt16(truncatingIfNeeded: (b >> 16) & 0x8000)
        let a = b & 0x7FFF_FFFF
        if a >= 0x7F80_0000 { return sign | (a > 0x7F80_0000 ? 0x7E00 : 0x7C00) }
        if a >= 0x477F_F000 { return sign | 0x7C00 }  // rounds to >= 65520 -> inf
        if a >= 0x3880_0000 {  // normal half range (>= 2^-14)
            let rounded = a &+ 0x0FFF &+ ((a >> 13) & 1)
            return sign | UInt16(truncatingIfNeeded: (rounded &- 0x3800_0000) >> 13)
        }
        // Subnormal or zero: value / 2^-24, rounded to nearest even (exact scaling by a power of two).
        let q = (Float(bitPattern: a) * 16_777_216).rounded(.toNearestOrEven)
        return sign | UInt16(q)
    }
}
