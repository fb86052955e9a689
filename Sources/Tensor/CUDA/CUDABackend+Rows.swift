/// Row-wise kernels: reductions, softmax, LayerNorm, RMSNorm, GroupNorm.
extension CUDABackend {
    static func rowBlock(_ cols: Int) -> Int { cols >= 1024 ? 512 : (cols >= 256 ? 256 : 128) }

    public func reduce(_ op: ReduceOp, _ x: Tensor, dims: [Int], keepDims: Bool) -> Tensor {
        let kept = (0..<x.rank).filter { !dims.contains($0) }
        let moved = x.permuted(kept + dims).contiguous()
        let rows = kept.reduce(1) { $0 * x.shape[$1] }
        let cols = dims.reduce(1) { $0 * x.shape[$1] }
        let outShape = keepDims ? x.shape.enumerated().map { dims.contains($0.offset) ? 1 : $0.element } : kept.map { x.shape[$0] }
        let out = empty(outShape, resultType(x.dtype))
        if rows == 0 { return out }
        var a = KernelArgs()
        a.ptr(moved); a.dtype(moved.dtype); a.ptr(out); a.dtype(out.dtype); a.i64(cols)
        a.i32(ReduceOp.allCases.firstIndex(of: op)!)
        launch("reduce_rows", grid: (rows, 1, 1), block: Self.rowBlock(cols), a)
        return out
    }

    public func softmax(_ x: Tensor, dim: Int) -> Tensor {
        let last = x.rank - 1
        var order = Array(0..<x.rank)
        order.swapAt(dim, last)
        let moved = dim == last ? x.contiguous() : x.permuted(order).contiguous()
        let cols = x.shape[dim], rows = x.count / Swift.max(cols, 1)
        let out = empty(moved.shape, resultType(x.dtype))
        if x.count == 0 { return out.permuted(order) }
        var a = KernelArgs()
        a.ptr(moved); a.dtype(moved.dtype); a.ptr(out); a.dtype(out.dtype); a.i64(cols)
        launch("softmax_rows", grid: (rows, 1, 1), block: Self.rowBlock(cols), a)
        return dim == last ? out : out.permuted(order).contiguous()
    }

    func normRows(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, mode: Int) -> Tensor {
        let c = x.contiguous()
        let cols = x.shape[x.rank - 1], rows = x.count / Swift.max(cols, 1)
        let out = empty(x.shape, resultType(x.dtype))
        if x.count == 0 { return out }
        let w = weight?.contiguous(), b = bias?.contiguous()
        var a = KernelArgs()
        a.ptr(c); a.dtype(c.dtype); a.ptr(w); a.dtype(w?.dtype ?? .f32); a.ptr(b); a.dtype(b?.dtype ?? .f32)
        a.ptr(out); a.dtype(out.dtype); a.i64(cols); a.f32(eps); a.i32(mode)
        launch("norm_rows", grid: (rows, 1, 1), block: Self.rowBlock(cols), a)
        return out
    }

    public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        normRows(x, weight: weight, bias: bias, eps: eps, mode: 0)
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor {
        normRows(x, weight: weight, bias: nil, eps: eps, mode: 1)
    }

    public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: false)
    }

    /// silu(groupNorm(x)) in the norm's last pass (the VAE's every resnet half).
    public func groupNormSiLU(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: true)
    }

    func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float, silu: Bool) -> Tensor {
        let c = x.contiguous()
        let n = x.shape[0], ch = x.shape[1], s = x.count / Swift.max(n * ch, 1)
        let out = empty(x.shape, resultType(x.dtype))
        if x.count == 0 { return out }
        let w = weight?.contiguous(), b = bias?.contiguous()
        // Chunks of at least 64 Ki values, so a 1024x1024 VAE activation's 32 groups run as ~2,000 blocks.
        let count = (ch / groups) * s, chunks = Swift.min(1024, Swift.max(1, count / 65536))
        let chunk = (count + chunks - 1) / chunks
        let partial = empty([n * groups, chunks, 2], .f32), stats = empty([n * groups, 2], .f32)
        var a = KernelArgs()
        a.ptr(c); a.dtype(c.dtype); a.ptr(partial); a.i64(ch); a.i64(s); a.i64(groups); a.i64(chunk)
        launch("group_norm_partial", grid: (n * groups, chunks, 1), block: 256, a)
        var f = KernelArgs()
        f.ptr(partial); f.ptr(stats); f.i64(n * groups); f.i64(chunks); f.i64(count); f.i64(chunk); f.f32(eps)
        launch("group_norm_finalize", grid: ((n * groups + 127) / 128, 1, 1), block: 128, f)
        var y = KernelArgs()
        y.ptr(c); y.dtype(c.dtype); y.ptr(stats); y.ptr(w); y.dtype(w?.dtype ?? .f32); y.ptr(b); y.dtype(b?.dtype ?? .f32)
        y.ptr(out); y.dtype(out.dtype); y.i64(ch); y.i64(s); y.i64(groups); y.i32(silu ? 1 : 0)
        launch("group_norm_apply", grid: (n * ch, Swift.min(65535, Swift.max(1, s / 2048)), 1), block: 256, y)
        return out
    }

    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int),
                       padding: (top: Int, bottom: Int, left: Int, right: Int), groups: Int) -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let (cout, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let ho = (h + padding.top + padding.bottom - kh) / stride.0 + 1
        let wo = (w + padding.left + padding.right - kw) / stride.1 + 1
        let out = empty([n, cout, ho, wo], computeDType)
        if out.count == 0 { return out }
        let xc = (x.dtype == computeDType ? x : convert(x, to: computeDType)).contiguous()
        let wc = (weight.dtype == computeDType ? weight : convert(weight, to: computeDType)).contiguous()
        let coutG = cout / groups
        let kdim = cg * kh * kw, pixels = ho * wo
        let direct = kh == 1 && kw == 1 && stride == (1, 1) && padding == (0, 0, 0, 0)
        // The column matrix covers a band of output rows at a time, at most `im2colBytes` (a 3x3 conv
        // of 256 channels at 1024x1024 would need 4.8 GB at once).
        let bandRows = Swift.max(1, Swift.min(ho, configuration.im2colBytes / Swift.max(1, kdim * wo * computeDType.byteSize)))
        let col = direct ? nil : empty([kdim, bandRows * wo], computeDType)
        for img in 0..<n {
            for g in 0..<groups {
                let xin = xc.select(dim: 0, index: img).slice(dim: 0, start: g * cg, end: (g + 1) * cg)
                let wm = wc.slice(dim: 0, start: g * coutG, end: (g + 1) * coutG).reshaped([coutG, kdim])
                let dst = out.select(dim: 0, index: img).slice(dim: 0, start: g * coutG, end: (g + 1) * coutG)
                guard let col else {
                    gemm(a: MatrixView(tensor: wm, ld: kdim, transposed: false, batchStride: 0),
                         b: MatrixView(tensor: xin.reshaped([cg, h * w]), ld: pixels, transposed: false, batchStride: 0),
                         m: coutG, n: pixels, k: kdim, batch: 1, out: dst, ldc: pixels, bias: nil, gelu: false)
                    continue
                }
                for r0 in Swift.stride(from: 0, to: ho, by: bandRows) {
                    let rows = Swift.min(bandRows, ho - r0), bandPixels = rows * wo
                    var a = KernelArgs()
                    // 2-byte data with whole 16-byte output runs: the vectorised kernel.
                    let wide = xin.dtype.byteSize == 2 && col.dtype == xin.dtype && wo % 8 == 0
                    a.ptr(xin); if !wide { a.dtype(xin.dtype) }; a.ptr(col); if !wide { a.dtype(col.dtype) }
                    a.i64(cg); a.i64(h); a.i64(w); a.i64(kh); a.i64(kw); a.i64(stride.0); a.i64(stride.1)
                    a.i64(padding.top); a.i64(padding.left); a.i64(rows); a.i64(wo); a.i64(r0)
                    if wide {
                        launch("im2col_b16", grid: (rows, kdim, 1), block: Swift.min(256, (wo / 8 + 31) / 32 * 32), a)
                    } else {
                        launch("im2col", grid: (rows, kdim, 1), block: Swift.min(256, (wo + 31) / 32 * 32), a)
                    }
                    // The band's output columns start r0 * wo into each output row of `dst`.
                    gemm(a: MatrixView(tensor: wm, ld: kdim, transposed: false, batchStride: 0),
                         b: MatrixView(tensor: col, ld: bandPixels, transposed: false, batchStride: 0),
                         m: coutG, n: bandPixels, k: kdim, batch: 1, out: dst.slice(dim: 1, start: r0, end: r0 + rows),
                         ldc: pixels, bias: nil, gelu: false)
                }
            }
        }
        if let bias {
            var a = KernelArgs()
            a.ptr(out); a.dtype(out.dtype); a.ptr(bias.contiguous()); a.dtype(bias.dtype); a.i64(cout); a.i64(pixels)
            launch("channel_bias_rows", grid: (n * cout, Swift.min(65535, Swift.max(1, pixels / 2048)), 1), block: 256, a)
        }
        return out
    }
}
