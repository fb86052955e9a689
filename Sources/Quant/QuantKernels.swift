import Tensor

/// Span-level kernels on raw host memory: conversion to f32, absmax, quantize and dequantize.
/// Every loop is branch-free per element so that it vectorises; callers split work across threads.
public enum QuantKernels {
    /// Converts `count` elements of a float `dtype` at `src` to f32.
    @inlinable
    public static func loadFloats(_ src: UnsafeRawPointer, dtype: DType, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            dst.update(from: src.assumingMemoryBound(to: Float.self), count: count)
        case .bf16:
            let s = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(s[i]) << 16) }
        case .f16:
            let s = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { dst[i] = Half.float(fromBits: s[i]) }
        case .f8e4m3fn:
            Float8E4M3FN.decode(src.assumingMemoryBound(to: UInt8.self), into: dst, count: count)
        case .f8e5m2:
            Float8E5M2.decode(src.assumingMemoryBound(to: UInt8.self), into: dst, count: count)
        default:
            preconditionFailure("loadFloats: \(dtype) is not a float dtype")
        }
    }

    /// Largest |x| of `count` values; NaNs are ignored, infinities count.
    @inlinable
    public static func absmax(_ src: UnsafePointer<Float>, count: Int) -> Float {
        var m: Float = 0
        for i in 0..<count {
            let a = Float(bitPattern: src[i].bitPattern & 0x7FFF_FFFF)
            m = a > m ? a : m
        }
        return m
    }

    /// The scale for an absmax: `amax / qmax`, or 1 when `amax` is 0 (an all-zero group).
    @inlinable @inline(__always)
    public static func scale(amax: Float, qmax: Float) -> Float { amax > 0 ? amax / qmax : 1 }

    /// Rounds to the nearest integer (ties to even) and clamps to `lo...hi`; NaN gives 0.
    /// Branch-free: clamp, then the 1.5 * 2^23 trick, which is exact for |x| < 2^22.
    @inlinable @inline(__always)
    public static func roundClamp(_ x: Float, _ lo: Float, _ hi: Float) -> Int32 {
        var v = x == x ? x : 0
        v = v < lo ? lo : v
        v = v > hi ? hi : v
        let r = v + 12_582_912  // 1.5 * 2^23: the ulp is 1, so the addition rounds to an integer
        return Int32(bitPattern: r.bitPattern) &- 0x4B40_0000
    }

    /// Quantizes `count` values, dividing each by `scale`, into `dst` in `format`.
    /// For int4, `count` must be even unless it ends the row; `dst` receives `(count + 1) / 2` bytes.
    @inlinable
    public static func quantize(_ src: UnsafePointer<Float>, count: Int, scale: Float, format: QuantFormat,
                                overflow: Float8Overflow, into dst: UnsafeMutableRawPointer) {
        switch format {
        case .fp8e4m3fn:
            let d = dst.assumingMemoryBound(to: UInt8.self)
            if overflow == .saturate {
                for i in 0..<count { d[i] = Float8E4M3FN.encode(bitPattern: (src[i] / scale).bitPattern, saturate: true) }
            } else {
                for i in 0..<count { d[i] = Float8E4M3FN.encode(bitPattern: (src[i] / scale).bitPattern, saturate: false) }
            }
        case .fp8e5m2:
            let d = dst.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { d[i] = Float8E5M2.encode(bitPattern: (src[i] / scale).bitPattern) }
        case .int8:
            let d = dst.assumingMemoryBound(to: Int8.self)
            for i in 0..<count { d[i] = Int8(truncatingIfNeeded: roundClamp(src[i] / scale, -127, 127)) }
        case .int4:
            let d = dst.assumingMemoryBound(to: UInt8.self)
            let pairs = count / 2
            for j in 0..<pairs {
                let lo = roundClamp(src[2 * j] / scale, -8, 7), hi = roundClamp(src[2 * j + 1] / scale, -8, 7)
                d[j] = UInt8(truncatingIfNeeded: (lo & 0xF) | ((hi & 0xF) << 4))
            }
            if count % 2 == 1 {
                d[pairs] = UInt8(truncatingIfNeeded: roundClamp(src[count - 1] / scale, -8, 7) & 0xF)
            }
        case .bf16:
            let d = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { d[i] = BFloat16.bits(from: src[i] / scale) }
        case .f16:
            let d = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { d[i] = Half.bits(from: src[i] / scale) }
        case .f32:
            let d = dst.assumingMemoryBound(to: Float.self)
            for i in 0..<count { d[i] = src[i] / scale }
        }
    }

    /// Dequantizes `count` stored elements starting at element 0 of `src` (for int4: at the low nibble
    /// of byte 0) into f32: value * `scale`.
    @inlinable
    public static func dequantize(_ src: UnsafeRawPointer, format: QuantFormat, count: Int, scale: Float,
                                  into dst: UnsafeMutablePointer<Float>) {
        switch format {
        case .fp8e4m3fn:
            let s = src.assumingMemoryBound(to: UInt8.self)
            Float8E4M3FN.table.withUnsafeBufferPointer { t in
                let t = t.baseAddress!
                for i in 0..<count { dst[i] = t[Int(s[i])] * scale }
            }
        case .fp8e5m2:
            let s = src.assumingMemoryBound(to: UInt8.self)
            Float8E5M2.table.withUnsafeBufferPointer { t in
                let t = t.baseAddress!
                for i in 0..<count { dst[i] = t[Int(s[i])] * scale }
            }
        case .int8:
            let s = src.assumingMemoryBound(to: Int8.self)
            for i in 0..<count { dst[i] = Float(s[i]) * scale }
        case .int4:
            let s = src.assumingMemoryBound(to: UInt8.self)
            let pairs = count / 2
            for j in 0..<pairs {
                let b = Int8(bitPattern: s[j])
                dst[2 * j] = Float((b &<< 4) >> 4) * scale
                dst[2 * j + 1] = Float(b >> 4) * scale
            }
            if count % 2 == 1 { dst[count - 1] = Float((Int8(bitPattern: s[pairs]) &<< 4) >> 4) * scale }
        case .bf16:
            let s = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(s[i]) << 16) * scale }
        case .f16:
            let s = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { dst[i] = Half.float(fromBits: s[i]) * scale }
        case .f32:
            let s = src.assumingMemoryBound(to: Float.self)
            for i in 0..<count { dst[i] = s[i] * scale }
        }
    }
}
