import Tensor

/// The T5 v1.1 encoder stack (Hugging Face `T5EncoderModel`): RMS pre-norms, unscaled attention
/// with a relative position bias computed once in block 0 and shared by all blocks, gated-GELU FFN.
/// Computes in f32 on the CPU, which avoids T5's known fp16 overflow.
public final class T5Encoder {
    public let config: T5Config
    let embed: Tensor
    let relativeBias: Tensor
    let blocks: [T5Block]
    let finalNorm: RMSNorm
    /// Set when the blocks stream (`streaming` given at load).
    let streamer: BlockStreamer?
    /// Bytes outside the blocks (embedding table, relative-position table, final norm).
    private let otherWeightBytes: Int

    /// Loads HF keys `shared.weight` (or `encoder.embed_tokens.weight`), `encoder.block.N.layer.{0,1}...`,
    /// `encoder.final_layer_norm.weight`.
    ///
    /// With `streaming` (the GPU's low-VRAM mode), the blocks are read on the CPU into page-locked
    /// host memory and placed by a `BlockStreamer`: as many as `streaming.weightBudget` allows (after
    /// the embedding table) stay on the device, the rest are copied in on a second stream while the
    /// previous block computes. T5-XXL's 9.5 GB of bf16 blocks then fit beside a small budget.
    public init(config: T5Config, weights source: WeightSource, computeDType: DType? = nil,
                backend: any Backend = CPUBackend.shared, streaming: BlockStreaming? = nil) throws {
        // Configs from files were checked when read; this also covers configs made in code.
        try config.validate(path: "T5 config")
        self.config = config
        let w = WeightLoader(source, component: "text_encoder_2 (T5)")
        w.backend = backend
        w.computeDType = computeDType
        let tied = ["shared.weight", "encoder.embed_tokens.weight"]
        let embedName = tied.first(where: w.has) ?? "shared.weight"
        w.ignoredUnused = { tied.contains($0) }
        embed = w.take(embedName, shape: [config.vocabSize, config.dModel])
        relativeBias = w.take("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                              shape: [config.relativeAttentionNumBuckets, config.numHeads])
        if !["gated-gelu", "relu", "gated-relu"].contains(config.feedForwardProj) {
            w.report("unsupported T5 feed_forward_proj '\(config.feedForwardProj)'")
        }
        finalNorm = RMSNorm(w, "encoder.final_layer_norm", dim: config.dModel, eps: Float(config.layerNormEpsilon))
        otherWeightBytes = embed.byteCount + relativeBias.byteCount + finalNorm.weight.byteCount
        guard let streaming else {
            blocks = (0..<config.numLayers).map { T5Block(w, "encoder.block.\($0)", config) }
            streamer = nil
            try w.finish()
            return
        }
        // Blocks are read on the CPU (from the mapped file, converted there if they must be) and
        // copied into host memory; nothing goes to the device until `place`.
        let s = try BlockStreamer(backend: backend, slots: streaming.slots)
        w.backend = nil
        let host = try (0..<config.numLayers).map { try s.adopt(T5Block(w, "encoder.block.\($0)", config)) }
        w.backend = backend
        try w.finish()
        try s.place(budget: streaming.weightBudget, otherBytes: otherWeightBytes, what: "T5 encoder")
        blocks = try host.enumerated().map { try s.deviceBlock($1, index: $0) }
        streamer = s
    }

    /// Where a streaming encoder's blocks are; nil when all were loaded resident the usual way.
    public var residency: BlockResidency? {
        streamer.map { BlockResidency($0, otherWeightBytes: otherWeightBytes) }
    }

    /// Encodes token ids (B, L) with no attention mask (as Flux pipelines call T5): padded positions
    /// are attended. Returns the last hidden state (B, L, d_model) in f32.
    public func callAsFunction(_ ids: [[Int]]) -> Tensor {
        let b = ids.count, l = ids.first?.count ?? 0
        precondition(b > 0 && l > 0 && ids.allSatisfy { $0.count == l }, "T5 input must be B rows of equal length")
        var x = embedding(embed, Tensor(integers: ids.flatMap { $0 }, shape: [b, l], backend: embed.backend)).to(.f32)
        let bias = T5RelativePosition.bias(table: relativeBias.to(.f32), length: l,
                                           numBuckets: config.relativeAttentionNumBuckets,
                                           maxDistance: config.relativeAttentionMaxDistance)
        for (i, block) in blocks.enumerated() {
            streamer?.acquire(i)
            x = block(x, bias: bias)
            streamer?.release(i)
        }
        return finalNorm(x)
    }
}

/// One T5 encoder block: self-attention sublayer and feed-forward sublayer, both pre-norm residual.
struct T5Block {
    var attnNorm, ffNorm: RMSNorm
    var q, k, v, o: Linear
    var wi0: Linear, wi1: Linear?, wo: Linear
    let heads, dKV: Int
    let gatedGelu: Bool

    init(_ w: WeightLoader, _ p: String, _ c: T5Config) {
        let inner = c.numHeads * c.dKV, eps = Float(c.layerNormEpsilon)
        attnNorm = RMSNorm(w, "\(p).layer.0.layer_norm", dim: c.dModel, eps: eps)
        q = Linear(w, "\(p).layer.0.SelfAttention.q", in: c.dModel, out: inner, bias: false)
        k = Linear(w, "\(p).layer.0.SelfAttention.k", in: c.dModel, out: inner, bias: false)
        v = Linear(w, "\(p).layer.0.SelfAttention.v", in: c.dModel, out: inner, bias: false)
        o = Linear(w, "\(p).layer.0.SelfAttention.o", in: inner, out: c.dModel, bias: false)
        ffNorm = RMSNorm(w, "\(p).layer.1.layer_norm", dim: c.dModel, eps: eps)
        let gated = c.feedForwardProj.hasPrefix("gated")
        if gated {
            wi0 = Linear(w, "\(p).layer.1.DenseReluDense.wi_0", in: c.dModel, out: c.dFF, bias: false)
            wi1 = Linear(w, "\(p).layer.1.DenseReluDense.wi_1", in: c.dModel, out: c.dFF, bias: false)
        } else {
            wi0 = Linear(w, "\(p).layer.1.DenseReluDense.wi", in: c.dModel, out: c.dFF, bias: false)
            wi1 = nil
        }
        wo = Linear(w, "\(p).layer.1.DenseReluDense.wo", in: c.dFF, out: c.dModel, bias: false)
        heads = c.numHeads
        dKV = c.dKV
        gatedGelu = c.feedForwardProj == "gated-gelu"
    }

    func callAsFunction(_ x: Tensor, bias: Tensor) -> Tensor {
        let (b, l) = (x.shape[0], x.shape[1])
        func split(_ t: Tensor) -> Tensor { t.reshaped(b, l, heads, dKV).permuted(0, 2, 1, 3) }
        let h = attnNorm(x)
        // T5 does not scale scores by 1/sqrt(d).
        let a = scaledDotProductAttention(split(q(h)), split(k(h)), split(v(h)), mask: bias, scale: 1)
        var y = x + o(a.permuted(0, 2, 1, 3).reshaped(b, l, heads * dKV))
        let f = ffNorm(y)
        let act: Tensor
        if let wi1 {
            let g = wi0(f)
            act = (gatedGelu ? gelu(g, approximate: .tanh) : t5Relu(g)) * wi1(f)
        } else {
            act = t5Relu(wi0(f))
        }
        y = y + wo(act)
        return y
    }
}

/// max(x, 0) (T5 v1.0 feed-forward activation).
func t5Relu(_ x: Tensor) -> Tensor { maximum(x, Tensor.scalar(0, backend: x.backend)) }
