import Tensor

/// k-quant writers: ggml's reference quantisers (`quantize_row_q2_K_ref` ... `quantize_row_q6_K_ref`
/// in ggml-quants.c, with their scale searches `make_qx_quants`, `make_q3_quants` and
/// `make_qkx2_quants`), ported operation for operation: every product and sum in f32 in ggml's order
/// (no fused multiply-add, as the C compiled without FMA contraction), ggml's `nearest_int`, halves
/// rounded to nearest even. `Tools/make_gguf_kquant_fixtures.py` compiles the C and checks our bytes.
extension GGUFQuantize {
    /// ggml's `GROUP_MAX_EPS`: a group whose largest |x| is below this is all zero.
    static let groupMaxEps: Float = 1e-15

    /// ggml's `nearest_int`: round half to even via 1.5 * 2^23 (exact for |f| < 2^22; garbage, never a
    /// trap, beyond, as in C where the caller then clamps).
    @inline(__always) static func nearestInt(_ f: Float) -> Int {
        let v = f + 12_582_912
        return Int(Int32(bitPattern: v.bitPattern & 0x007F_FFFF) &- 0x0040_0000)
    }

    @inline(__always) static func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { Swift.max(lo, Swift.min(hi, v)) }

    /// The f32 value of a stored half (scales are re-read rounded, as ggml does).
    @inline(__always) static func roundedHalf(_ v: Float) -> (bits: UInt16, value: Float) {
        let b = Half.bits(from: v)
        return (b, Half.float(fromBits: b))
    }

    /// The element of largest |x| (the first such, with its sign) and that |x|: where `make_qx_quants`
    /// and `make_q3_quants` start; a group under `groupMaxEps` is all zero codes (nil).
    static func signedMax(_ n: Int, _ x: UnsafePointer<Float>, zeroing L: UnsafeMutablePointer<Int8>) -> Float? {
        var mx: Float = 0, amax: Float = 0
        for i in 0..<n {
            let ax = Swift.abs(x[i])
            if ax > amax { amax = ax; mx = x[i] }
        }
        if amax < groupMaxEps {
            for i in 0..<n { L[i] = 0 }
            return nil
        }
        return mx
    }

    /// The symmetric codes l = clamp(nearest(iscale x), -nmax, nmax - 1) with their weighted sums
    /// (weights x^2): sum w x l and sum w l^2, in ggml's order; each l + `offset` goes to `L` when given.
    @inline(__always)
    static func symmetricSums(_ n: Int, _ nmax: Int, _ x: UnsafePointer<Float>, iscale: Float,
                              storing L: UnsafeMutablePointer<Int8>?, offset: Int) -> (sumlx: Float, suml2: Float) {
        var sumlx: Float = 0, suml2: Float = 0
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
            L?[i] = Int8(truncatingIfNeeded: l + offset)
            let w = x[i] * x[i], fl = Float(l)
            sumlx += w * x[i] * fl
            suml2 += w * fl * fl
        }
        return (sumlx, suml2)
    }

    /// `make_qx_quants` with `rmse_type` 1 (weights x^2) and no importance weights: symmetric codes
    /// L[i] in 0..<2 nmax and the least-squares scale over 19 trial inverse scales.
    static func makeQXQuants(_ n: Int, _ nmax: Int, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>) -> Float {
        guard let mx = signedMax(n, x, zeroing: L) else { return 0 }
        var (sumlx, suml2) = symmetricSums(n, nmax, x, iscale: Float(-nmax) / mx, storing: L, offset: nmax)
        var scale: Float = suml2 != 0 ? sumlx / suml2 : 0
        var best = scale * sumlx
        for step in -9...9 where step != 0 {
            let iscale = -(Float(nmax) + 0.1 * Float(step)) / mx
            (sumlx, suml2) = symmetricSums(n, nmax, x, iscale: iscale, storing: nil, offset: 0)
            if suml2 > 0 && sumlx * sumlx > best * suml2 {
                for i in 0..<n { L[i] = Int8(truncatingIfNeeded: nmax + clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)) }
                scale = sumlx / suml2
                best = scale * sumlx
            }
        }
        return scale
    }

    /// `make_q3_quants` with `do_rmse`: symmetric codes refined one element at a time (up to 5
    /// passes), weights x^2.
    static func makeQ3Quants(_ n: Int, _ nmax: Int, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>) -> Float {
        guard let mx = signedMax(n, x, zeroing: L) else { return 0 }
        var (sumlx, suml2) = symmetricSums(n, nmax, x, iscale: Float(-nmax) / mx, storing: L, offset: 0)
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = x[i] * x[i], li = Float(L[i])
                var slx = sumlx - w * x[i] * li
                if slx > 0 {
                    var sl2 = suml2 - w * li * li
                    let newL = clamp(nearestInt(x[i] * sl2 / slx), -nmax, nmax - 1)
                    if newL != Int(L[i]) {
                        let fl = Float(newL)
                        slx += w * x[i] * fl
                        sl2 += w * fl * fl
                        if sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                            L[i] = Int8(truncatingIfNeeded: newL); sumlx = slx; suml2 = sl2
                            changed += 1
                        }
                    }
                }
            }
            if changed == 0 { break }
        }
        for i in 0..<n { L[i] = L[i] &+ Int8(truncatingIfNeeded: nmax) }
        return suml2 > 0 ? sumlx / suml2 : 0
    }

    /// `make_qkx2_quants`: asymmetric codes 0...nmax with scale and min (returned as `-min` in
    /// `theMin`) from a weighted least-squares search over `nstep + 1` trial scales.
    static func makeQKX2Quants(_ n: Int, _ nmax: Int, _ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
                               _ L: UnsafeMutablePointer<UInt8>, _ theMin: inout Float, _ Laux: UnsafeMutablePointer<UInt8>,
                               rmin: Float, rdelta: Float, nstep: Int, useMad: Bool) -> Float {
        var mn = x[0], mx = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < mn { mn = x[i] }
            if x[i] > mx { mx = x[i] }
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        if mn > 0 { mn = 0 }
        if mx == mn {
            for i in 0..<n { L[i] = 0 }
            theMin = -mn
            return 0
        }
        var iscale = Float(nmax) / (mx - mn)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            L[i] = UInt8(truncatingIfNeeded: clamp(nearestInt(iscale * (x[i] - mn)), 0, nmax))
            var diff = scale * Float(L[i]) + mn - x[i]
            diff = useMad ? Swift.abs(diff) : diff * diff
            bestError += weights[i] * diff
        }
        if nstep < 1 {
            theMin = -mn
            return scale
        }
        for step in 0...nstep {
            iscale = (rmin + rdelta * Float(step) + Float(nmax)) / (mx - mn)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = clamp(nearestInt(iscale * (x[i] - mn)), 0, nmax)
                Laux[i] = UInt8(truncatingIfNeeded: l)
                let w = weights[i], fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            if D > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / D
                var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var curError: Float = 0
                for i in 0..<n {
                    var diff = thisScale * Float(Laux[i]) + thisMin - x[i]
                    diff = useMad ? Swift.abs(diff) : diff * diff
                    curError += weights[i] * diff
                }
                if curError < bestError {
                    for i in 0..<n { L[i] = Laux[i] }
                    bestError = curError
                    scale = thisScale
                    mn = thisMin
                }
            }
        }
        theMin = -mn
        return scale
    }

    /// Packs 256 2-bit codes as Q2_K/Q3_K do: element j*128 + s*32 + l in bits 2s of byte j*32 + l.
    @inline(__always) static func pack2(_ L: UnsafePointer<UInt8>, _ qs: UnsafeMutablePointer<UInt8>) {
        for j in stride(from: 0, to: 256, by: 128) {
            for l in 0..<32 {
                qs[j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6)
            }
        }
    }

    /// Q2_K (84 bytes: 16 scale/min nibbles, 64 bytes of 2-bit q, f16 d, f16 dmin).
    static func q2_K(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        let y = p.bindMemory(to: UInt8.self, capacity: 84)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 + 16 + 16) { f in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 16) { u in
                let weights = f.baseAddress!, mins = weights + 16, scales = mins + 16
                let L = u.baseAddress!, Laux = L + 256
                var maxScale: Float = 0, maxMin: Float = 0
                for j in 0..<16 {
                    for l in 0..<16 { weights[l] = Swift.abs(x[16 * j + l]) }
                    scales[j] = makeQKX2Quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux,
                                               rmin: -0.5, rdelta: 0.1, nstep: 15, useMad: true)
                    if scales[j] > maxScale { maxScale = scales[j] }
                    if mins[j] > maxMin { maxMin = mins[j] }
                }
                var d = roundedHalf(0), dmin = roundedHalf(0)
                if maxScale > 0 {
                    let iscale = 15 / maxScale
                    for j in 0..<16 { y[j] = UInt8(truncatingIfNeeded: nearestInt(iscale * scales[j])) }
                    d = roundedHalf(maxScale / 15)
                } else {
                    for j in 0..<16 { y[j] = 0 }
                }
                if maxMin > 0 {
                    let iscale = 15 / maxMin
                    for j in 0..<16 { y[j] |= UInt8(truncatingIfNeeded: nearestInt(iscale * mins[j]) << 4) }
                    dmin = roundedHalf(maxMin / 15)
                }
                p.storeBytes(of: d.bits, toByteOffset: 80, as: UInt16.self)
                p.storeBytes(of: dmin.bits, toByteOffset: 82, as: UInt16.self)
                for j in 0..<16 {
                    let dl = d.value * Float(y[j] & 0xF)
                    if dl == 0 { continue }
                    let dm = dmin.value * Float(y[j] >> 4)
                    for ii in 0..<16 {
                        L[16 * j + ii] = UInt8(truncatingIfNeeded: clamp(nearestInt((x[16 * j + ii] + dm) / dl), 0, 3))
                    }
                }
                pack2(L, y + 16)
            }
        }
    }

    /// Q3_K (110 bytes: 32 bytes hmask, 64 bytes of 2-bit q, 12 bytes of 6-bit scales, f16 d).
    static func q3_K(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        let y = p.bindMemory(to: UInt8.self, capacity: 110)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { f in
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { l8 in
                let scales = f.baseAddress!, L = l8.baseAddress!
                var maxScale: Float = 0, amax: Float = 0
                for j in 0..<16 {
                    scales[j] = makeQ3Quants(16, 4, x + 16 * j, L + 16 * j)
                    let s = Swift.abs(scales[j])
                    if s > amax { amax = s; maxScale = scales[j] }
                }
                let sc = y + 96
                for j in 0..<12 { sc[j] = 0 }
                var d = roundedHalf(0)
                if maxScale != 0 {
                    let iscale = -32 / maxScale
                    for j in 0..<16 {
                        // C keeps nearest_int's result in an int8_t before clamping: so do we.
                        let l = clamp(Int(Int8(truncatingIfNeeded: nearestInt(iscale * scales[j]))), -32, 31) + 32
                        if j < 8 { sc[j] = UInt8(l & 0xF) } else { sc[j - 8] |= UInt8((l & 0xF) << 4) }
                        sc[j % 4 + 8] |= UInt8(truncatingIfNeeded: (l >> 4) << (2 * (j / 4)))
                    }
                    d = roundedHalf(1 / iscale)
                }
                p.storeBytes(of: d.bits, toByteOffset: 108, as: UInt16.self)
                for j in 0..<16 {
                    let low = j < 8 ? Int(sc[j] & 0xF) : Int(sc[j - 8] >> 4)
                    let s = (low | Int((sc[8 + j % 4] >> UInt8(2 * (j / 4))) & 3) << 4) - 32
                    let dl = d.value * Float(s)
                    if dl == 0 { continue }
                    for ii in 0..<16 {
                        L[16 * j + ii] = Int8(clamp(nearestInt(x[16 * j + ii] / dl), -4, 3) + 4)
                    }
                }
                let hmask = y
                for j in 0..<32 { hmask[j] = 0 }
                var m = 0
                var hm: UInt8 = 1
                for j in 0..<256 {
                    if L[j] > 3 {
                        hmask[m] |= hm
                        L[j] -= 4
                    }
                    m += 1
                    if m == 32 { m = 0; hm <<= 1 }
                }
                L.withMemoryRebound(to: UInt8.self, capacity: 256) { pack2($0, y + 32) }
            }
        }
    }

    /// The 6-bit scales and mins of a Q4_K/Q5_K super-block: `scales[j]` / `mins[j]` quantized
    /// against the largest of each and packed into 12 bytes at `sc`; returns the stored halves.
    @inline(__always) static func packScaleMins(_ scales: UnsafePointer<Float>, _ mins: UnsafePointer<Float>,
                                                maxScale: Float, maxMin: Float, _ sc: UnsafeMutablePointer<UInt8>)
        -> (d: (bits: UInt16, value: Float), dmin: (bits: UInt16, value: Float)) {
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        for j in 0..<8 {
            let ls = Swift.min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j])))
            let lm = Swift.min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j])))
            if j < 4 {
                sc[j] = ls
                sc[j + 4] = lm
            } else {
                sc[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
                sc[j - 4] |= (ls >> 4) << 6
                sc[j] |= (lm >> 4) << 6
            }
        }
        return (roundedHalf(maxScale / 63), roundedHalf(maxMin / 63))
    }

    /// ggml's `get_scale_min_k4` on packed bytes.
    @inline(__always) static func scaleMinK4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    /// The codes of Q4_K (nmax 15) or Q5_K (nmax 31) into L, writing d, dmin and scales at `y`.
    @inline(__always) static func kQuantAsymmetric(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt8>, _ L: UnsafeMutablePointer<UInt8>,
                                                   nmax: Int, rmin: Float, nstep: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 + 8 + 8) { f in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { aux in
                let weights = f.baseAddress!, mins = weights + 32, scales = mins + 8
                var maxScale: Float = 0, maxMin: Float = 0
                for j in 0..<8 {
                    var sumX2: Float = 0
                    for l in 0..<32 { sumX2 += x[32 * j + l] * x[32 * j + l] }
                    let avX = (sumX2 / 32).squareRoot()
                    for l in 0..<32 { weights[l] = avX + Swift.abs(x[32 * j + l]) }
                    scales[j] = makeQKX2Quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], aux.baseAddress!,
                                               rmin: rmin, rdelta: 0.1, nstep: nstep, useMad: false)
                    if scales[j] > maxScale { maxScale = scales[j] }
                    if mins[j] > maxMin { maxMin = mins[j] }
                }
                let (d, dmin) = packScaleMins(scales, mins, maxScale: maxScale, maxMin: maxMin, y + 4)
                UnsafeMutableRawPointer(y).storeBytes(of: d.bits, toByteOffset: 0, as: UInt16.self)
                UnsafeMutableRawPointer(y).storeBytes(of: dmin.bits, toByteOffset: 2, as: UInt16.self)
                for j in 0..<8 {
                    let (sc, m) = scaleMinK4(j, y + 4)
                    let dl = d.value * Float(sc)
                    if dl == 0 { continue }
                    let dm = dmin.value * Float(m)
                    for ii in 0..<32 {
                        L[32 * j + ii] = UInt8(truncatingIfNeeded: clamp(nearestInt((x[32 * j + ii] + dm) / dl), 0, nmax))
                    }
                }
            }
        }
    }

    /// Q4_K (144 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles).
    static func q4_K(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        let y = p.bindMemory(to: UInt8.self, capacity: 144)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { l in
            let L = l.baseAddress!
            kQuantAsymmetric(x, y, L, nmax: 15, rmin: -1, nstep: 20)
            var q = y + 16
            for j in stride(from: 0, to: 256, by: 64) {
                for i in 0..<32 { q[i] = L[j + i] | (L[j + i + 32] << 4) }
                q += 32
            }
        }
    }

    /// Q5_K (176 bytes: f16 d, f16 dmin, 12 bytes of scales/mins, 32 bytes of fifth bits, 128 of nibbles).
    static func q5_K(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        let y = p.bindMemory(to: UInt8.self, capacity: 176)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { l in
            let L = l.baseAddress!
            kQuantAsymmetric(x, y, L, nmax: 31, rmin: -0.5, nstep: 15)
            let qh = y + 16
            var ql = y + 48
            for j in 0..<32 { qh[j] = 0 }
            var m1: UInt8 = 1, m2: UInt8 = 2
            for n in stride(from: 0, to: 256, by: 64) {
                for j in 0..<32 {
                    var l1 = L[n + j]
                    if l1 > 15 { l1 -= 16; qh[j] |= m1 }
                    var l2 = L[n + j + 32]
                    if l2 > 15 { l2 -= 16; qh[j] |= m2 }
                    ql[j] = l1 | (l2 << 4)
                }
                m1 <<= 2; m2 <<= 2
                ql += 32
            }
        }
    }

    /// Q6_K (210 bytes: 128 bytes of low nibbles, 64 bytes of high 2 bits, 16 int8 scales, f16 d).
    static func q6_K(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        let y = p.bindMemory(to: UInt8.self, capacity: 210)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { f in
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { l8 in
                let scales = f.baseAddress!, L = l8.baseAddress!
                var maxScale: Float = 0, maxAbs: Float = 0
                for ib in 0..<16 {
                    let s = makeQXQuants(16, 32, x + 16 * ib, L + 16 * ib)
                    scales[ib] = s
                    if Swift.abs(s) > maxAbs { maxAbs = Swift.abs(s); maxScale = s }
                }
                if maxAbs < groupMaxEps {
                    for i in 0..<210 { y[i] = 0 }
                    return
                }
                let iscale = -128 / maxScale
                let d = roundedHalf(1 / iscale)
                p.storeBytes(of: d.bits, toByteOffset: 208, as: UInt16.self)
                let sc = y + 192  // int8 scales, stored as their bit patterns
                for ib in 0..<16 { sc[ib] = UInt8(truncatingIfNeeded: Swift.min(127, nearestInt(iscale * scales[ib]))) }
                for j in 0..<16 {
                    let dl = d.value * Float(Int8(bitPattern: sc[j]))
                    if dl == 0 { continue }
                    for ii in 0..<16 {
                        L[16 * j + ii] = Int8(clamp(nearestInt(x[16 * j + ii] / dl), -32, 31) + 32)
                    }
                }
                let bytes = UnsafeMutableRawPointer(y)
                var ql = 0, qh = 128
                for j in stride(from: 0, to: 256, by: 128) {
                    for l in 0..<32 {
                        let a = UInt8(bitPattern: L[j + l]), b = UInt8(bitPattern: L[j + l + 32])
                        let c = UInt8(bitPattern: L[j + l + 64]), e = UInt8(bitPattern: L[j + l + 96])
                        bytes.storeBytes(of: (a & 0xF) | ((c & 0xF) << 4), toByteOffset: ql + l, as: UInt8.self)
                        bytes.storeBytes(of: (b & 0xF) | ((e & 0xF) << 4), toByteOffset: ql + l + 32, as: UInt8.self)
                        bytes.storeBytes(of: (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6), toByteOffset: qh + l, as: UInt8.self)
                    }
                    ql += 64
                    qh += 32
                }
            }
        }
    }
}
