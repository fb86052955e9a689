/// Scaled-dot-product attention, memory-bounded.
extension CPUBackend {
    /// Query rows per block for `lk` keys: as many as fit `configuration.attentionScratchBytes` (at
    /// most 512, at least `attentionMinBlockRows`), evened out over the blocks and rounded up to a
    /// multiple of 16.
    func attentionBlockRows(lk: Int, lq: Int) -> Int {
        let c = configuration
        let fit = max(c.attentionMinBlockRows, min(512, c.attentionScratchBytes / max(1, lk * 4)))
        if lq <= fit { return max(1, lq) }
        let blocks = (lq + fit - 1) / fit
        let even = (lq + blocks - 1) / blocks
        return max(1, min(fit, (even + 15) / 16 * 16))
    }

    /// softmax(q k^T * scale + mask) v (see `Backend.attention`).
    ///
    /// Work items are (batch, head, block of query rows). For each item one GEMM writes the block's
    /// scores (rows x Lk, scaled by `scale * log2 e`) into the worker's scratch, a fused pass adds the
    /// mask, subtracts the row max and applies a vectorised 2^x, a second GEMM multiplies by V straight
    /// into the output, and the rows are divided by their sums. Memory beyond the output is one score
    /// block per worker; the (B, H, Lq, Lk) matrix never exists. Items are handed out dynamically to
    /// the workers and each GEMM runs single-threaded (when there are fewer items than 2 per core, the
    /// items run one after another with BLAS's own threads and a threaded softmax instead).
    ///
    /// The result has shape (B, H, Lq, Dv) but is laid out in memory as (B, Lq, H, Dv), so the usual
    /// `transposed(1, 2).reshaped(B, Lq, H * Dv)` that follows attention is a free view.
    /// q, k and v may be strided views (e.g. (B, L, H, D) permuted to (B, H, L, D)) as long as their
    /// last dimension is contiguous; otherwise, or when not f32, they are copied to contiguous f32.
    public func attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor?, scale: Float) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("attention", profileStart) }
        precondition(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention kernel: q \(q.shape), k \(k.shape), v \(v.shape)")
        let nb = q.shape[0], nh = q.shape[1], lq = q.shape[2], d = q.shape[3]
        let lk = k.shape[2], dv = v.shape[3]
        precondition(k.shape == [nb, nh, lk, d] && v.shape == [nb, nh, lk, dv],
                     "attention kernel: q \(q.shape), k \(k.shape), v \(v.shape)")
        let q32 = gemmOperand(q), k32 = gemmOperand(k), v32 = gemmOperand(v)
        let m32: Tensor? = mask.map { m in
            precondition(m.shape == [nb, nh, lq, lk], "attention kernel: mask \(m.shape) is not expanded to \([nb, nh, lq, lk])")
            return LinalgKernels.f32(m)
        }

        let rowStride = nh * dv
        let storage = allocate(byteCount: nb * lq * nh * dv * 4)
        let out = Tensor(storage: storage, dtype: .f32, shape: [nb, nh, lq, dv],
                         strides: [lq * nh * dv, dv, nh * dv, 1])
        if out.count == 0 { return out }
        let po = storage.pointer.assumingMemoryBound(to: Float.self)
        if lk == 0 {
            po.update(repeating: 0, count: out.count)
            return out
        }
        let pq = LinalgKernels.pointer(q32), pk = LinalgKernels.pointer(k32), pv = LinalgKernels.pointer(v32)
        let qs = q32.strides, ks = k32.strides, vs = v32.strides
        let pm = m32.map { LinalgKernels.pointer($0) }
        let ms = m32?.strides ?? [0, 0, 0, 0]

        let blockRows = attentionBlockRows(lk: lk, lq: lq)
        let blocks = (lq + blockRows - 1) / blockRows
        let items = nb * nh * blocks

        /// One (batch, head, query block) with score scratch `s` and row sums `sums`.
        let runItem = { (item: Int, s: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>, threadedSoftmax: Bool) in
            let blk = item % blocks, h = (item / blocks) % nh, b = item / (blocks * nh)
            let i0 = blk * blockRows, rows = min(blockRows, lq - i0)
            let qp = pq + b * qs[0] + h * qs[1] + i0 * qs[2]
            let kp = pk + b * ks[0] + h * ks[1]
            let vp = pv + b * vs[0] + h * vs[1]
            BLAS.sgemm(transA: false, transB: true, m: rows, n: lk, k: d, alpha: scale * LinalgKernels.log2e,
                       a: qp, lda: Self.ld(qs[2], rows: rows, cols: d),
                       b: kp, ldb: Self.ld(ks[2], rows: lk, cols: d), c: s, ldc: lk)
            let softmaxRows = { (r: Range<Int>) in
                for i in r {
                    let mrow: UnsafePointer<Float>? = pm.map { UnsafePointer($0 + b * ms[0] + h * ms[1] + (i0 + i) * ms[2]) }
                    sums[i] = LinalgKernels.softmaxRowUnnormalised(s + i * lk, count: lk, mask: mrow, maskStride: ms[3])
                }
            }
            if threadedSoftmax { self.parallel.forEach(rows, grain: 1, softmaxRows) } else { softmaxRows(0..<rows) }
            let op = po + b * lq * rowStride + i0 * rowStride + h * dv
            BLAS.sgemm(transA: false, transB: false, m: rows, n: dv, k: lk,
                       a: s, lda: lk, b: vp, ldb: Self.ld(vs[2], rows: lk, cols: dv), c: op, ldc: rowStride)
            for i in 0..<rows {
                let inv: Float = sums[i] > 0 ? 1 / sums[i] : 0
                let o = op + i * rowStride
                for j in 0..<dv { o[j] *= inv }
            }
        }

        let scratch = blockRows * lk
        if items >= 2 * parallel.threadCount && parallel.threadCount > 1 {
            let workers = parallel.threadCount
            let s = UnsafeMutablePointer<Float>.allocate(capacity: scratch * workers)
            let sums = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * workers)
            defer { s.deallocate(); sums.deallocate() }
            BLAS.singleThreaded {
                LinalgKernels.dynamicForEach(items, workers: workers) { item, w in
                    runItem(item, s + w * scratch, sums + w * blockRows, false)
                }
            }
        } else {
            let s = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
            let sums = UnsafeMutablePointer<Float>.allocate(capacity: blockRows)
            defer { s.deallocate(); sums.deallocate() }
            for item in 0..<items { runItem(item, s, sums, true) }
        }
        return out
    }

    /// `x` as f32 with a unit-stride last dim and a usable row stride (copied only when needed).
    private func gemmOperand(_ x: Tensor) -> Tensor {
        let x32 = LinalgKernels.f32(x)
        let rows = x32.shape[2], cols = x32.shape[3]
        let lastOK = cols <= 1 || x32.strides[3] == 1
        let rowOK = rows <= 1 || x32.strides[2] >= max(cols, 1)
        return lastOK && rowOK ? x32 : contiguous(x32)
    }

    /// Leading dimension for a row-major (rows x cols) matrix with row stride `stride`.
    @inline(__always)
    private static func ld(_ stride: Int, rows: Int, cols: Int) -> Int {
        rows <= 1 ? max(cols, 1) : max(stride, 1)
    }
}
