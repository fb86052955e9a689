/// Embedding lookup and concatenation.
extension CPUBackend {
    public func embedding(_ table: Tensor, indices: Tensor) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("embedding", profileStart) }
        precondition(table.rank == 2, "embedding: table must be (V, D), got \(table.shape)")
        precondition(table.dtype.isFloatingPoint, "embedding: table must be floating point, got \(table.dtype)")
        let v = table.shape[0], d = table.shape[1]
        let t = table.contiguous()
        let idx = (indices.dtype == .i32 || indices.dtype == .i64) ? indices.contiguous() : indices.to(.i64).contiguous()
        let out = empty(indices.shape + [d], .f32)
        let n = indices.count
        if n == 0 || d == 0 { return out }
        let dst = floatPointer(out)
        let wide = idx.dtype == .i64
        let p = idx.rawPointer
        parallel.forEach(n, grain: Swift.max(1, 16384 / d)) { r in
            for i in r {
                let k = wide ? Int(p.load(fromByteOffset: i * 8, as: Int64.self))
                             : Int(p.load(fromByteOffset: i * 4, as: Int32.self))
                precondition(k >= 0 && k < v, "embedding: index \(k) out of range for a table of \(v) rows")
                loadFloats(t, range: (k * d)..<(k * d + d), into: dst + i * d)
            }
        }
        return out
    }

    public func concat(_ xs: [Tensor], dim: Int) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("concat", profileStart) }
        precondition(!xs.isEmpty, "concat: no tensors")
        let first = xs[0]
        precondition(dim >= 0 && dim < first.rank, "concat: dim \(dim) out of range for shape \(first.shape)")
        for x in xs {
            precondition(x.dtype == first.dtype, "concat: dtypes differ (\(first.dtype) and \(x.dtype))")
            precondition(x.rank == first.rank && (0..<x.rank).allSatisfy { $0 == dim || x.shape[$0] == first.shape[$0] },
                         "concat along dim \(dim): shapes \(first.shape) and \(x.shape) differ outside that dim")
        }
        var outShape = first.shape
        outShape[dim] = xs.reduce(0) { $0 + $1.shape[dim] }
        let out = empty(outShape, first.dtype)
        let es = first.dtype.byteSize
        let outer = first.shape[..<dim].reduce(1, *)
        let rest = first.shape[(dim + 1)...].reduce(1, *)
        let outRowBytes = outShape[dim] * rest * es
        let dst = out.rawPointer
        var startBytes = 0
        for x in xs {
            let c = x.contiguous()
            let rowBytes = x.shape[dim] * rest * es
            if rowBytes > 0 && outer > 0 {
                let src = UnsafeRawPointer(c.rawPointer)
                let at = startBytes
                parallel.forEach(outer, grain: Swift.max(1, (1 << 18) / rowBytes)) { r in
                    for o in r {
                        (dst + o * outRowBytes + at).copyMemory(from: src + o * rowBytes, byteCount: rowBytes)
                    }
                }
            }
            startBytes += rowBytes
        }
        return out
    }
}
