/// Attention: the flash kernel (bf16, head size 64 or 128, no mask), batched GEMMs around a softmax
/// (masks over many queries, large heads, long keys) or the general row kernel.
extension CUDABackend {
    public func attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor?, scale: Float) -> Tensor {
        let nb = q.shape[0], nh = q.shape[1], lq = q.shape[2], d = q.shape[3]
        let lk = k.shape[2], dv = v.shape[3]
        let outType = computeDType
        let out = empty([nb, lq, nh, dv], outType)
        let view = out.permuted(0, 2, 1, 3)
        if out.count == 0 { return view }
        if lk == 0 { return affine(view, scale: 0, shift: 0) }
        if mask == nil, computeDType == .bf16, d == dv, d == 64 || d == 128, lq > 0 {
            func prep(_ t: Tensor) -> Tensor {
                var x = t.dtype == .bf16 ? t : convert(t, to: .bf16)
                let ok = x.strides[3] == 1 && x.strides[0] % 8 == 0 && x.strides[1] % 8 == 0 && x.strides[2] % 8 == 0
                    && address(x) % 16 == 0
                if !ok { x = contiguous(x) }
                return x
            }
            let qb = prep(q), kb = prep(k), vb = prep(v)
            var a = KernelArgs()
            a.ptr(qb); a.ptr(kb); a.ptr(vb); a.ptr(out)
            a.i32(nh); a.i32(lq); a.i32(lk)
            for t in [qb, kb, vb] { a.i64(t.strides[0]); a.i64(t.strides[1]); a.i64(t.strides[2]) }
            a.f32(scale * 1.4426950408889634)
            let knobs = configuration
            lastAttentionFP8 = false
            if d == 128, knobs.fp8Attention, fp8Attention(qb, kb, vb, into: out, scale: scale) {
                lastAttentionFP8 = true
                lastFlashKernel = knobs.flashKernel.pingPong ? .wgmma3pp : .wgmma3
                return view
            }
            if d == 128, knobs.flashKernel != .mma, hopperFlashAvailable {
                let warpSpecialised = knobs.flashKernel == .wgmma3 || knobs.flashKernel.pingPong
                if warpSpecialised, let maps = flashTensorMaps(qb, kb, vb) {
                    // A TMA producer warpgroup + two consumers of 64 query rows; Q + `stages` stages of K
                    // and V (32 KB each) + 1 KB to align the swizzled tiles to 1024 bytes.
                    var t = KernelArgs()
                    for m in maps { t.raw(m) }
                    t.ptr(out); t.i32(nh); t.i32(lq); t.i32(lk); t.f32(scale * 1.4426950408889634)
                    let stages = Swift.min(3, knobs.flashStagesClamped)
                    t.i32(knobs.flashKernel.pingPong ? 1 : 0); t.i32(stages)
                    launch("flash_wg3_d128", grid: ((lq + 127) / 128, nb * nh, 1), block: 384,
                           shared: 1024 + 32768 + 2 * stages * 32768, t)
                    lastFlashKernel = knobs.flashKernel
                } else if knobs.flashKernel == .wgmma2 || warpSpecialised {
                    lastFlashKernel = .wgmma2
                    // 128 query rows per block of two warpgroups; Q + two stages of K and V (32 KB each)
                    // + 1 KB to align the swizzled tiles to 1024 bytes.
                    launch("flash_wg2_d128", grid: ((lq + 127) / 128, nb * nh, 1), block: 256, shared: 1024 + 5 * 32768, a)
                } else {
                    lastFlashKernel = .wgmma1
                    // 64 query rows per block of one warpgroup; Q + two stages of K and V (16 KB each) + 1 KB.
                    launch("flash_wg_d128", grid: ((lq + 63) / 64, nb * nh, 1), block: 128, shared: 1024 + 5 * 16384, a)
                }
                return view
            }
            let bn = d == 128 && knobs.flashKeyBlock == 32 ? 32 : 64
            let smem = (128 + 2 * bn) * (d + 8) * 2
            let kernel = d == 64 ? "flash_d64" : (bn == 32 ? "flash_d128_n32" : "flash_d128")
            lastFlashKernel = .mma
            launch(kernel, grid: ((lq + 127) / 128, nb * nh, 1), block: 128, shared: smem, a)
            return view
        }
        if d > 128 || dv > 128 || lk > 8192 || (mask != nil && lq >= 64) {
            // Large heads (the VAE's single 512-wide head), long keys, or a mask over many queries (T5's
            // position bias: the row kernel took 170 of the 181 ms of a 512-token T5-XXL encode on the
            // H200): GEMMs a block of queries at a time, scores bounded to ~256 MB. Scores are in the
            // compute dtype, as transformers' T5 computes them; the softmax's statistics are f32.
            let chunk = Swift.max(1, Swift.min(lq, (256 << 20) / Swift.max(1, nb * nh * lk * 4)))
            let kt = k.transposed(2, 3)
            var start = 0
            while start < lq {
                let end = Swift.min(lq, start + chunk)
                var s = affine(matmul(q.slice(dim: 2, start: start, end: end), kt), scale: scale, shift: 0)
                if let mask { s = binary(.add, s, mask.slice(dim: 2, start: start, end: end)) }
                let o = matmul(softmax(s, dim: 3), v)
                copy(o, into: view.slice(dim: 2, start: start, end: end))
                start = end
            }
            return view
        }
        let m32 = mask.map { $0.dtype == .f32 ? $0 : convert($0, to: .f32) }
        var a = KernelArgs()
        a.ptr(q); a.dtype(q.dtype); a.ptr(k); a.dtype(k.dtype); a.ptr(v); a.dtype(v.dtype)
        a.ptr(m32); a.ptr(out); a.dtype(out.dtype)
        a.raw((q.strides + k.strides + v.strides + (m32?.strides ?? [0, 0, 0, 0])).map { Int64($0) })
        a.i64(nh); a.i64(lq); a.i64(lk); a.i64(d); a.i64(dv); a.f32(scale)
        launch("attn_rows", grid: (nb * nh * lq, 1, 1), block: 128, shared: lk * 4, a)
        return view
    }

    /// TMA tensor maps of bf16 (B, H, L, 128) views for `flash_wg3_d128`: boxes of 64 columns x 128
    /// rows with the 128-byte swizzle, rows past L read as zeros. nil when the driver has no tensor
    /// maps or a stride does not suit TMA (then the cp.async kernel runs).
    func flashTensorMaps(_ ts: Tensor...) -> [[Int64]]? {
        var maps: [[Int64]] = []
        for t in ts {
            let dims: [UInt64] = [128, UInt64(t.shape[2]), UInt64(t.shape[1]), UInt64(t.shape[0])]
            let strides: [UInt64] = [t.strides[2], t.strides[1], t.strides[0]].map { UInt64($0 * 2) }
            // bf16 = 9
            guard let map = tensorMap(t, dataType: 9, dims: dims, strides: strides, box: [64, 128, 1, 1]) else { return nil }
            maps.append(map)
        }
        return maps
    }

    /// One TMA tensor map (128 bytes, as 16 words for a kernel argument) over `t`'s memory: `dims`
    /// innermost first, byte `strides` of the outer dimensions, `box` elements per copy, 128-byte
    /// swizzle, 256-byte L2 promotion, zero fill past the ends. nil when the driver has none or a
    /// stride does not suit TMA.
    func tensorMap(_ t: Tensor, dataType: Int32, dims: [UInt64], strides: [UInt64], box: [UInt32]) -> [Int64]? {
        guard let encode = driver.cuTensorMapEncodeTiled, address(t) % 16 == 0,
              strides.allSatisfy({ $0 % 16 == 0 && $0 < (1 << 40) }) else { return nil }
        let storage = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 64)
        defer { storage.deallocate() }
        let unit = [UInt32](repeating: 1, count: dims.count)
        // no interleave = 0, 128-byte swizzle = 3, L2 promotion 256 bytes = 3, zero fill = 0
        guard encode(storage, dataType, UInt32(dims.count), address(t), dims, strides, box, unit, 0, 3, 3, 0) == 0 else { return nil }
        let words = storage.bindMemory(to: Int64.self, capacity: 16)
        return (0..<16).map { words[$0] }
    }
}
