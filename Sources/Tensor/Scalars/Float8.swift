/// How float8 e4m3fn encoding treats values beyond ±448.
public enum Float8Overflow: Sendable {
    /// Everything beyond ±448, infinities included, becomes ±448 (PyTorch 2.15 behaviour).
    case saturate
    /// Values that round beyond 448 (above the 464 tie) and infinities become NaN (PyTorch 2.11).
    case nan
}

/// float8 e4m3fn codec (bias 7, no infinities, NaN = 0x7F / 0xFF, max 448).
public enum Float8E4M3FN {
    /// All 256 codes decoded.
    public static let table: [Float] = (0..<256).map { decodeSlow(UInt8($0)) }

    /// Decodes one code through the 256-entry table.
    @inlinable @inline(__always)
    public static func float(fromBits c: UInt8) -> Float { table.withUnsafeBufferPointer { $0[Int(c)] } }

    static func decodeSlow(_ c: UInt8) -> Float {
        let sign: Float = c & 0x80 != 0 ? -1 : 1
        let e = Int(c >> 3) & 0xF, m = Int(c) & 7
        if e == 0xF && m == 7 { return .nan }
        if e == 0 { return sign * Float(m) / 8 * 0x1p-6 }
        return sign * (1 + Float(m) / 8) * Float(sign: .plus, exponent: e - 7, significand: 1)
    }

    /// Encodes with round-to-nearest-even.
    @inlinable @inline(__always)
    public static func bits(from f: Float, overflow: Float8Overflow = .saturate) -> UInt8 {
        let sign: UInt8 = f.sign == .minus ? 0x80 : 0
        if f.isNaN { return 0x7F | sign }
        let a = Swift.abs(f)
        if a.isInfinite { return overflow == .saturate ? 0x7E | sign : 0x7F | sign }
        if a < 0x1p-6 {
            // Subnormals: multiples of 2^-9 (q == 8 is the smallest normal, which encodes the same way).
            let q = (a * 512).rounded(.toNearestOrEven)
            return sign | UInt8(q)
        }
        var e = Int(a.exponent)
        var q = (a * Float(sign: .plus, exponent: 3 - e, significand: 1)).rounded(.toNearestOrEven)  // in [8, 16]
        if q == 16 { e += 1; q = 8 }
        // Largest finite is e = 8, q = 14 (448); e = 8, q = 15 is the NaN code.
        if e > 8 || (e == 8 && q > 14) {
            if overflow == .saturate { return 0x7E | sign }
            // PyTorch 2.11: the tie at 464 rounds to even (448); anything larger is NaN.
            return a <= 464 ? 0x7E | sign : 0x7F | sign
        }
        return sign | UInt8((e + 7) << 3) | UInt8(Int(q) - 8)
    }
}

/// float8 e5m2 codec (bias 15, with infinities, max 57344).
public enum Float8E5M2 {
    /// All 256 codes decoded. e5m2 is the top byte of an IEEE half.
    public static let table: [Float] = (0..<256).map { Half.float(fromBits: UInt16($0) << 8) }

    /// Decodes one code through the 256-entry table.
    @inlinable @inline(__always)
    public static func float(fromBits c: UInt8) -> Float { table.withUnsafeBufferPointer { $0[Int(c)] } }

    /// Encodes with round-to-nearest-even; overflow gives infinity, NaN stays NaN.
    @inlinable @inline(__always)
    public static func bits(from f: Float) -> UInt8 {
        if f.isNaN { return f.sign == .minus ? 0xFF : 0x7F }
        // Round straight from f32 (going through f16 first would round twice).
        let b = f.bitPattern
        let sign = UInt8(truncatingIfNeeded: (b >> 24) & 0x80)
        let a = b & 0x7FFF_FFFF
        if a >= 0x7F80_0000 { return sign | 0x7C }
        if a >= 0x3880_0000 {  // normal range (>= 2^-14)
            let rounded = a &+ 0x000F_FFFF &+ ((a >> 21) & 1)
            let v = (rounded &- 0x3800_0000) >> 21
            return v >= 0x7C ? sign | 0x7C : sign | UInt8(v)
        }
        let q = (Float(bitPattern: a) * 65536).rounded(.toNearestOrEven)  // multiples of 2^-16
        return sign | UInt8(q)
    }
}
