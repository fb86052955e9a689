/// Reductions (sum, mean, max, min over any set of dims) and softmax.
///
/// Sums accumulate in blocks of f32 lanes folded into Double (`VectorSum`), so long sums and means
/// stay accurate. Results are f32.
extension CPUBackend {
    public func reduce(_ op: ReduceOp, _ x: Tensor, dims: [Int], keepDims: Bool) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("reduce", profileStart) }
        let rank = x.rank
        let reduced = Set(dims)
        precondition(dims.allSatisfy { $0 >= 0 && $0 < rank } && reduced.count == dims.count,
                     "reduce \(op): dims \(dims) must be distinct and inside rank \(rank)")
        let xf = floatView(x)
        let red = (0..<rank).filter { reduced.contains($0) }
        let kept = (0..<rank).filter { !reduced.contains($0) }
        let outShape = keepDims ? (0..<rank).map { reduced.contains($0) ? 1 : x.shape[$0] } : kept.map { x.shape[$0] }
        let out = empty(outShape, .f32)
        let nOut = kept.reduce(1) { $0 * x.shape[$1] }
        let nRed = red.reduce(1) { $0 * x.shape[$1] }
        if nOut == 0 { return out }
        let dst = floatPointer(out)
        if nRed == 0 {
            precondition(op == .sum || op == .mean, "reduce \(op): cannot reduce an empty dimension of shape \(x.shape)")
            dst.initialize(repeating: op == .sum ? 0 : .nan, count: nOut)
            return out
        }
        let src = UnsafePointer(floatPointer(xf))
        let keptWalk = StridedWalk(shape: kept.map { xf.shape[$0] }, kept.map { xf.strides[$0] })
        let redWalk = StridedWalk(shape: red.map { xf.shape[$0] }, red.map { xf.strides[$0] })

        if keptWalk.innerStrideA == 1 && redWalk.innerStrideA != 1 && nOut > 1 {
            // The kept inner dim is contiguous and the reduced one is not (e.g. sum over dim 0 of
            // (N, D)): accumulate whole kept rows at a time, streaming through memory.
            reduceColumns(op, src, dst, keptWalk, redWalk, nOut: nOut, nRed: nRed)
            return out
        }
        // One output at a time over its (possibly strided) reduced elements.
        let ks = keptWalk.innerStrideA
        parallel.forEach(nOut, grain: Swift.max(1, 16384 / nRed)) { r in
            keptWalk.forEachRun(r) { offK, _, oi, len in
                for j in 0..<len {
                    dst[oi + j] = Self.reduceOne(op, src + offK + j * ks, redWalk, nRed)
                }
            }
        }
        return out
    }

    /// Reduces the elements `walk` describes, starting at `p`.
    static func reduceOne(_ op: ReduceOp, _ p: UnsafePointer<Float>, _ walk: StridedWalk, _ n: Int) -> Float {
        let s = walk.innerStrideA
        switch op {
        case .sum, .mean:
            var total = 0.0
            if walk.shape.count == 1 {
                total = s == 1 ? VectorSum.sum(p, n) : VectorSum.stridedSum(p, n, s)
            } else {
                walk.forEachRun(0..<n) { off, _, _, len in
                    total += s == 1 ? VectorSum.sum(p + off, len) : VectorSum.stridedSum(p + off, len, s)
                }
            }
            return Float(op == .mean ? total / Double(n) : total)
        case .max:
            if walk.shape.count == 1 { return VectorSum.max(p, n, s) }
            var m = -Float.infinity
            walk.forEachRun(0..<n) { off, _, _, len in
                let v = VectorSum.max(p + off, len, s)
                if v > m || v != v { m = v }
            }
            return m
        case .min:
            if walk.shape.count == 1 { return VectorSum.min(p, n, s) }
            var m = Float.infinity
            walk.forEachRun(0..<n) { off, _, _, len in
                let v = VectorSum.min(p + off, len, s)
                if v < m || v != v { m = v }
            }
            return m
        }
    }

    /// Reduction where the kept inner dim is contiguous: for each run of kept outputs, add (or max)
    /// whole rows over the reduced elements into a row accumulator.
    private func reduceColumns(_ op: ReduceOp, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                               _ keptWalk: StridedWalk, _ redWalk: StridedWalk, nOut: Int, nRed: Int) {
        let rs = redWalk.innerStrideA
        parallel.forEach(nOut, grain: Swift.max(1, 16384 / nRed)) { r in
            keptWalk.forEachRun(r) { offK, _, oi, len in
                let d = dst + oi
                switch op {
                case .sum, .mean:
                    var acc = [Double](repeating: 0, count: len)
                    acc.withUnsafeMutableBufferPointer { a in
                        let acc = a.baseAddress!
                        redWalk.forEachRun(0..<nRed) { offR, _, _, rlen in
                            for k in 0..<rlen {
                                let row = src + offK + offR + k * rs
                                for j in 0..<len { acc[j] += Double(row[j]) }
                            }
                        }
                        let scale = op == .mean ? 1 / Double(nRed) : 1
                        for j in 0..<len { d[j] = Float(acc[j] * scale) }
                    }
                case .max, .min:
                    let isMax = op == .max
                    d.initialize(repeating: isMax ? -.infinity : .infinity, count: len)
                    var nan = false
                    redWalk.forEachRun(0..<nRed) { offR, _, _, rlen in
                        for k in 0..<rlen {
                            let row = src + offK + offR + k * rs
                            if isMax {
                                for j in 0..<len { let v = row[j]; d[j] = v > d[j] ? v : d[j] }
                            } else {
                                for j in 0..<len { let v = row[j]; d[j] = v < d[j] ? v : d[j] }
                            }
                            for j in 0..<len where row[j] != row[j] { nan = true }
                        }
                    }
                    if nan {
                        // Rare: redo the NaN-carrying columns exactly.
                        for j in 0..<len {
                            var hasNaN = false
                            redWalk.forEachRun(0..<nRed) { offR, _, _, rlen in
                                for k in 0..<rlen where src[offK + offR + k * rs + j] != src[offK + offR + k * rs + j] { hasNaN = true }
                            }
                            if hasNaN { d[j] = .nan }
                        }
                    }
                }
            }
        }
    }

    public func softmax(_ x: Tensor, dim: Int) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("softmax", profileStart) }
        precondition(dim >= 0 && dim < Swift.max(x.rank, 1), "softmax: dim \(dim) out of range for shape \(x.shape)")
        let xf = contiguousFloats(x)
        let out = empty(x.shape, .f32)
        if x.count == 0 { return out }
        let shape = x.shape.isEmpty ? [1] : x.shape
        let n = shape[dim]
        let inner = shape[(dim + 1)...].reduce(1, *)
        let outer = shape[..<dim].reduce(1, *)
        let src = UnsafePointer(floatPointer(xf)), dst = floatPointer(out)
        if inner == 1 {
            parallel.forEach(outer, grain: Swift.max(1, 16384 / n)) { r in
                for row in r { Self.softmaxRow(src + row * n, dst + row * n, n) }
            }
            return out
        }
        // Softmax across rows of an (n, inner) block: vector ops along the contiguous inner dim.
        parallel.forEach(outer, grain: Swift.max(1, 16384 / (n * inner))) { r in
            var sums = [Double](repeating: 0, count: inner)
            sums.withUnsafeMutableBufferPointer { sb in
                let sum = sb.baseAddress!
                for o in r {
                    let s = src + o * n * inner, d = dst + o * n * inner
                    // d's first row holds the running max, then every row becomes exp(x - max).
                    d.update(from: s, count: inner)
                    for k in 1..<n {
                        let row = s + k * inner
                        for j in 0..<inner { let v = row[j]; d[j] = (v > d[j] || v != v) ? v : d[j] }
                    }
                    let mx = [Float](UnsafeBufferPointer(start: d, count: inner))
                    mx.withUnsafeBufferPointer { m in
                        for j in 0..<inner { sum[j] = 0 }
                        for k in 0..<n {
                            let row = s + k * inner, drow = d + k * inner
                            for j in 0..<inner {
                                let e = FastMath.exp(row[j] - m[j])
                                drow[j] = e
                                sum[j] += Double(e)
                            }
                        }
                    }
                    for j in 0..<inner { sum[j] = 1 / sum[j] }
                    for k in 0..<n {
                        let drow = d + k * inner
                        for j in 0..<inner { drow[j] = Float(Double(drow[j]) * sum[j]) }
                    }
                }
            }
        }
        return out
    }

    /// Numerically stable softmax of one contiguous row.
    static func softmaxRow(_ s: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
        let m = VectorSum.max(s, n, 1)
        for i in 0..<n { d[i] = FastMath.exp(s[i] - m) }
        let inv = Float(1 / VectorSum.sum(d, n))
        for i in 0..<n { d[i] *= inv }
    }
}
