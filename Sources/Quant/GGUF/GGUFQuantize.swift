import Tensor

/// f32 -> ggml blocks, bit-identical to `gguf.quants.quantize` (numpy) for every type in
/// `GGMLType.quantizable`: the same f32 arithmetic in the same order (the scale is computed in f32,
/// used in f32, and stored rounded to an IEEE half).
///
/// The k-quants (Q6_K ... Q2_K, GGUFQuantize+KQuants.swift) are ports of ggml's reference C
/// quantisers (the `gguf` package only dequantizes them): their bytes are checked against that C.
public enum GGUFQuantize {
    /// Bytes of `count` elements (a whole number of blocks) of `type`.
    public static func byteCount(_ type: GGMLType, count: Int) -> Int { count / type.blockSize * type.typeSize }

    /// Quantizes `count` f32 values at `src` into `dst` (`byteCount(type, count:)` bytes). `count` must
    /// be a whole number of blocks. Large inputs are split by blocks across threads.
    public static func quantize(_ type: GGMLType, from src: UnsafePointer<Float>, count: Int,
                                into dst: UnsafeMutableRawPointer) throws {
        guard GGMLType.quantizable.contains(type) else {
            throw TensorError.invalidArgument("writing \(type) is not supported (supported: \(GGMLType.quantizable.map(\.name).joined(separator: ", ")))")
        }
        guard count % type.blockSize == 0 else {
            throw TensorError.invalidArgument("\(count) elements are not whole \(type) blocks of \(type.blockSize)")
        }
        let s = Int(bitPattern: src), d = Int(bitPattern: dst)
        CPUBackend.shared.parallel.forEach(count / type.blockSize, grain: Swift.max(1, 65536 / type.blockSize)) { range in
            quantizeBlocks(type, from: UnsafePointer<Float>(bitPattern: s)!, blocks: range, into: UnsafeMutableRawPointer(bitPattern: d)!)
        }
    }

    /// Quantizes blocks `blocks` on this thread (block b reads `src[b * blockSize...]`, writes
    /// `dst + b * typeSize`).
    public static func quantizeBlocks(_ type: GGMLType, from src: UnsafePointer<Float>, blocks: Range<Int>,
                                      into dst: UnsafeMutableRawPointer) {
        let bs = type.blockSize, ts = type.typeSize
        for b in blocks {
            let x = src + b * bs, p = dst + b * ts
            switch type {
            case .f32: p.storeBytes(of: x.pointee.bitPattern, as: UInt32.self)
            case .f16: p.storeBytes(of: Half.bits(from: x.pointee), as: UInt16.self)
            case .bf16: p.storeBytes(of: BFloat16.bits(from: x.pointee), as: UInt16.self)
            case .q8_0: q8_0(x, p)
            case .q4_0: q4_0(x, p)
            case .q4_1: q4_1(x, p)
            case .q5_0: q5_0(x, p)
            case .q5_1: q5_1(x, p)
            case .q2_K: q2_K(x, p)
            case .q3_K: q3_K(x, p)
            case .q4_K: q4_K(x, p)
            case .q5_K: q5_K(x, p)
            case .q6_K: q6_K(x, p)
            default: preconditionFailure("\(type) is not quantizable")
            }
        }
    }

    @inline(__always) static func storeHalf(_ v: Float, _ p: UnsafeMutableRawPointer, _ offset: Int) {
        p.storeBytes(of: Half.bits(from: v), toByteOffset: offset, as: UInt16.self)
    }

    /// 1 / d, or 0 when d is 0 (numpy's `np.where(d == 0, 0, 1 / d)`).
    @inline(__always) static func inverse(_ d: Float) -> Float { d == 0 ? 0 : 1 / d }

    /// The element of largest magnitude, signed (the first one on ties, as `argmax`).
    @inline(__always) static func signedAbsMax(_ x: UnsafePointer<Float>) -> Float {
        var best = x[0], mag = Swift.abs(x[0])
        for j in 1..<32 where Swift.abs(x[j]) > mag { mag = Swift.abs(x[j]); best = x[j] }
        return best
    }

    /// numpy's `trunc(v).astype(uint8).clip(0, hi)` for v in the range finite inputs produce
    /// (about -0.5...hi + 1.5). Non-finite values (from NaN or infinite inputs, where numpy's cast is
    /// platform-defined) give 0 instead of trapping.
    @inline(__always) static func truncClip(_ v: Float, _ hi: Int) -> Int {
        guard v.isFinite else { return 0 }
        return Swift.min(Int(Swift.max(0, Swift.min(v, 255)).rounded(.towardZero)), hi)
    }

    /// Q8_0: d = absmax / 127, q = round-half-away(x * (1/d)).
    @inline(__always) static func q8_0(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { amax = Swift.max(amax, Swift.abs(x[j])) }
        let d = amax / 127, id = inverse(d)
        storeHalf(d, p, 0)
        for j in 0..<32 {
            let q = (x[j] * id).rounded(.toNearestOrAwayFromZero)
            // Finite inputs give |q| <= 127; NaN (from NaN or infinite inputs) is stored as 0.
            p.storeBytes(of: q.isFinite ? Int8(clamping: Int(Swift.max(-128, Swift.min(q, 127)))) : 0, toByteOffset: 2 + j, as: Int8.self)
        }
    }

    /// Q4_0: d = signed absmax / -8, q = trunc(x * (1/d) + 8.5) clipped to 0...15.
    @inline(__always) static func q4_0(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        let d = signedAbsMax(x) / -8, id = inverse(d)
        storeHalf(d, p, 0)
        for j in 0..<16 {
            let lo = truncClip(x[j] * id + 8.5, 15), hi = truncClip(x[j + 16] * id + 8.5, 15)
            p.storeBytes(of: UInt8(lo | hi << 4), toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    /// Q4_1: d = (max - min) / 15, m = min, q = trunc((x - min) * (1/d) + 0.5) clipped to 0...15.
    @inline(__always) static func q4_1(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        var lo = x[0], hi = x[0]
        for j in 1..<32 { lo = Swift.min(lo, x[j]); hi = Swift.max(hi, x[j]) }
        let d = (hi - lo) / 15, id = inverse(d)
        storeHalf(d, p, 0)
        storeHalf(lo, p, 2)
        for j in 0..<16 {
            let a = truncClip((x[j] - lo) * id + 0.5, 15), b = truncClip((x[j + 16] - lo) * id + 0.5, 15)
            p.storeBytes(of: UInt8(a | b << 4), toByteOffset: 4 + j, as: UInt8.self)
        }
    }

    /// Packs 32 five-bit codes as Q5: u32 of fifth bits at `qhOffset`, nibbles after it.
    @inline(__always) static func pack5(_ q: UnsafePointer<Int>, _ p: UnsafeMutableRawPointer, qhOffset: Int) {
        var qh: UInt32 = 0
        for j in 0..<32 { qh |= UInt32((q[j] >> 4) & 1) << UInt32(j) }
        p.storeBytes(of: qh.littleEndian, toByteOffset: qhOffset, as: UInt32.self)
        for j in 0..<16 {
            // numpy shifts in uint8: the fifth bit of the high element falls off.
            p.storeBytes(of: UInt8(truncatingIfNeeded: (q[j] & 0x0F) | (q[j + 16] << 4)), toByteOffset: qhOffset + 4 + j, as: UInt8.self)
        }
    }

    /// Q5_0: d = signed absmax / -16, q = trunc(x * (1/d) + 16.5) clipped to 0...31.
    @inline(__always) static func q5_0(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        let d = signedAbsMax(x) / -16, id = inverse(d)
        storeHalf(d, p, 0)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 32) { q in
            for j in 0..<32 { q[j] = truncClip(x[j] * id + 16.5, 31) }
            pack5(UnsafePointer(q.baseAddress!), p, qhOffset: 2)
        }
    }

    /// Q5_1: d = (max - min) / 31, m = min, q = trunc((x - min) * (1/d) + 0.5) clipped to 0...31.
    @inline(__always) static func q5_1(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        var lo = x[0], hi = x[0]
        for j in 1..<32 { lo = Swift.min(lo, x[j]); hi = Swift.max(hi, x[j]) }
        let d = (hi - lo) / 31, id = inverse(d)
        storeHalf(d, p, 0)
        storeHalf(lo, p, 2)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 32) { q in
            for j in 0..<32 { q[j] = truncClip((x[j] - lo) * id + 0.5, 31) }
            pack5(UnsafePointer(q.baseAddress!), p, qhOffset: 4)
        }
    }
}
