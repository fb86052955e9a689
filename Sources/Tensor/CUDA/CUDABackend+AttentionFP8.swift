/// fp8 attention (`Configuration.fp8Attention`): Q, K and V in e4m3 for `flash_wg3_fp8_d128` (see
/// CUDAKernels+FlashHopperFP8.swift). From bf16 Q, K, V, `attn_quant_e4m3` quantises each 128-row tile
/// of each (batch, head) with its own scale; inside a transformer block (`qkNormRoPEAttention`),
/// `qk_norm_rope_e4m3` writes Q and K as e4m3 straight from the QK norm and rotation, with one scale
/// each known from the norm weights, and only V goes through `attn_quant_e4m3`.
extension CUDABackend {
    /// out (B, Lq, H, 128) bf16 = softmax(scale Q K^T) V from bf16 (B, H, L, 128) views with 16-byte
    /// aligned rows and unit column stride (what `attention` prepares). False (nothing written) where
    /// the kernel or tensor maps are missing. `trace` (diagnostic): the traced kernel's timeline buffer.
    func fp8Attention(_ q: Tensor, _ k: Tensor, _ v: Tensor, into out: Tensor, scale: Float, trace: Tensor? = nil) -> Bool {
        guard fp8AttentionAvailable else { return false }
        let nb = q.shape[0], nh = q.shape[1], lq = q.shape[2], lk = k.shape[2]
        let tq = (lq + 127) / 128, tk = (lk + 127) / 128
        let qq = empty([nb * nh, lq, 128], .f8e4m3fn), kq = empty([nb * nh, lk, 128], .f8e4m3fn)
        let vt = empty([nb * nh, 128, tk * 128], .f8e4m3fn)
        let sq = empty([nb * nh * tq], .f32), sk = empty([nb * nh * tk], .f32), sv = empty([nb * nh * tk], .f32)
        quantiseForFP8Attention(q, k, v, heads: nh, qq: qq, kq: kq, vt: vt, sq: sq, sk: sk, sv: sv, vOnly: false)
        return fp8FlashAttention(qq: qq, kq: kq, vt: vt, sq: sq, sk: sk, sv: sv, qkScalesPerTensor: false, batch: nb,
                                 heads: nh, lq: lq, lk: lk, output: .bf16(out, ldo: nh * 128, amax: nil), scale: scale,
                                 trace: trace)
    }

    /// `attn_quant_e4m3` over bf16 (B, H, L, 128) views: Q, K and V, or V alone (`vOnly`).
    private func quantiseForFP8Attention(_ q: Tensor, _ k: Tensor, _ v: Tensor, heads nh: Int, qq: Tensor, kq: Tensor,
                                         vt: Tensor, sq: Tensor, sk: Tensor, sv: Tensor, vOnly: Bool) {
        func view(_ t: Tensor) -> (Tensor, [Int]) { (t, Array(t.strides.prefix(3))) }
        launchAttnQuant(q: view(q), k: view(k), v: view(v), batch: v.shape[0], heads: nh, lq: q.shape[2], lk: k.shape[2],
                        qq: qq, kq: kq, vt: vt, sq: sq, sk: sk, sv: sv, vOnly: vOnly)
    }

    /// One `attn_quant_e4m3` launch: bf16 sources given as (tensor, [batch, head, row] strides in
    /// elements) with their lengths, quantised into Q, K (B*H, L, 128) and V^T (B*H, 128, Lpad) with one
    /// scale per 128-row tile. V alone (`vOnly`) may be one stream of a joint sequence starting at key
    /// `keyOffset` (a multiple of 128) of V^T, and folds max |V| / 448 into `vmax` (zeroed before).
    private func launchAttnQuant(q: (Tensor, [Int]), k: (Tensor, [Int]), v: (Tensor, [Int]), batch nb: Int, heads nh: Int,
                                 lq: Int, lk: Int, qq: Tensor, kq: Tensor, vt: Tensor, sq: Tensor, sk: Tensor, sv: Tensor,
                                 vOnly: Bool, keyOffset: Int = 0, vmax: Tensor? = nil) {
        var a = KernelArgs()
        a.ptr(q.0); a.ptr(k.0); a.ptr(v.0); a.i32(nh); a.i32(lq); a.i32(lk)
        for s in [q.1, k.1, v.1] { a.i64(s[0]); a.i64(s[1]); a.i64(s[2]) }
        a.ptr(qq); a.ptr(kq); a.ptr(vt); a.i32(vt.shape[2]); a.ptr(sq); a.ptr(sk); a.ptr(sv); a.i32(vOnly ? 2 : 0)
        a.i32(keyOffset); a.i32(vt.shape[2] / 128); a.ptr(vmax)
        let tiles = vOnly ? (lk + 127) / 128 : Swift.max((lq + 127) / 128, (lk + 127) / 128)
        launch("attn_quant_e4m3", grid: (tiles, nb * nh, vOnly ? 1 : 3), block: 256, a)
    }

    /// Where `flash_wg3_fp8_d128` writes O (B, Lq, H, 128): bf16 rows `ldo` elements apart, with max |O|
    /// folded into `amax` (one f32, zeroed first) when given; or e4m3 codes of O / `scale` (rows `ldo`
    /// bytes apart), `scale` a one-element f32 bound on |O| (max |V|: O's rows are convex combinations
    /// of V's).
    enum FP8AttentionOutput {
        case bf16(Tensor, ldo: Int, amax: Tensor?)
        case e4m3(Tensor, ldo: Int, scale: Tensor)
    }

    /// `flash_wg3_fp8_d128` on e4m3 Q, K (B*H, L, 128) and V^T (B*H, 128, Lpad) with their scales (per
    /// 128-row tile, or one each for Q and K: `qkScalesPerTensor`). False where the tensor maps fail.
    private func fp8FlashAttention(qq: Tensor, kq: Tensor, vt: Tensor, sq: Tensor, sk: Tensor, sv: Tensor,
                                   qkScalesPerTensor: Bool, batch nb: Int, heads nh: Int, lq: Int, lk: Int,
                                   output: FP8AttentionOutput, scale: Float, trace: Tensor? = nil) -> Bool {
        let lpad = vt.shape[2]
        guard let mq = uint8TensorMap(qq, inner: 128, rows: lq, planes: nb * nh, rowBytes: 128),
              let mk = uint8TensorMap(kq, inner: 128, rows: lk, planes: nb * nh, rowBytes: 128),
              let mv = uint8TensorMap(vt, inner: lpad, rows: 128, planes: nb * nh, rowBytes: lpad) else { return false }
        var t = KernelArgs()
        for m in [mq, mk, mv] { t.raw(m) }
        t.ptr(sq); t.ptr(sk); t.ptr(sv)
        switch output {
        case .bf16(let o, _, _): t.ptr(o)
        case .e4m3: t.ptr(nil)
        }
        t.i32(nh); t.i32(lq); t.i32(lk); t.f32(scale * 1.4426950408889634)
        let knobs = configuration, stages = knobs.flashStagesClamped
        t.i32(knobs.flashKernel.pingPong ? 1 : 0); t.i32(qkScalesPerTensor ? 1 : 0); t.i32(stages)
        switch output {
        case .bf16(_, let ldo, let amax):
            t.i64(ldo); t.ptr(amax); t.ptr(nil); t.ptr(nil)
            if let amax { must(driver.cuMemsetD8Async(address(amax), 0, 4, stream), "cuMemsetD8Async") }
        case .e4m3(let codes, let ldo, let s):
            t.i64(ldo); t.ptr(nil); t.ptr(codes); t.ptr(s)
        }
        // A TMA producer warpgroup + two consumers of 64 query rows; Q + `stages` stages of K and V^T
        // (16 KB each) + 1 KB to align the swizzled tiles to 1024 bytes.
        if let trace { t.ptr(trace) }
        let name = trace != nil ? "flash_wg3_fp8_d128_trace" : "flash_wg3_fp8_d128"
        launch(name, grid: ((lq + 127) / 128, nb * nh, 1), block: 384, shared: 1024 + 16384 + 2 * stages * 16384, t)
        return true
    }

    /// Diagnostic (`cuda-check attn-trace`): fp8 attention on bf16 (B, H, L, 128) q, k, v with the
    /// consumers' timeline on (`flash_wg3_fp8_d128_trace`): clock64 stamps of the blocks of (batch 0,
    /// head 0), laid out [query tile][consumer warp 0..7][key tile][point 0..7] (the points are listed
    /// at `flash_fp8_body`). Nil where fp8 attention or the traced kernel is unavailable.
    public func fp8AttentionTimeline(_ q: Tensor, _ k: Tensor, _ v: Tensor) -> [Int64]? {
        guard fp8AttentionAvailable, hasFunction("flash_wg3_fp8_d128_trace") else { return nil }
        let nb = q.shape[0], nh = q.shape[1], lq = q.shape[2], lk = k.shape[2]
        let count = (lq + 127) / 128 * 8 * ((lk + 127) / 128) * 8
        let trace = empty([2 * count], .f32)                    // 8-byte stamps in a float buffer
        must(driver.cuMemsetD8Async(address(trace), 0, 8 * count, stream), "cuMemsetD8Async")
        guard fp8Attention(q, k, v, into: empty([nb, lq, nh, 128], .bf16), scale: 1 / Float(128).squareRoot(),
                           trace: trace) else { return nil }
        var stamps = [Int64](repeating: 0, count: count)
        stamps.withUnsafeMutableBytes { download(trace.storage, byteOffset: trace.offset * 4, count: 8 * count, into: $0.baseAddress!) }
        return stamps
    }

    public func qkNormRoPEAttention(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                                    cos: Tensor, sin: Tensor, eps: Float) -> Tensor {
        if let inputs = fp8QKNormRoPEInputs(qkv, heads: heads, queryWeights: queryWeights, keyWeights: keyWeights,
                                            cos: cos, sin: sin, eps: eps, boundV: false) {
            let out = empty([inputs.batch, inputs.total, heads, 128], .bf16)
            if run(inputs, output: .bf16(out, ldo: heads * 128, amax: nil)) { return out.reshaped(inputs.batch, inputs.total, heads * 128) }
        }
        return composedQKNormRoPEAttention(qkv, heads: heads, queryWeights: queryWeights, keyWeights: keyWeights,
                                           cos: cos, sin: sin, eps: eps)
    }

    /// The fp8 attention of `qkNormRoPEAttention` writing its output as e4m3 for the fp8 GEMMs that take
    /// it (Flux double blocks' projections): one activation per stream, all with one scale, the bound
    /// max |V| (no pass over the output). nil where the fused fp8 attention does not apply or the batch
    /// is larger than one (a stream's rows are then not one block of rows).
    func fusedQKNormRoPEAttentionE4M3(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                                      cos: Tensor, sin: Tensor, eps: Float) -> [QuantizedActivation]? {
        guard qkv.first?.shape[0] == 1, let inputs = fp8QKNormRoPEInputs(qkv, heads: heads, queryWeights: queryWeights,
                keyWeights: keyWeights, cos: cos, sin: sin, eps: eps, boundV: true), let bound = inputs.vmax else { return nil }
        let width = heads * 128
        let codes = empty([inputs.total, width], .f8e4m3fn)
        guard run(inputs, output: .e4m3(codes, ldo: width, scale: bound)) else { return nil }
        var pos = 0
        return qkv.map { t in
            let l = t.shape[1]
            defer { pos += l }
            return QuantizedActivation(codes: codes.slice(dim: 0, start: pos, end: pos + l), scale: bound, shape: [1, l, width])
        }
    }

    /// The fp8 attention of `qkNormRoPEAttention` over one stream written as bf16 into the left-hand
    /// `heads * 128` columns of `out` (B, L, width) with max |O| folded into `amax` (one f32): Flux single
    /// blocks' [attention | MLP] input without a copy or a pass for its amax. False (nothing written)
    /// where the fused fp8 attention does not apply.
    func qkNormRoPEAttention(_ qkv: Tensor, heads: Int, queryWeight: Tensor, keyWeight: Tensor, cos: Tensor, sin: Tensor,
                             eps: Float, into out: Tensor, amax: Tensor) -> Bool {
        guard out.rank == 3, out.isContiguous, out.dtype == .bf16, out.shape[0] == qkv.shape[0], out.shape[1] == qkv.shape[1],
              out.shape[2] >= heads * 128, amax.dtype == .f32, amax.count == 1,
              let inputs = fp8QKNormRoPEInputs([qkv], heads: heads, queryWeights: [queryWeight], keyWeights: [keyWeight],
                                               cos: cos, sin: sin, eps: eps, boundV: false) else { return false }
        return run(inputs, output: .bf16(out, ldo: out.shape[2], amax: amax))
    }

    /// The fp8 attention of `qkNormRoPEAttention` over one stream written as e4m3 codes into the
    /// left-hand `heads * 128` columns of `out` (B, L, width) with the scale `scaleFor` makes from the
    /// bound max |V| / 448 (queued before the attention kernel; it must be at least the bound): Flux
    /// single blocks' [attention | MLP] input by a delayed scale (CUDABackend+FP8Delayed.swift).
    /// Returns the scale; nil (nothing written) where the fused fp8 attention does not apply.
    func qkNormRoPEAttentionE4M3(_ qkv: Tensor, heads: Int, queryWeight: Tensor, keyWeight: Tensor, cos: Tensor, sin: Tensor,
                                 eps: Float, into out: Tensor, scaleFor: (Tensor) -> Tensor) -> Tensor? {
        guard out.rank == 3, out.isContiguous, out.dtype == .f8e4m3fn, out.shape[0] == qkv.shape[0], out.shape[1] == qkv.shape[1],
              out.shape[2] >= heads * 128, out.shape[2] % 16 == 0, address(out) % 16 == 0,
              let inputs = fp8QKNormRoPEInputs([qkv], heads: heads, queryWeights: [queryWeight], keyWeights: [keyWeight],
                                               cos: cos, sin: sin, eps: eps, boundV: true), let bound = inputs.vmax else { return nil }
        let s = scaleFor(bound)
        return run(inputs, output: .e4m3(out, ldo: out.shape[2], scale: s)) ? s : nil
    }

    /// What `flash_wg3_fp8_d128` reads, made by the QK norm + rotation kernel (Q, K in e4m3, one scale
    /// each) and `attn_quant_e4m3` (V per 128-key tile), for a joint sequence of 1 or 2 streams.
    struct FP8AttentionInputs {
        let qq, kq, vt, sq, sk, sv: Tensor
        /// max |V| / 448 (`boundV`).
        let vmax: Tensor?
        let batch, heads, total: Int
        let flashKernel: FlashKernel
    }

    private func run(_ i: FP8AttentionInputs, output: FP8AttentionOutput) -> Bool {
        guard fp8FlashAttention(qq: i.qq, kq: i.kq, vt: i.vt, sq: i.sq, sk: i.sk, sv: i.sv, qkScalesPerTensor: true,
                                batch: i.batch, heads: i.heads, lq: i.total, lk: i.total, output: output,
                                scale: 1 / Float(128).squareRoot()) else { return false }
        lastAttentionFP8 = true
        lastFlashKernel = i.flashKernel.pingPong ? .wgmma3pp : .wgmma3
        return true
    }

    /// The inputs of the fused fp8 path. nil where it does not apply (nothing queued): fp8 attention off
    /// or unavailable, head size not 128, not bf16, more than two streams, rows the kernel cannot read.
    /// V is quantised straight from the streams' qkv rows where every stream but the last is a whole
    /// number of 128-key tiles (Flux's 512 text tokens), else from a bf16 copy the norm kernel writes.
    private func fp8QKNormRoPEInputs(_ qkv: [Tensor], heads nh: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                                     cos: Tensor, sin: Tensor, eps: Float, boundV: Bool) -> FP8AttentionInputs? {
        let knobs = configuration
        guard knobs.fp8Attention, fp8AttentionAvailable, hasFunction("qk_norm_rope_e4m3"), computeDType == .bf16,
              (1...2).contains(qkv.count), qkv.allSatisfy({ $0.dtype == .bf16 && $0.rank == 3 && $0.shape[2] == 3 * nh * 128 }),
              (queryWeights + keyWeights).allSatisfy({ $0.dtype == .bf16 && $0.shape == [128] }) else { return nil }
        let nb = qkv[0].shape[0], total = qkv.reduce(0) { $0 + $1.shape[1] }
        guard total > 0, qkv.allSatisfy({ $0.shape[0] == nb }) else { return nil }
        let streams = qkv.map { t0 -> Tensor in
            let l = t0.shape[1]
            return t0.strides[2] != 1 || !(t0.shape[0] == 1 || t0.strides[0] == t0.strides[1] * l) ? contiguous(t0) : t0
        }
        let qw = queryWeights.map { $0.contiguous() }, kw = keyWeights.map { $0.contiguous() }
        // `qk_norm_rope_e4m3` reads 16 bytes a lane: rows and the rotation tables 16-byte aligned, the
        // weights 8-byte.
        guard streams.allSatisfy({ $0.strides[1] % 8 == 0 && address($0) % 16 == 0 }),
              (qw + kw).allSatisfy({ address($0) % 8 == 0 }) else { return nil }
        let c32 = (cos.dtype == .f32 ? cos : convert(cos, to: .f32)).contiguous()
        let s32 = (sin.dtype == .f32 ? sin : convert(sin, to: .f32)).contiguous()
        guard address(c32) % 16 == 0, address(s32) % 16 == 0, c32.shape.last == 64 else { return nil }
        let tk = (total + 127) / 128
        let qq = empty([nb * nh, total, 128], .f8e4m3fn), kq = empty([nb * nh, total, 128], .f8e4m3fn)
        let vt = empty([nb * nh, 128, tk * 128], .f8e4m3fn)
        let sq = empty([1], .f32), sk = empty([1], .f32), sv = empty([nb * nh * tk], .f32)
        // V from the qkv rows themselves (16-byte aligned rows): no bf16 copy of V.
        let vInPlace = streams.dropLast().allSatisfy { $0.shape[1] % 128 == 0 }
            && streams.allSatisfy { $0.strides[1] % 8 == 0 && address($0) % 16 == 0 }
        let vCopy = vInPlace ? nil : empty([nb, nh, total, 128], .bf16)
        var pos = 0
        for (i, t) in streams.enumerated() {
            let l = t.shape[1]
            var a = KernelArgs()
            a.ptr(t); a.i64(t.strides[1]); a.i64(nb); a.i64(l); a.i64(nh); a.ptr(qw[i]); a.ptr(kw[i])
            a.ptr(qw[0]); a.ptr(qw[qw.count - 1]); a.ptr(kw[0]); a.ptr(kw[kw.count - 1])
            a.ptr(c32); a.ptr(s32); a.i64(pos); a.ptr(qq); a.ptr(kq); a.ptr(vCopy); a.i64(total); a.i64(pos); a.f32(eps)
            a.ptr(sq); a.ptr(sk)
            // Eight warps a block, two (token, head) pairs a warp (QKN_PAIRS).
            launch("qk_norm_rope_e4m3", grid: ((nb * l * nh + 15) / 16, 1, 1), block: 256, a)
            pos += l
        }
        let vmax = boundV ? empty([1], .f32) : nil
        if let vmax { must(driver.cuMemsetD8Async(address(vmax), 0, 4, stream), "cuMemsetD8Async") }
        if let vCopy {
            let view = (vCopy, Array(vCopy.strides.prefix(3)))
            launchAttnQuant(q: view, k: view, v: view, batch: nb, heads: nh, lq: total, lk: total, qq: qq, kq: kq, vt: vt,
                            sq: sq, sk: sk, sv: sv, vOnly: true, vmax: vmax)
        } else {
            pos = 0
            for t in streams {
                // V of (B, L, [q | k | v]) rows as a (B, H, L, 128) view: batch, head and row strides.
                let l = t.shape[1], view = (t.slice(dim: 2, start: 2 * nh * 128), [t.strides[0], 128, t.strides[1]])
                launchAttnQuant(q: view, k: view, v: view, batch: nb, heads: nh, lq: l, lk: l, qq: qq, kq: kq, vt: vt,
                                sq: sq, sk: sk, sv: sv, vOnly: true, keyOffset: pos, vmax: vmax)
                pos += l
            }
        }
        return FP8AttentionInputs(qq: qq, kq: kq, vt: vt, sq: sq, sk: sk, sv: sv, vmax: vmax, batch: nb, heads: nh,
                                  total: total, flashKernel: knobs.flashKernel)
    }

    /// A 3-D TMA map over a contiguous uint8 tensor of `planes` x `rows` x `inner` bytes (rows
    /// `rowBytes` apart): boxes of 128 x 128 bytes (`tensorMap`).
    func uint8TensorMap(_ t: Tensor, inner: Int, rows: Int, planes: Int, rowBytes: Int) -> [Int64]? {
        // uint8 = 0
        tensorMap(t, dataType: 0, dims: [UInt64(inner), UInt64(rows), UInt64(planes)],
                  strides: [UInt64(rowBytes), UInt64(rowBytes * rows)], box: [128, 128, 1])
    }
}
