/// How float8 e4m3fn encoding treats values beyond ±448.
public enum Float8Overflow: Sendable {
    /// Everything beyond ±448, infinities included, becomes ±448 (PyTorch 2.15 behaviour).
    case saturate
    /// Values that round beyond 448 (above the 464 tie) and infinities become NaN (PyTorch 2.11).
    case nan
}

/// float8 e4m3fn codec (bias 7, no infinities, NaN = 0x7F / 0xFF, max 448).
///
/// Encoding matches PyTorch's `.to(torch.float8_e4m3fn)` bit for bit (verified on all 2^32 f32 inputs):
/// round to nearest even; subnormals are multiples of 2^-9 (so 2^-10 rounds to 0); ±0 keep their sign;
/// NaN keeps its sign (0x7F / 0xFF); overflow follows `Float8Overflow`. The scalar encoder is branch-free
/// integer arithmetic, so loops over it (and `encode(_:into:count:overflow:)`) vectorise.
public enum Float8E4M3FN {
    /// All 256 codes decoded. NaN codes carry PyTorch's bit patterns (0x7FF00000 / 0xFFF00000).
    public static let table: [Float] = (0..<256).map { decodeSlow(UInt8($0)) }
    /// All 256 codes as bfloat16 bits (exact: every e4m3fn value is a bf16 value; NaN -> 0x7FC0 as in PyTorch).
    public static let bf16Table: [UInt16] = table.map { $0.isNaN ? 0x7FC0 : BFloat16.bits(from: $0) }

    /// Decodes one code through the 256-entry table.
    @inlinable @inline(__always)
    public static func float(fromBits c: UInt8) -> Float { table.withUnsafeBufferPointer { $0[Int(c)] } }

    static func decodeSlow(_ c: UInt8) -> Float {
        let sign: Float = c & 0x80 != 0 ? -1 : 1
        let e = Int(c >> 3) & 0xF, m = Int(c) & 7
        if e == 0xF && m == 7 { return Float(bitPattern: UInt32(c & 0x80) << 24 | 0x7FF0_0000) }
        if e == 0 { return sign * Float(m) / 8 * 0x1p-6 }
        return sign * (1 + Float(m) / 8) * Float(sign: .plus, exponent: e - 7, significand: 1)
    }

    /// Encodes with round-to-nearest-even (branch-free).
    @inlinable @inline(__always)
    public static func bits(from f: Float, overflow: Float8Overflow = .saturate) -> UInt8 {
        encode(bitPattern: f.bitPattern, saturate: overflow == .saturate)
    }

    /// The branch-free core of `bits(from:overflow:)` on an f32 bit pattern.
    @inlinable @inline(__always)
    public static func encode(bitPattern b: UInt32, saturate: Bool) -> UInt8 {
        let sign = (b >> 24) & 0x80
        let a = b & 0x7FFF_FFFF
        // Normal range (|x| >= 2^-6): round the f32 mantissa to 3 bits (nearest even), rebias 127 -> 7.
        // |x| >= 2^-6 keeps the subtraction positive; inf and huge values give n far above 0x7E.
        let r = a &+ 0x7_FFFF &+ ((a >> 20) & 1)
        var n = (r &- 0x3C00_0000) >> 20
        // 0x7E is 448; 0x7F would be 480 (the NaN code): anything rounding there overflowed.
        n = saturate ? (n > 0x7E ? 0x7E : n) : (n > 0x7E ? 0x7F : n)
        // Subnormal range: adding 2^14 (whose ulp is 2^-9) rounds |x| to a multiple of 2^-9, nearest even.
        let s = (Float(bitPattern: a) + 16384).bitPattern &- 0x4680_0000
        var v = a < 0x3C80_0000 ? s : n
        v = a > 0x7F80_0000 ? 0x7F : v  // NaN stays NaN, sign kept
        return UInt8(truncatingIfNeeded: v | sign)
    }

    /// Decodes `count` codes into f32.
    @inlinable
    public static func decode(_ src: UnsafePointer<UInt8>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        table.withUnsafeBufferPointer { t in
            let t = t.baseAddress!
            for i in 0..<count { dst[i] = t[Int(src[i])] }
        }
    }

    /// Encodes `count` f32 values (vectorised loop).
    @inlinable
    public static func encode(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<UInt8>, count: Int,
                              overflow: Float8Overflow = .saturate) {
        let bits = UnsafeRawPointer(src).assumingMemoryBound(to: UInt32.self)
        if overflow == .saturate {
            for i in 0..<count { dst[i] = encode(bitPattern: bits[i], saturate: true) }
        } else {
            for i in 0..<count { dst[i] = encode(bitPattern: bits[i], saturate: false) }
        }
    }
}

/// float8 e5m2 codec (bias 15, with infinities, max 57344).
///
/// Encoding matches PyTorch's `.to(torch.float8_e5m2)` bit for bit (verified on all 2^32 f32 inputs):
/// round to nearest even straight from f32 (not through f16, which would round twice); values that
/// round above 57344 (from the 61440 tie up) and infinities give ±inf (0x7C / 0xFC); NaN gives 0x7F / 0xFF.
public enum Float8E5M2 {
    /// All 256 codes decoded. e5m2 is the top byte of an IEEE half; NaN codes come out quiet with
    /// their payload (0x7FE00000, 0x7FC00000, 0x7FE00000 and negatives), as in PyTorch.
    public static let table: [Float] = (0..<256).map { c -> Float in
        let f = Half.float(fromBits: UInt16(c) << 8)
        return f.isNaN ? Float(bitPattern: f.bitPattern | 0x0040_0000) : f
    }
    /// All 256 codes as bfloat16 bits (exact; NaN -> 0x7FC0 as in PyTorch).
    public static let bf16Table: [UInt16] = table.map { $0.isNaN ? 0x7FC0 : BFloat16.bits(from: $0) }

    /// Decodes one code through the 256-entry table.
    @inlinable @inline(__always)
    public static func float(fromBits c: UInt8) -> Float { table.withUnsafeBufferPointer { $0[Int(c)] } }

    /// Encodes with round-to-nearest-even; overflow gives infinity, NaN stays NaN (branch-free).
    @inlinable @inline(__always)
    public static func bits(from f: Float) -> UInt8 { encode(bitPattern: f.bitPattern) }

    /// The branch-free core of `bits(from:)` on an f32 bit pattern.
    @inlinable @inline(__always)
    public static func encode(bitPattern b: UInt32) -> UInt8 {
        let sign = (b >> 24) & 0x80
        let a = b & 0x7FFF_FFFF
        // Normal range (|x| >= 2^-14): round to 2 mantissa bits, rebias 127 -> 15; overflow -> inf (0x7C).
        let r = a &+ 0xF_FFFF &+ ((a >> 21) & 1)
        var n = (r &- 0x3800_0000) >> 21
        n = n > 0x7C ? 0x7C : n
        // Subnormals: multiples of 2^-16 (2^7 has ulp 2^-16).
        let s = (Float(bitPattern: a) + 128).bitPattern &- 0x4300_0000
        var v = a < 0x3880_0000 ? s : n
        v = a > 0x7F80_0000 ? 0x7F : v
        return UInt8(truncatingIfNeeded: v | sign)
    }

    /// Decodes `count` codes into f32.
    @inlinable
    public static func decode(_ src: UnsafePointer<UInt8>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        table.withUnsafeBufferPointer { t in
            let t = t.baseAddress!
            for i in 0..<count { dst[i] = t[Int(src[i])] }
        }
    }

    /// Encodes `count` f32 values (vectorised loop).
    @inlinable
    public static func encode(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<UInt8>, count: Int) {
        let bits = UnsafeRawPointer(src).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count { dst[i] = encode(bitPattern: bits[i]) }
    }
}
