/// Small helpers shared by the CPU matmul, linear, conv and attention kernels.
enum LinalgKernels {
    /// `x` as f32 (a converted contiguous copy for other float dtypes, `x` itself for f32).
    static func f32(_ x: Tensor) -> Tensor {
        precondition(x.dtype.isFloatingPoint, "expected a floating-point tensor, got \(x.dtype) \(x.shape)")
        return x.dtype == .f32 ? x : CPUBackend.shared.convert(x, to: .f32)
    }

    /// Typed pointer to element [0, 0, ...] of an f32 tensor.
    @inline(__always)
    static func pointer(_ x: Tensor) -> UnsafeMutablePointer<Float> {
        x.rawPointer.assumingMemoryBound(to: Float.self)
    }

    /// Element offsets of every index of `shape` (row-major order) under `strides`.
    /// Used for batch dimensions only (one entry per matrix, never per element).
    static func offsets(shape: [Int], strides: [Int]) -> [Int] {
        let n = shape.reduce(1, *)
        var result = [Int](repeating: 0, count: n)
        if n == 0 || shape.isEmpty { return result }
        var idx = [Int](repeating: 0, count: shape.count)
        var off = 0
        for i in 0..<n {
            result[i] = off
            var d = shape.count - 1
            while d >= 0 {
                idx[d] += 1
                off += strides[d]
                if idx[d] < shape[d] { break }
                off -= strides[d] * shape[d]
                idx[d] = 0
                d -= 1
            }
        }
        return result
    }

    /// Writes `bias[0..<n]` into each of `rows` rows of `c` (row stride `ldc`), or zeros when nil.
    /// A following GEMM with beta = 1 then adds the product: one pass over the output.
    static func fillRows(_ c: UnsafeMutablePointer<Float>, rows: Int, n: Int, ldc: Int, bias: UnsafePointer<Float>?) {
        Parallel.forEach(rows, grain: max(1, 32768 / max(n, 1))) { r in
            for i in r {
                let row = c + i * ldc
                if let bias { row.update(from: bias, count: n) } else { row.update(repeating: 0, count: n) }
            }
        }
    }

    /// exp(x) for 8 lanes: Cephes-style range reduction and degree-5 polynomial (max relative error
    /// about 2 ulp over the normal range). Inputs below -87.3 give exactly 0 (so -inf masks give 0),
    /// inputs above 88 are clamped to 88. Built only from plain SIMD arithmetic and bit casts, which stay
    /// vectorised at the default x86-64 (SSE2) target; `Float.rounded` or `fma` would not.
    @inline(__always)
    static func exp8(_ input: SIMD8<Float>) -> SIMD8<Float> {
        let hi = SIMD8<Float>(repeating: 88.0)
        let lo = SIMD8<Float>(repeating: -87.33654)
        var x = input.replacing(with: hi, where: input .> hi)
        let underflow = x .< lo
        x = x.replacing(with: lo, where: underflow)
        // n = round(x / ln 2) through the 1.5 * 2^23 trick (adds then subtracts, exact for |n| < 2^22).
        let magic = SIMD8<Float>(repeating: 12582912.0)
        let t = x * SIMD8<Float>(repeating: 1.44269504088896341) + magic
        let n = t - magic
        // r = x - n ln 2 in two parts for accuracy.
        var r = x - n * SIMD8<Float>(repeating: 0.693359375)
        r = r - n * SIMD8<Float>(repeating: -2.12194440e-4)
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + SIMD8<Float>(repeating: 1.3981999507e-3)
        p = p * r + SIMD8<Float>(repeating: 8.3334519073e-3)
        p = p * r + SIMD8<Float>(repeating: 4.1665795894e-2)
        p = p * r + SIMD8<Float>(repeating: 1.6666665459e-1)
        p = p * r + SIMD8<Float>(repeating: 5.0000001201e-1)
        let er = p * (r * r) + r + SIMD8<Float>(repeating: 1)
        // 2^n: the integer n sits in the low mantissa bits of t.
        let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let scaleBits = (ni &+ SIMD8<Int32>(repeating: 127)) &<< SIMD8<Int32>(repeating: 23)
        // n is in -126...127 after the clamps, so 2^n is a normal float.
        let result = er * unsafeBitCast(scaleBits, to: SIMD8<Float>.self)
        return result.replacing(with: 0, where: underflow)
    }

    /// Scalar exp with the same formula as `exp8` (for row tails).
    @inline(__always)
    static func exp1(_ x: Float) -> Float {
        exp8(SIMD8<Float>(repeating: x))[0]
    }

    /// In-place stable softmax numerator of one score row: adds `mask` (element stride `maskStride`,
    /// nil = none), subtracts the row max, exponentiates, and returns the sum of the exponentials.
    /// A row whose entries are all -inf becomes all zeros and returns 0.
    @inline(__always)
    static func softmaxRowUnnormalised(_ s: UnsafeMutablePointer<Float>, count n: Int,
                                       mask: UnsafePointer<Float>?, maskStride: Int) -> Float {
        // Pass 1: add the mask, find the max.
        var vmax = SIMD8<Float>(repeating: -.infinity)
        var m = -Float.infinity
        var i = 0
        if let mask, maskStride == 1 {
            while i + 8 <= n {
                let v = UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self)
                    + UnsafeRawPointer(mask + i).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(s + i).storeBytes(of: v, as: SIMD8<Float>.self)
                vmax = pointwiseMax(vmax, v)
                i += 8
            }
            while i < n { s[i] += mask[i]; m = Swift.max(m, s[i]); i += 1 }
        } else {
            if let mask { for j in 0..<n { s[j] += mask[j * maskStride] } }
            while i + 8 <= n {
                vmax = pointwiseMax(vmax, UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self))
                i += 8
            }
            while i < n { m = Swift.max(m, s[i]); i += 1 }
        }
        m = Swift.max(m, vmax.max())
        if m == -.infinity {
            s.update(repeating: 0, count: n)
            return 0
        }
        // Pass 2: exponentiate and sum.
        let vm = SIMD8<Float>(repeating: m)
        var vsum = SIMD8<Float>(repeating: 0)
        i = 0
        while i + 8 <= n {
            let e = exp8(UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self) - vm)
            UnsafeMutableRawPointer(s + i).storeBytes(of: e, as: SIMD8<Float>.self)
            vsum += e
            i += 8
        }
        var sum = vsum.sum()
        while i < n { let e = exp1(s[i] - m); s[i] = e; sum += e; i += 1 }
        return sum
    }
}
