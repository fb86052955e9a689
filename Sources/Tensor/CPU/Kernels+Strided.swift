/// Row-major walks over strided views without per-element index arrays.
///
/// A `StridedWalk` merges the dimensions of up to two operands that sit back to back in memory for
/// both of them (and drops size-1 dims), so a contiguous tensor becomes one long run, a row-broadcast
/// bias `(N, D) + (D)` becomes N runs with strides (1, 1), and only genuinely strided layouts keep
/// their extra dims. `forEachRun` then hands out maximal runs along the innermost merged dim: the
/// caller's inner loop sees a base offset per operand, a constant stride per operand and a length.
struct StridedWalk {
    /// Merged shape (at least one dim).
    let shape: [Int]
    /// Merged strides of operand a and b (b repeats a's strides for one-operand walks).
    let stridesA: [Int]
    let stridesB: [Int]
    /// Number of elements.
    let count: Int

    /// Walk over `shape` with the element strides of one or two operands.
    init(shape: [Int], _ a: [Int], _ b: [Int]? = nil) {
        let b = b ?? a
        var s: [Int] = [], sa: [Int] = [], sb: [Int] = []
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = s.indices.last, sa[last] == a[d] * shape[d], sb[last] == b[d] * shape[d] {
                // Dim `last` steps exactly over a whole run of dim d for both operands: merge.
                s[last] *= shape[d]
                sa[last] = a[d]
                sb[last] = b[d]
            } else {
                s.append(shape[d]); sa.append(a[d]); sb.append(b[d])
            }
        }
        if s.isEmpty { s = [1]; sa = [1]; sb = [1] }
        self.shape = s
        self.stridesA = sa
        self.stridesB = sb
        self.count = shape.reduce(1, *)
    }

    /// Length of the innermost merged dim.
    var inner: Int { shape[shape.count - 1] }
    /// Inner strides of a and b.
    var innerStrideA: Int { stridesA[stridesA.count - 1] }
    var innerStrideB: Int { stridesB[stridesB.count - 1] }

    /// Calls `body(offsetA, offsetB, outIndex, length)` for the runs covering row-major elements
    /// `range`; `outIndex` is the row-major index of the run's first element, offsets are in elements
    /// relative to each operand's element [0, 0, ...].
    @inline(__always)
    func forEachRun(_ range: Range<Int>, _ body: (Int, Int, Int, Int) -> Void) {
        if range.isEmpty { return }
        let rank = shape.count
        let n = inner
        let isa = innerStrideA, isb = innerStrideB
        // Unravel range.lowerBound.
        var idx = [Int](repeating: 0, count: rank)
        var rem = range.lowerBound
        var offA = 0, offB = 0
        for d in stride(from: rank - 1, through: 0, by: -1) {
            idx[d] = rem % shape[d]
            rem /= shape[d]
            offA += idx[d] * stridesA[d]
            offB += idx[d] * stridesB[d]
        }
        var i = range.lowerBound
        var j = idx[rank - 1]
        while i < range.upperBound {
            let len = Swift.min(n - j, range.upperBound - i)
            body(offA, offB, i, len)
            i += len
            if i >= range.upperBound { break }
            // Next row: back to column 0, then carry through the outer dims.
            offA -= j * isa
            offB -= j * isb
            j = 0
            var d = rank - 2
            while d >= 0 {
                idx[d] += 1
                offA += stridesA[d]
                offB += stridesB[d]
                if idx[d] < shape[d] { break }
                offA -= stridesA[d] * shape[d]
                offB -= stridesB[d] * shape[d]
                idx[d] = 0
                d -= 1
            }
        }
    }
}

extension CPUBackend {
    /// `x` as f32 with the same shape. Broadcast (stride-0) dims are converted once, not per copy:
    /// the compact view under the expansion is converted and then expanded again.
    func floatView(_ x: Tensor) -> Tensor {
        if x.dtype == .f32 { return x }
        var compactShape = x.shape
        for d in 0..<x.rank where x.strides[d] == 0 { compactShape[d] = 1 }
        let compact = Tensor(storage: x.storage, dtype: x.dtype, shape: compactShape, strides: x.strides, offset: x.offset)
        let converted = convert(compact, to: .f32)
        return compactShape == x.shape ? converted : converted.expanded(x.shape)
    }

    /// `x` as a contiguous f32 tensor (no copy when it already is one).
    func contiguousFloats(_ x: Tensor) -> Tensor {
        if x.dtype == .f32 { return x.contiguous() }
        return convert(x, to: .f32)   // convert always produces a contiguous result
    }

    /// Typed pointer to element [0, 0, ...] of an f32 tensor.
    @inline(__always)
    func floatPointer(_ x: Tensor) -> UnsafeMutablePointer<Float> {
        x.rawPointer.assumingMemoryBound(to: Float.self)
    }
}
