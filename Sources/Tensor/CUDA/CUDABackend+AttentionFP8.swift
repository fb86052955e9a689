/// fp8 attention (`Configuration.fp8Attention`): Q, K and V quantised to e4m3 per 128-row tile of each
/// (batch, head) by `attn_quant_e4m3`, then `flash_wg3_fp8_d128` (see CUDAKernels+FlashHopperFP8.swift).
extension CUDABackend {
    /// out (B, Lq, H, 128) bf16 = softmax(scale Q K^T) V from bf16 (B, H, L, 128) views with 16-byte
    /// aligned rows and unit column stride (what `attention` prepares). False (nothing written) where
    /// the kernel or tensor maps are missing.
    func fp8Attention(_ q: Tensor, _ k: Tensor, _ v: Tensor, into out: Tensor, scale: Float) -> Bool {
        guard fp8AttentionAvailable else { return false }
        let nb = q.shape[0], nh = q.shape[1], lq = q.shape[2], lk = k.shape[2]
        let tq = (lq + 127) / 128, tk = (lk + 127) / 128, lpad = tk * 128
        let qq = empty([nb * nh, lq, 128], .f8e4m3fn), kq = empty([nb * nh, lk, 128], .f8e4m3fn)
        let vt = empty([nb * nh, 128, lpad], .f8e4m3fn)
        let sq = empty([nb * nh * tq], .f32), sk = empty([nb * nh * tk], .f32), sv = empty([nb * nh * tk], .f32)
        guard let mq = uint8TensorMap(qq, inner: 128, rows: lq, planes: nb * nh, rowBytes: 128),
              let mk = uint8TensorMap(kq, inner: 128, rows: lk, planes: nb * nh, rowBytes: 128),
              let mv = uint8TensorMap(vt, inner: lpad, rows: 128, planes: nb * nh, rowBytes: lpad) else { return false }
        var a = KernelArgs()
        a.ptr(q); a.ptr(k); a.ptr(v); a.i32(nh); a.i32(lq); a.i32(lk)
        for t in [q, k, v] { a.i64(t.strides[0]); a.i64(t.strides[1]); a.i64(t.strides[2]) }
        a.ptr(qq); a.ptr(kq); a.ptr(vt); a.i32(lpad); a.ptr(sq); a.ptr(sk); a.ptr(sv)
        launch("attn_quant_e4m3", grid: (Swift.max(tq, tk), nb * nh, 3), block: 256, a)
        var t = KernelArgs()
        for m in [mq, mk, mv] { t.raw(m) }
        t.ptr(sq); t.ptr(sk); t.ptr(sv); t.ptr(out); t.i32(nh); t.i32(lq); t.i32(lk); t.f32(scale * 1.4426950408889634)
        t.i32(configuration.flashKernel.pingPong ? 1 : 0)
        // A TMA producer warpgroup + two consumers of 64 query rows; Q + two stages of K and V^T
        // (16 KB each) + 1 KB to align the swizzled tiles to 1024 bytes.
        launch("flash_wg3_fp8_d128", grid: (tq, nb * nh, 1), block: 384, shared: 1024 + 5 * 16384, t)
        return true
    }

    /// A 3-D TMA map over a contiguous uint8 tensor of `planes` x `rows` x `inner` bytes (rows
    /// `rowBytes` apart): boxes of 128 x 128 bytes (`tensorMap`).
    func uint8TensorMap(_ t: Tensor, inner: Int, rows: Int, planes: Int, rowBytes: Int) -> [Int64]? {
        // uint8 = 0
        tensorMap(t, dataType: 0, dims: [UInt64(inner), UInt64(rows), UInt64(planes)],
                  strides: [UInt64(rowBytes), UInt64(rowBytes * rows)], box: [128, 128, 1])
    }
}
