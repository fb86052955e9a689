/// Elementwise kernels over strided views: copies, conversions, unary/binary/affine maps.
extension CUDABackend {
    /// The index description passed to the strided kernels: dims where every operand is contiguous
    /// with its neighbour are merged and size-1 dims dropped, so contiguous tensors index as 1-D.
    /// Operand 0 is the output. At most 6 dims remain (the models need at most 6).
    static func meta(shape: [Int], operands: [Tensor]) -> [Int64] {
        var dims: [(size: Int, strides: [Int])] = []
        for d in 0..<shape.count where shape[d] != 1 {
            dims.append((shape[d], operands.map { $0.strides[d] }))
        }
        var merged: [(size: Int, strides: [Int])] = []
        for d in dims {
            if let last = merged.last, (0..<operands.count).allSatisfy({ last.strides[$0] == d.strides[$0] * d.size }) {
                merged[merged.count - 1] = (last.size * d.size, d.strides)
            } else {
                merged.append(d)
            }
        }
        precondition(merged.count <= 6, "CUDA elementwise kernels support at most 6 non-mergeable dims, got shape \(shape)")
        var m = [Int64](repeating: 0, count: 2 + 6 + 24 + 4)
        m[0] = Int64(merged.count)
        m[1] = Int64(shape.reduce(1, *))
        for (i, d) in merged.enumerated() {
            m[2 + i] = Int64(d.size)
            for k in 0..<operands.count { m[8 + k * 6 + i] = Int64(d.strides[k]) }
        }
        // Offsets are applied to the pointers instead.
        return m
    }

    /// The dtype of a floating result.
    func resultType(_ inputs: DType...) -> DType { computeDType }

    public func contiguous(_ x: Tensor) -> Tensor {
        let out = empty(x.shape, x.dtype)
        copy(x, into: out)
        return out
    }

    /// Copies `x` into the (possibly strided) view `out` of the same shape; converts when dtypes differ.
    public func copy(_ x: Tensor, into out: Tensor) {
        precondition(x.shape == out.shape, "copy: \(x.shape) into \(out.shape)")
        let n = x.count
        if n == 0 { return }
        let m = Self.meta(shape: x.shape, operands: [out, x])
        if x.dtype == out.dtype, copyRows(m, x, out) { return }
        var a = KernelArgs()
        a.raw(m)
        if x.dtype == out.dtype {
            a.ptr(x); a.ptr(out); a.i32(x.dtype.byteSize)
            launch("ew_copy", grid: gridFor(n), block: 256, a)
        } else {
            a.ptr(x); a.dtype(x.dtype); a.ptr(out); a.dtype(out.dtype)
            launch("ew_convert", grid: gridFor(n), block: 256, a)
        }
    }

    /// A same-dtype copy whose (coalesced) layout is rows of unit-stride elements, 16 bytes at a time.
    private func copyRows(_ m: [Int64], _ x: Tensor, _ out: Tensor) -> Bool {
        let rank = Int(m[0]), e = Int64(x.dtype.byteSize)
        guard rank == 1 || rank == 2 else { return false }
        let inner = rank - 1
        guard m[8 + inner] == 1, m[8 + 6 + inner] == 1 else { return false }  // unit inner strides
        let colsBytes = m[2 + inner] * e
        let rows = rank == 2 ? m[2] : 1
        let dstRow = rank == 2 ? m[8] * e : colsBytes, srcRow = rank == 2 ? m[8 + 6] * e : colsBytes
        guard colsBytes % 16 == 0, dstRow % 16 == 0, srcRow % 16 == 0, address(x) % 16 == 0, address(out) % 16 == 0,
              colsBytes / 16 < Int64(Int32.max) else { return false }
        let n = Int(rows * colsBytes / 16)
        var a = KernelArgs()
        a.ptr(x); a.i64(Int(srcRow / 16)); a.ptr(out); a.i64(Int(dstRow / 16)); a.i32(Int(colsBytes / 16)); a.i64(n)
        launch("copy_rows16", grid: gridFor(n), block: 256, a)
        return true
    }

    public func convert(_ x: Tensor, to dtype: DType) -> Tensor {
        let out = empty(x.shape, dtype)
        copy(x, into: out)
        return out
    }

    public func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
        let out = empty(x.shape, resultType(x.dtype))
        if x.count == 0 { return out }
        var a = KernelArgs()
        a.raw(Self.meta(shape: x.shape, operands: [out, x]))
        a.i32(UnaryOp.allCases.firstIndex(of: op)!)
        a.ptr(x); a.dtype(x.dtype); a.ptr(out); a.dtype(out.dtype)
        launch("ew_unary", grid: gridFor(x.count), block: 256, a)
        return out
    }

    public func binary(_ op: BinaryOp, _ x: Tensor, _ y: Tensor) -> Tensor {
        let out = empty(x.shape, resultType(x.dtype, y.dtype))
        let n = x.count
        if n == 0 { return out }
        if op == .add, out.dtype == .bf16, x.dtype == .bf16, y.dtype == .bf16, x.isContiguous, y.isContiguous,
           n % 8 == 0, (x.offset % 8) == 0, (y.offset % 8) == 0 {
            var a = KernelArgs()
            a.ptr(x); a.ptr(y); a.ptr(out); a.i64(n / 8)
            launch("bf16_add_vec", grid: gridFor(n / 8), block: 256, a)
            return out
        }
        var a = KernelArgs()
        a.raw(Self.meta(shape: x.shape, operands: [out, x, y]))
        a.i32(BinaryOp.allCases.firstIndex(of: op)!)
        a.ptr(x); a.dtype(x.dtype); a.ptr(y); a.dtype(y.dtype); a.ptr(out); a.dtype(out.dtype)
        launch("ew_binary", grid: gridFor(n), block: 256, a)
        return out
    }

    public func affine(_ x: Tensor, scale: Float, shift: Float) -> Tensor {
        let out = empty(x.shape, resultType(x.dtype))
        if x.count == 0 { return out }
        var a = KernelArgs()
        a.raw(Self.meta(shape: x.shape, operands: [out, x]))
        a.f32(scale); a.f32(shift)
        a.ptr(x); a.dtype(x.dtype); a.ptr(out); a.dtype(out.dtype)
        launch("ew_affine", grid: gridFor(x.count), block: 256, a)
        return out
    }

    public func upsampleNearest2x(_ x: Tensor) -> Tensor {
        let c = x.contiguous()
        let (n, ch, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let out = empty([n, ch, 2 * h, 2 * w], x.dtype)
        if out.count == 0 { return out }
        var a = KernelArgs()
        a.ptr(c); a.ptr(out); a.i64(n * ch); a.i64(h); a.i64(w); a.i32(x.dtype.byteSize)
        launch("upsample2x", grid: gridFor(out.count), block: 256, a)
        return out
    }

    public func embedding(_ table: Tensor, indices: Tensor) -> Tensor {
        let t = table.contiguous(), idx = indices.contiguous()
        let d = table.shape[1]
        let out = empty(indices.shape + [d], resultType(table.dtype))
        if indices.count == 0 || d == 0 { return out }
        var a = KernelArgs()
        a.ptr(t); a.dtype(t.dtype); a.ptr(idx); a.dtype(idx.dtype); a.ptr(out); a.dtype(out.dtype); a.i64(d); a.i64(table.shape[0])
        launch("embedding_rows", grid: (indices.count, 1, 1), block: 128, a)
        return out
    }

    public func concat(_ xs: [Tensor], dim: Int) -> Tensor {
        var shape = xs[0].shape
        shape[dim] = xs.reduce(0) { $0 + $1.shape[dim] }
        let out = empty(shape, xs[0].dtype)
        var start = 0
        for x in xs {
            let len = x.shape[dim]
            if len > 0 { copy(x, into: out.slice(dim: dim, start: start, end: start + len)) }
            start += len
        }
        return out
    }
}
