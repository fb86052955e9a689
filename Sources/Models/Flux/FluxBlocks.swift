import Tensor

/// q, k, v from a fused projection (rows [q | k | v]), QK-RMSNorm per head, split into (B, H, L, D).
struct FluxQKV: Module {
    var queryNorm, keyNorm: RMSNorm
    let heads, headDim: Int

    init(heads: Int, headDim: Int) {
        queryNorm = RMSNorm(dim: headDim, eps: 1e-6, key: "scale")
        keyNorm = RMSNorm(dim: headDim, eps: 1e-6, key: "scale")
        self.heads = heads
        self.headDim = headDim
    }

    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("query_norm", &queryNorm)
        try v.child("key_norm", &keyNorm)
    }
}

/// Joint attention over streams of fused projections (B, L_i, 3*H*D), each with its QK norms:
/// q/k normalised, streams joined in order, RoPE applied, attention -> (B, sum L_i, H*D).
func fluxAttention(_ streams: [(qkv: Tensor, norms: FluxQKV)], rope: FluxRoPE) -> Tensor {
    let n = streams[0].norms
    return qkNormRoPEAttention(streams.map { $0.qkv }, heads: n.heads,
                               queryWeights: streams.map { $0.norms.queryNorm.weight },
                               keyWeights: streams.map { $0.norms.keyNorm.weight },
                               cos: rope.cosines, sin: rope.sines, eps: n.queryNorm.eps)
}

/// A double-stream block: separate weights for image and text tokens, joint attention.
struct FluxDoubleBlock: Module {
    var imgMod, txtMod: Modulation
    var imgQKV, txtQKV: any LinearLayer
    var imgNorms, txtNorms: FluxQKV
    var imgProj, txtProj: any LinearLayer
    var imgMLP0, imgMLP2, txtMLP0, txtMLP2: any LinearLayer
    let norm = LayerNorm(eps: 1e-6)

    init(_ c: FluxConfig) {
        let d = c.hiddenSize, m = c.mlpHiddenSize
        imgMod = Modulation(hidden: d, double: true)
        txtMod = Modulation(hidden: d, double: true)
        imgQKV = Linear(in: d, out: 3 * d)
        txtQKV = Linear(in: d, out: 3 * d)
        imgNorms = FluxQKV(heads: c.numAttentionHeads, headDim: c.attentionHeadDim)
        txtNorms = FluxQKV(heads: c.numAttentionHeads, headDim: c.attentionHeadDim)
        imgProj = Linear(in: d, out: d)
        txtProj = Linear(in: d, out: d)
        imgMLP0 = Linear(in: d, out: m)
        imgMLP2 = Linear(in: m, out: d)
        txtMLP0 = Linear(in: d, out: m)
        txtMLP2 = Linear(in: m, out: d)
    }

    /// BFL's keys, in the order the blocks were loaded before the module protocol.
    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("img_mod", &imgMod)
        try v.child("txt_mod", &txtMod)
        try v.linear("img_attn.qkv", &imgQKV)
        try v.linear("txt_attn.qkv", &txtQKV)
        try v.child("img_attn.norm", &imgNorms)
        try v.child("txt_attn.norm", &txtNorms)
        try v.linear("img_attn.proj", &imgProj)
        try v.linear("txt_attn.proj", &txtProj)
        try v.linear("img_mlp.0", &imgMLP0)
        try v.linear("img_mlp.2", &imgMLP2)
        try v.linear("txt_mlp.0", &txtMLP0)
        try v.linear("txt_mlp.2", &txtMLP2)
    }

    /// `mods`: the image and text modulation parameters computed ahead (`FluxModulationCache`);
    /// nil computes them from `vec`.
    func callAsFunction(img: Tensor, txt: Tensor, vec: Tensor, rope: FluxRoPE,
                        mods: (img: [ModulationParams], txt: [ModulationParams])? = nil) -> (img: Tensor, txt: Tensor) {
        let im = mods?.img ?? imgMod(vec), tm = mods?.txt ?? txtMod(vec)
        let iqkv = im[0].modulatedLinear(imgQKV, img, eps: norm.eps)
        let tqkv = tm[0].modulatedLinear(txtQKV, txt, eps: norm.eps)
        let proj: (txt: Tensor, img: Tensor)
        if let shared = sharedFP8Projections(txtQKV: tqkv, imgQKV: iqkv, rope: rope) {
            proj = shared
        } else {
            let attn = fluxAttention([(tqkv, txtNorms), (iqkv, imgNorms)], rope: rope)
            let lt = txt.shape[1]
            proj = (txtProj(attn.slice(dim: 1, start: 0, end: lt)), imgProj(attn.slice(dim: 1, start: lt)))
        }
        var img = im[0].gatedAdd(img, proj.img)
        img = im[1].gatedAdd(img, im[1].modulatedMLP(imgMLP0, imgMLP2, img, eps: norm.eps))
        var txt = tm[0].gatedAdd(txt, proj.txt)
        txt = tm[1].gatedAdd(txt, tm[1].modulatedMLP(txtMLP0, txtMLP2, txt, eps: norm.eps))
        return (img, txt)
    }
}

/// A single-stream block over the joint (text + image) sequence with a parallel attention/MLP.
struct FluxSingleBlock: Module {
    var modulation: Modulation
    var linear1, linear2: any LinearLayer
    var norms: FluxQKV
    let hidden, mlp: Int
    let norm = LayerNorm(eps: 1e-6)

    init(_ c: FluxConfig) {
        hidden = c.hiddenSize
        mlp = c.mlpHiddenSize
        modulation = Modulation(hidden: hidden, double: false)
        linear1 = Linear(in: hidden, out: 3 * hidden + mlp)
        linear2 = Linear(in: hidden + mlp, out: hidden)
        norms = FluxQKV(heads: c.numAttentionHeads, headDim: c.attentionHeadDim)
    }

    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("modulation", &modulation)
        try v.linear("linear1", &linear1)
        try v.linear("linear2", &linear2)
        try v.child("norm", &norms)
    }

    /// `mod`: the modulation parameters computed ahead; nil computes them from `vec`.
    func callAsFunction(_ x: Tensor, vec: Tensor, rope: FluxRoPE, mod: ModulationParams? = nil) -> Tensor {
        let mod = mod ?? modulation(vec)[0]
        if let y = sharedFP8(x, rope: rope, mod: mod) { return y }
        let h = mod.modulate(x, eps: norm.eps)
        if h.backend is any FusedGEMMEpilogue, let qkvPart = linear1.rows(0, 3 * hidden), let mlpPart = linear1.rows(3 * hidden, 3 * hidden + mlp) {
            // Two GEMMs: the MLP half gets its GELU in the epilogue and is written straight into
            // linear2's [attention | MLP] input.
            let attn = fluxAttention([(qkvPart(h), norms)], rope: rope)
            let joint = mlpPart.concatGeluTanh(attn, h)
            return mod.gatedAdd(x, linear2(joint))
        }
        let parts = linear1(h).split([3 * hidden, mlp], dim: -1)
        let attn = fluxAttention([(parts[0], norms)], rope: rope)
        let out = linear2(concat([attn, gelu(parts[1], approximate: .tanh)], dim: -1))
        return mod.gatedAdd(x, out)
    }
}
