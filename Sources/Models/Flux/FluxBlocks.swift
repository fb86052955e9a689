import Tensor

/// q, k, v from a fused projection (rows [q | k | v]), QK-RMSNorm per head, split into (B, H, L, D).
struct FluxQKV {
    let queryNorm, keyNorm: RMSNorm
    let heads, headDim: Int

    init(_ w: WeightLoader, normPrefix p: String, heads: Int, headDim: Int) {
        queryNorm = RMSNorm(w, "\(p).query_norm", dim: headDim, eps: 1e-6, name: "scale")
        keyNorm = RMSNorm(w, "\(p).key_norm", dim: headDim, eps: 1e-6, name: "scale")
        self.heads = heads
        self.headDim = headDim
    }

    /// `qkv`: (B, L, 3*H*D) -> q, k, v as (B, H, L, D) with q and k normalised.
    func callAsFunction(_ qkv: Tensor) -> (Tensor, Tensor, Tensor) {
        let (b, l) = (qkv.shape[0], qkv.shape[1])
        let parts = qkv.reshaped(b, l, 3, heads, headDim).permuted(2, 0, 3, 1, 4)  // (3, B, H, L, D)
        let q = queryNorm(parts.select(dim: 0, index: 0))
        let k = keyNorm(parts.select(dim: 0, index: 1))
        return (q, k, parts.select(dim: 0, index: 2))
    }
}

/// Attention with RoPE over (B, H, L, D) -> (B, L, H*D).
func fluxAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, rope: FluxRoPE) -> Tensor {
    let (b, h, l, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let out = scaledDotProductAttention(rope.apply(q), rope.apply(k), v.contiguous())
    return out.permuted(0, 2, 1, 3).reshaped(b, l, h * d)
}

/// A double-stream block: separate weights for image and text tokens, joint attention.
struct FluxDoubleBlock {
    let imgMod, txtMod: Modulation
    let imgQKV, txtQKV: Linear
    let imgNorms, txtNorms: FluxQKV
    let imgProj, txtProj: Linear
    let imgMLP0, imgMLP2, txtMLP0, txtMLP2: Linear
    let norm = LayerNorm(eps: 1e-6)

    init(_ w: WeightLoader, _ p: String, _ c: FluxConfig) {
        let d = c.hiddenSize, m = c.mlpHiddenSize
        imgMod = Modulation(w, "\(p).img_mod", hidden: d, double: true)
        txtMod = Modulation(w, "\(p).txt_mod", hidden: d, double: true)
        imgQKV = Linear(w, "\(p).img_attn.qkv", in: d, out: 3 * d)
        txtQKV = Linear(w, "\(p).txt_attn.qkv", in: d, out: 3 * d)
        imgNorms = FluxQKV(w, normPrefix: "\(p).img_attn.norm", heads: c.numAttentionHeads, headDim: c.attentionHeadDim)
        txtNorms = FluxQKV(w, normPrefix: "\(p).txt_attn.norm", heads: c.numAttentionHeads, headDim: c.attentionHeadDim)
        imgProj = Linear(w, "\(p).img_attn.proj", in: d, out: d)
        txtProj = Linear(w, "\(p).txt_attn.proj", in: d, out: d)
        imgMLP0 = Linear(w, "\(p).img_mlp.0", in: d, out: m)
        imgMLP2 = Linear(w, "\(p).img_mlp.2", in: m, out: d)
        txtMLP0 = Linear(w, "\(p).txt_mlp.0", in: d, out: m)
        txtMLP2 = Linear(w, "\(p).txt_mlp.2", in: m, out: d)
    }

    var linears: [Linear] {
        [imgMod.lin, txtMod.lin, imgQKV, txtQKV, imgProj, txtProj, imgMLP0, imgMLP2, txtMLP0, txtMLP2]
    }

    func callAsFunction(img: Tensor, txt: Tensor, vec: Tensor, rope: FluxRoPE) -> (img: Tensor, txt: Tensor) {
        let im = imgMod(vec), tm = txtMod(vec)
        let (iq, ik, iv) = imgNorms(imgQKV(im[0].modulate(norm(img))))
        let (tq, tk, tv) = txtNorms(txtQKV(tm[0].modulate(norm(txt))))
        let attn = fluxAttention(concat([tq, iq], dim: 2), concat([tk, ik], dim: 2), concat([tv, iv], dim: 2), rope: rope)
        let lt = txt.shape[1]
        let txtAttn = attn.slice(dim: 1, start: 0, end: lt), imgAttn = attn.slice(dim: 1, start: lt)
        var img = img + im[0].gated(imgProj(imgAttn))
        img = img + im[1].gated(imgMLP2(gelu(imgMLP0(im[1].modulate(norm(img))), approximate: .tanh)))
        var txt = txt + tm[0].gated(txtProj(txtAttn))
        txt = txt + tm[1].gated(txtMLP2(gelu(txtMLP0(tm[1].modulate(norm(txt))), approximate: .tanh)))
        return (img, txt)
    }
}

/// A single-stream block over the joint (text + image) sequence with a parallel attention/MLP.
struct FluxSingleBlock {
    let modulation: Modulation
    let linear1, linear2: Linear
    let norms: FluxQKV
    let hidden, mlp: Int
    let norm = LayerNorm(eps: 1e-6)

    init(_ w: WeightLoader, _ p: String, _ c: FluxConfig) {
        hidden = c.hiddenSize
        mlp = c.mlpHiddenSize
        modulation = Modulation(w, "\(p).modulation", hidden: hidden, double: false)
        linear1 = Linear(w, "\(p).linear1", in: hidden, out: 3 * hidden + mlp)
        linear2 = Linear(w, "\(p).linear2", in: hidden + mlp, out: hidden)
        norms = FluxQKV(w, normPrefix: "\(p).norm", heads: c.numAttentionHeads, headDim: c.attentionHeadDim)
    }

    var linears: [Linear] { [modulation.lin, linear1, linear2] }

    func callAsFunction(_ x: Tensor, vec: Tensor, rope: FluxRoPE) -> Tensor {
        let mod = modulation(vec)[0]
        let parts = linear1(mod.modulate(norm(x))).split([3 * hidden, mlp], dim: -1)
        let (q, k, v) = norms(parts[0])
        let attn = fluxAttention(q, k, v, rope: rope)
        let out = linear2(concat([attn, gelu(parts[1], approximate: .tanh)], dim: -1))
        return x + mod.gated(out)
    }
}
