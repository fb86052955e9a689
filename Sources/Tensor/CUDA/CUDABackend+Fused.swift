/// The fused transformer-block ops as single kernels (or one cuBLASLt call for `linearGeluTanh`).
extension CUDABackend {
    /// (B, D) parameter rows: pointer plus row stride; the last dim must be unit-stride.
    private func paramRows(_ p: Tensor) -> (Tensor, Int) {
        let c = p.strides[1] == 1 ? p : contiguous(p)
        return (c, c.shape[0] == 1 ? 0 : c.strides[0])
    }

    public func modulatedLayerNorm(_ x: Tensor, shift: Tensor, scale: Tensor, eps: Float) -> Tensor {
        modulatedLayerNorm(x, shift: shift, scale: scale, eps: eps, partialMaxima: false).y
    }

    /// The modulated LayerNorm; with `partialMaxima`, where the bf16 vector kernel runs, also f32
    /// partial maxima of |y| (at most `maxAmaxParts` values, whose max is y's amax: the input of
    /// `quantizeTensorE4M3(_:partialMaxima:)`), nil elsewhere.
    func modulatedLayerNorm(_ x: Tensor, shift: Tensor, scale: Tensor, eps: Float, partialMaxima: Bool) -> (y: Tensor, parts: Tensor?) {
        let xc = x.contiguous()
        let (b, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        let out = empty(x.shape, computeDType)
        if x.count == 0 { return (out, nil) }
        var (sh, st) = paramRows(shift)
        var (sc, sct) = paramRows(scale)
        if st != sct || sh.dtype != sc.dtype {
            sh = contiguous(shift.to(computeDType)); sc = contiguous(scale.to(computeDType)); st = d; sct = d
        }
        if xc.dtype == .bf16, out.dtype == .bf16, sh.dtype == .bf16, d % 8 == 0, d / 8 <= 1024, st % 8 == 0,
           address(xc) % 16 == 0, address(sh) % 16 == 0, address(sc) % 16 == 0 {
            var a = KernelArgs()
            a.ptr(xc); a.ptr(sh); a.ptr(sc); a.i64(st); a.ptr(out); a.i32(d / 8); a.i64(l); a.f32(eps)
            let threads = (d / 8 + 31) / 32 * 32
            if !partialMaxima {
                launch("mod_layernorm_bf16", grid: (b * l, 1, 1), block: threads, a)
                return (out, nil)
            }
            // A few rows per block above `maxAmaxParts` rows: every block of the quantise pass reads all parts.
            let rows = b * l, perBlock = (rows + Self.maxAmaxParts - 1) / Self.maxAmaxParts
            let blocks = (rows + perBlock - 1) / perBlock
            let parts = empty([blocks], .f32)
            a.i64(rows); a.i32(perBlock); a.ptr(parts)
            launch("mod_layernorm_bf16_amax", grid: (blocks, 1, 1), block: threads, a)
            return (out, parts)
        }
        var a = KernelArgs()
        a.ptr(xc); a.dtype(xc.dtype); a.ptr(sh); a.ptr(sc); a.dtype(sh.dtype); a.i64(st)
        a.ptr(out); a.dtype(out.dtype); a.i64(d); a.i64(l); a.f32(eps)
        launch("mod_layernorm", grid: (b * l, 1, 1), block: Self.rowBlock(d), a)
        return (out, nil)
    }

    /// The modulated LayerNorm written as e4m3 codes of y * `inverse()[0]` with max |y| folded into
    /// `state[0]` (`mod_layernorm_bf16_e4m3`, a delayed scale: CUDABackend+FP8Delayed.swift). nil (nothing
    /// queued, `inverse` not called) where the bf16 vector kernel does not apply.
    func modulatedLayerNormE4M3Codes(_ x: Tensor, shift: Tensor, scale: Tensor, eps: Float, state: Tensor,
                                     inverse: () -> Tensor) -> Tensor? {
        let (b, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        let (sh, st) = paramRows(shift), (sc, sct) = paramRows(scale)
        guard x.count > 0, x.dtype == .bf16, st == sct, sh.dtype == .bf16, sc.dtype == .bf16, d % 8 == 0, d / 8 <= 1024, st % 8 == 0,
              hasFunction("mod_layernorm_bf16_e4m3") else { return nil }
        let xc = x.contiguous()
        guard address(xc) % 16 == 0, address(sh) % 16 == 0, address(sc) % 16 == 0 else { return nil }
        let codes = empty([b * l, d], .f8e4m3fn)
        let rows = b * l, perBlock = (rows + Self.maxAmaxParts - 1) / Self.maxAmaxParts
        var a = KernelArgs()
        a.ptr(xc); a.ptr(sh); a.ptr(sc); a.i64(st); a.ptr(codes); a.i32(d / 8); a.i64(l); a.f32(eps)
        a.i64(rows); a.i32(perBlock); a.ptr(inverse()); a.ptr(state)
        launch("mod_layernorm_bf16_e4m3", grid: ((rows + perBlock - 1) / perBlock, 1, 1), block: (d / 8 + 31) / 32 * 32, a)
        return codes
    }

    /// The most partial maxima a producer writes for the per-tensor quantise pass.
    static var maxAmaxParts: Int { 2048 }

    public func gatedResidual(_ x: Tensor, _ y: Tensor, gate: Tensor) -> Tensor {
        let xc = x.contiguous(), yc = y.contiguous()
        let (l, d) = (x.shape[1], x.shape[2])
        let out = empty(x.shape, computeDType)
        if x.count == 0 { return out }
        let (g, gs) = paramRows(gate)
        if xc.dtype == .bf16, yc.dtype == .bf16, g.dtype == .bf16, out.dtype == .bf16, d % 8 == 0, gs % 8 == 0,
           address(xc) % 16 == 0, address(yc) % 16 == 0, address(g) % 16 == 0, x.count < Int(Int32.max) {
            var a = KernelArgs()
            a.ptr(xc); a.ptr(yc); a.ptr(g); a.i64(gs); a.ptr(out); a.i32(d / 8); a.i32(l); a.i64(x.count / 8)
            launch("gated_residual_bf16", grid: gridFor(x.count / 8), block: 256, a)
            return out
        }
        var a = KernelArgs()
        a.ptr(xc); a.dtype(xc.dtype); a.ptr(yc); a.dtype(yc.dtype); a.ptr(g); a.dtype(g.dtype); a.i64(gs)
        a.ptr(out); a.dtype(out.dtype); a.i64(d); a.i64(l); a.i64(x.count)
        launch("gated_residual", grid: gridFor(x.count), block: 256, a)
        return out
    }

    public func linearGeluTanh(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        linear(x, weight: weight, bias: bias, gelu: true)
    }

    public func concatLinearGeluTanh(_ prefix: Tensor, _ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        let p = prefix.shape[prefix.rank - 1], n = weight.shape[0]
        let out = empty(Array(prefix.shape.dropLast()) + [p + n], computeDType)
        if out.count == 0 { return out }
        copy(prefix.dtype == computeDType ? prefix : convert(prefix, to: computeDType), into: out.slice(dim: out.rank - 1, start: 0, end: p))
        linear(x, weight: weight, bias: bias, gelu: true, into: out.slice(dim: out.rank - 1, start: p), ldc: p + n)
        return out
    }

    public func qkNormRoPE(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                           cos: Tensor, sin: Tensor, eps: Float) -> (q: Tensor, k: Tensor, v: Tensor) {
        let b = qkv[0].shape[0]
        let d = qkv[0].shape[2] / (3 * heads)
        let total = qkv.reduce(0) { $0 + $1.shape[1] }
        let q = empty([b, heads, total, d], computeDType), k = empty(q.shape, computeDType), v = empty(q.shape, computeDType)
        let c32 = (cos.dtype == .f32 ? cos : convert(cos, to: .f32)).contiguous()
        let s32 = (sin.dtype == .f32 ? sin : convert(sin, to: .f32)).contiguous()
        var pos = 0
        for (i, t0) in qkv.enumerated() {
            let l = t0.shape[1]
            var t = t0
            if t.strides[2] != 1 || !(t.shape[0] == 1 || t.strides[0] == t.strides[1] * l) { t = contiguous(t) }
            let rowStride = t.strides[1]
            let wt = computeDType
            let qw = queryWeights[i].dtype == wt ? queryWeights[i].contiguous() : convert(queryWeights[i], to: wt)
            let kw = keyWeights[i].dtype == wt ? keyWeights[i].contiguous() : convert(keyWeights[i], to: wt)
            if d == 128, t.dtype == .bf16, wt == .bf16, rowStride % 4 == 0, address(t) % 8 == 0,
               address(qw) % 8 == 0, address(kw) % 8 == 0 {
                var a = KernelArgs()
                a.ptr(t); a.i64(rowStride); a.i64(b); a.i64(l); a.i64(heads); a.ptr(qw); a.ptr(kw); a.ptr(c32); a.ptr(s32)
                a.i64(pos); a.ptr(q); a.ptr(k); a.ptr(v); a.i64(total); a.i64(pos); a.f32(eps)
                launch("qk_norm_rope_bf16", grid: ((b * l * heads + 3) / 4, 1, 1), block: 128, a)
                pos += l
                continue
            }
            var a = KernelArgs()
            a.ptr(t); a.dtype(t.dtype); a.i64(rowStride); a.i64(b); a.i64(l); a.i64(heads); a.i64(d)
            a.ptr(qw); a.ptr(kw); a.dtype(wt); a.ptr(c32); a.ptr(s32); a.i64(pos)
            a.ptr(q); a.ptr(k); a.ptr(v); a.dtype(computeDType); a.i64(total); a.i64(pos); a.f32(eps)
            let warps = b * l * heads
            launch("qk_norm_rope", grid: ((warps + 3) / 4, 1, 1), block: 128, a)
            pos += l
        }
        return (q, k, v)
    }

    /// A tensor of uniform random values in [-scale, scale), generated on the device.
    public func randomUniform(_ shape: [Int], dtype: DType, scale: Float, seed: UInt64) -> Tensor {
        let out = empty(shape, dtype)
        if out.count == 0 { return out }
        var a = KernelArgs()
        a.ptr(out); a.dtype(dtype); a.i64(out.count); a.address(seed &* 0x2545F4914F6CDD1D); a.f32(scale)
        launch("fill_uniform", grid: gridFor(out.count), block: 256, a)
        return out
    }
}
