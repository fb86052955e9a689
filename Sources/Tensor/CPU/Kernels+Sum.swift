/// Vectorised reductions over contiguous f32 runs, used by reduce, softmax and the norms.
///
/// Sums are accumulated in blocks: eight f32 lanes add at most `sumBlock / 8` values each, then the
/// block total is added into a Double. The f32 error therefore stays at the level of a 32-term sum no
/// matter how long the run is (a mean over millions of elements keeps ~1e-7 relative accuracy).
enum VectorSum {
    /// Elements per f32 block before the partial sum is moved into the Double accumulator.
    static let sumBlock = 256

    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Adds `f(x)` over a block of at most `sumBlock` elements in f32 (8 lanes, then lanes summed).
    @inline(__always)
    static func blockSum(_ p: UnsafePointer<Float>, _ n: Int,
                         _ f8: (SIMD8<Float>) -> SIMD8<Float>, _ f1: (Float) -> Float) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= n { acc += f8(load8(p + i)); i += 8 }
        var tail: Float = 0
        while i < n { tail += f1(p[i]); i += 1 }
        return acc.sum() + tail
    }

    /// Sum of `p[0..<n]`.
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        var total = 0.0
        var i = 0
        while i < n {
            let m = Swift.min(sumBlock, n - i)
            total += Double(blockSum(p + i, m, { $0 }, { $0 }))
            i += m
        }
        return total
    }

    /// Mean of `p[0..<n]` (n > 0) computed as p[0] + mean(p[i] - p[0]): the f32 blocks then add
    /// deviations instead of the raw values, so rows with a mean far larger than their spread
    /// (where the norms subtract the mean) lose nothing to the block rounding.
    static func shiftedMean(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        let shift = p[0]
        let s8 = SIMD8<Float>(repeating: shift)
        var total = 0.0
        var i = 0
        while i < n {
            let m = Swift.min(sumBlock, n - i)
            total += Double(blockSum(p + i, m, { $0 - s8 }, { $0 - shift }))
            i += m
        }
        return Double(shift) + total / Double(n)
    }

    /// Sum of squares of `p[0..<n]`.
    static func sumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        var total = 0.0
        var i = 0
        while i < n {
            let m = Swift.min(sumBlock, n - i)
            total += Double(blockSum(p + i, m, { $0 * $0 }, { $0 * $0 }))
            i += m
        }
        return total
    }

    /// Sum of (p[i] - mean)^2 over `p[0..<n]` (second pass of a two-pass variance). The mean comes as
    /// an f32 pair `meanHigh + meanLow` (see `splitMean`), so a large mean does not cost accuracy.
    static func sumOfSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, meanHigh: Float, meanLow: Float) -> Double {
        var total = 0.0
        let h8 = SIMD8<Float>(repeating: meanHigh), l8 = SIMD8<Float>(repeating: meanLow)
        var i = 0
        while i < n {
            let m = Swift.min(sumBlock, n - i)
            total += Double(blockSum(p + i, m, { let d = ($0 - h8) - l8; return d * d },
                                     { let d = ($0 - meanHigh) - meanLow; return d * d }))
            i += m
        }
        return total
    }

    /// A Double mean as an f32 pair (high, low) with high + low ~ mean to ~2^-48 relative. For data
    /// near the mean, (x - high) is exact (Sterbenz), so (x - high) - low is an accurate deviation.
    @inline(__always)
    static func splitMean(_ mean: Double) -> (Float, Float) {
        let high = Float(mean)
        return (high, Float(mean - Double(high)))
    }

    /// Sum of a strided run `p[0], p[s], ..., p[(n-1)s]`.
    static func stridedSum(_ p: UnsafePointer<Float>, _ n: Int, _ s: Int) -> Double {
        var total = 0.0
        var i = 0
        while i < n {
            let m = Swift.min(sumBlock, n - i)
            var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
            var k = 0
            while k + 4 <= m {
                a0 += p[(i + k) * s]; a1 += p[(i + k + 1) * s]
                a2 += p[(i + k + 2) * s]; a3 += p[(i + k + 3) * s]
                k += 4
            }
            while k < m { a0 += p[(i + k) * s]; k += 1 }
            total += Double((a0 + a1) + (a2 + a3))
            i += m
        }
        return total
    }

    /// Largest element of `p[0..<n]` with stride `s` (NaN if any element is NaN, like PyTorch).
    static func max(_ p: UnsafePointer<Float>, _ n: Int, _ s: Int) -> Float {
        var m = -Float.infinity
        var nan = false
        if s == 1 {
            var acc = SIMD8<Float>(repeating: -.infinity)
            var i = 0
            var sawNaN = SIMD8<Float>(repeating: 0)
            while i + 8 <= n {
                let v = load8(p + i)
                acc = acc.replacing(with: v, where: v .> acc)
                sawNaN = sawNaN.replacing(with: 1, where: v .!= v)
                i += 8
            }
            m = acc.max()
            nan = sawNaN.max() > 0
            while i < n { let v = p[i]; if v > m { m = v }; if v != v { nan = true }; i += 1 }
        } else {
            for i in 0..<n { let v = p[i * s]; if v > m { m = v }; if v != v { nan = true } }
        }
        return nan ? .nan : m
    }

    /// Smallest element of `p[0..<n]` with stride `s` (NaN if any element is NaN).
    static func min(_ p: UnsafePointer<Float>, _ n: Int, _ s: Int) -> Float {
        var m = Float.infinity
        var nan = false
        if s == 1 {
            var acc = SIMD8<Float>(repeating: .infinity)
            var sawNaN = SIMD8<Float>(repeating: 0)
            var i = 0
            while i + 8 <= n {
                let v = load8(p + i)
                acc = acc.replacing(with: v, where: v .< acc)
                sawNaN = sawNaN.replacing(with: 1, where: v .!= v)
                i += 8
            }
            m = acc.min()
            nan = sawNaN.max() > 0
            while i < n { let v = p[i]; if v < m { m = v }; if v != v { nan = true }; i += 1 }
        } else {
            for i in 0..<n { let v = p[i * s]; if v < m { m = v }; if v != v { nan = true } }
        }
        return nan ? .nan : m
    }
}
