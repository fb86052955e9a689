import Tensor

/// The T5 v1.1 encoder stack (Hugging Face `T5EncoderModel`): RMS pre-norms, unscaled attention
/// with a relative position bias computed once in block 0 and shared by all blocks, gated-GELU FFN.
/// Computes in f32 on the CPU, which avoids T5's known fp16 overflow.
public final class T5Encoder {
    public let config: T5Config
    let embed: Tensor
    let relativeBias: Tensor
    /// The blocks, or empty when they load as they run (`blocksOnDemand`).
    let blocks: [T5Block]
    let finalNorm: RMSNorm
    /// Builds block `i` from the checkpoint when the blocks load as they run.
    private let loadBlock: ((Int) throws -> T5Block)?

    /// Loads HF keys `shared.weight` (or `encoder.embed_tokens.weight`), `encoder.block.N.layer.{0,1}...`,
    /// `encoder.final_layer_norm.weight`.
    ///
    /// With `blocksOnDemand`, every block's names and shapes are checked now, but a block's weights
    /// are read (onto `backend`) only when it runs and dropped after: T5-XXL's 9.5 GB of bf16 then
    /// needs one block (~0.4 GB) of device memory at a time (the GPU's low-VRAM mode).
    public init(config: T5Config, weights source: WeightSource, computeDType: DType? = nil,
                backend: any Backend = CPUBackend.shared, blocksOnDemand: Bool = false) throws {
        self.config = config
        let component = "text_encoder_2 (T5)"
        let w = WeightLoader(source, component: component)
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
        if blocksOnDemand {
            w.shapesOnly = true
            for i in 0..<config.numLayers { _ = T5Block(w, "encoder.block.\(i)", config) }
            blocks = []
            loadBlock = { i in
                let b = WeightLoader(source, component: component)
                b.backend = backend
                b.computeDType = computeDType
                let block = T5Block(b, "encoder.block.\(i)", config)
                try b.checkProblems()
                return block
            }
        } else {
            blocks = (0..<config.numLayers).map { T5Block(w, "encoder.block.\($0)", config) }
            loadBlock = nil
        }
        try w.finish()
    }

    /// Encodes token ids (B, L) with no attention mask (as Flux pipelines call T5): padded positions
    /// are attended. Returns the last hidden state (B, L, d_model) in f32.
    /// For an encoder whose blocks load on demand use `encode`, which reports a failed read.
    public func callAsFunction(_ ids: [[Int]]) -> Tensor {
        do { return try encode(ids) } catch { fatalError("T5 block failed to load: \(error)") }
    }

    /// Like `callAsFunction`, but throws when a block loaded on demand cannot be read.
    public func encode(_ ids: [[Int]]) throws -> Tensor {
        let b = ids.count, l = ids.first?.count ?? 0
        precondition(b > 0 && l > 0 && ids.allSatisfy { $0.count == l }, "T5 input must be B rows of equal length")
        var x = embedding(embed, Tensor(integers: ids.flatMap { $0 }, shape: [b, l], backend: embed.backend)).to(.f32)
        let bias = T5RelativePosition.bias(table: relativeBias.to(.f32), length: l,
                                           numBuckets: config.relativeAttentionNumBuckets,
                                           maxDistance: config.relativeAttentionMaxDistance)
        if let loadBlock {
            for i in 0..<config.numLayers { x = try loadBlock(i)(x, bias: bias) }
        } else {
            for block in blocks { x = block(x, bias: bias) }
        }
        return finalNorm(x)
    }
}

/// One T5 encoder block: self-attention sublayer and feed-forward sublayer, both pre-norm residual.
struct T5Block {
    let attnNorm, ffNorm: RMSNorm
    let q, k, v, o: Linear
    let wi0: Linear, wi1: Linear?, wo: Linear
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
