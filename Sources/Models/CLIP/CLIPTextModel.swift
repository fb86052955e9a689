import Tensor

/// The CLIP text transformer (Hugging Face `CLIPTextModel`): token + position embeddings, pre-LN
/// causal self-attention layers, final LayerNorm; pooled output = hidden state at the first EOS.
public final class CLIPTextModel: Module {
    public let config: CLIPTextConfig
    var tokenEmbedding: Tensor
    var positionEmbedding: Tensor
    var layers: [CLIPEncoderLayer]
    var finalLayerNorm: LayerNorm

    /// Builds the model from HF keys (`text_model.embeddings...`, `text_model.encoder.layers.N...`,
    /// `text_model.final_layer_norm`). Throws `ModelError.weights` naming every mismatch.
    public init(config: CLIPTextConfig, weights source: WeightSource, computeDType: DType? = .f32,
                backend: any Backend = CPUBackend.shared) throws {
        // Configs from files were checked when read; this also covers configs made in code.
        try config.validate(path: "CLIP text config")
        self.config = config
        let w = WeightLoader(CLIPTextModel.canonical(source), component: "text_encoder (CLIP)")
        w.backend = backend
        w.computeDType = computeDType
        // HF checkpoints carry a position_ids buffer and, for CLIPTextModelWithProjection, a projection.
        w.ignoredUnused = { $0.hasSuffix("position_ids") || $0.hasPrefix("text_projection") }
        let d = config.hiddenSize
        tokenEmbedding = .placeholder([config.vocabSize, d])
        positionEmbedding = .placeholder([config.maxPositionEmbeddings, d])
        layers = (0..<config.numHiddenLayers).map { _ in CLIPEncoderLayer(config) }
        finalLayerNorm = LayerNorm(dim: d, eps: Float(config.layerNormEps))
        if !["quick_gelu", "gelu"].contains(config.hiddenAct) { w.report("unsupported CLIP hidden_act '\(config.hiddenAct)'") }
        var me = self
        try w.load(&me)
        try w.finish()
    }

    /// HF's keys (transformers 4.x, `text_model.` prefixed).
    public func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.parameter("text_model.embeddings.token_embedding.weight", &tokenEmbedding)
        try v.parameter("text_model.embeddings.position_embedding.weight", &positionEmbedding)
        try v.children("text_model.encoder.layers", &layers)
        try v.child("text_model.final_layer_norm", &finalLayerNorm)
    }

    /// Checkpoints saved by transformers 4.x name tensors `text_model.…` (FLUX.1-dev's text_encoder);
    /// transformers 5.x drops that prefix. Both are presented under the prefixed names.
    static func canonical(_ source: WeightSource) -> WeightSource {
        if source.shape(of: "text_model.embeddings.token_embedding.weight") != nil { return source }
        guard source.shape(of: "embeddings.token_embedding.weight") != nil else { return source }
        return MappedWeights(source, recipes: Dictionary(uniqueKeysWithValues: source.names.map { ("text_model." + $0, .rename($0)) }))
    }

    /// Encodes token ids (B, L) with L <= max positions. Returns the last hidden state (B, L, D)
    /// and the pooled vector (B, D) taken at the first EOS token of each row.
    public func callAsFunction(_ ids: [[Int]]) -> (hidden: Tensor, pooled: Tensor) {
        let b = ids.count, l = ids.first?.count ?? 0
        precondition(b > 0 && l > 0 && l <= config.maxPositionEmbeddings && ids.allSatisfy { $0.count == l },
                     "CLIP input must be B rows of equal length <= \(config.maxPositionEmbeddings)")
        let idTensor = Tensor(integers: ids.flatMap { $0 }, shape: [b, l], backend: tokenEmbedding.backend)
        var x = embedding(tokenEmbedding, idTensor) + positionEmbedding.slice(dim: 0, start: 0, end: l)
        let mask = CLIPTextModel.causalMask(l).moved(to: tokenEmbedding.backend)
        for layer in layers { x = layer(x, mask: mask) }
        x = finalLayerNorm(x)
        let rows = ids.enumerated().map { (i, row) -> Tensor in
            x.select(dim: 0, index: i).select(dim: 0, index: pooledIndex(row))
        }
        let pooled = concat(rows.map { $0.unsqueezed(0) }, dim: 0)
        return (x, pooled)
    }

    /// The position whose hidden state is pooled: argmax of ids for legacy configs (eos_token_id 2),
    /// else the first occurrence of eos_token_id.
    func pooledIndex(_ row: [Int]) -> Int {
        if config.eosTokenId == 2 {
            var best = 0
            for (i, v) in row.enumerated() where v > row[best] { best = i }
            return best
        }
        return row.firstIndex(of: config.eosTokenId) ?? row.count - 1
    }

    /// (1, 1, L, L) additive mask: 0 on and below the diagonal, -inf above.
    static func causalMask(_ l: Int) -> Tensor {
        var m = [Float](repeating: 0, count: l * l)
        for i in 0..<l { for j in (i + 1)..<max(i + 1, l) { m[i * l + j] = -.infinity } }
        return Tensor(m, shape: [1, 1, l, l])
    }
}

/// One pre-LN CLIP encoder layer.
struct CLIPEncoderLayer: Module {
    var norm1, norm2: LayerNorm
    var q, k, v, out, fc1, fc2: any LinearLayer
    let heads: Int
    let quick: Bool

    init(_ c: CLIPTextConfig) {
        let d = c.hiddenSize, eps = Float(c.layerNormEps)
        norm1 = LayerNorm(dim: d, eps: eps)
        norm2 = LayerNorm(dim: d, eps: eps)
        q = Linear(in: d, out: d)
        k = Linear(in: d, out: d)
        v = Linear(in: d, out: d)
        out = Linear(in: d, out: d)
        fc1 = Linear(in: d, out: c.intermediateSize)
        fc2 = Linear(in: c.intermediateSize, out: d)
        heads = c.numAttentionHeads
        quick = c.hiddenAct == "quick_gelu"
    }

    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("layer_norm1", &norm1)
        try v.child("layer_norm2", &norm2)
        try v.linear("self_attn.q_proj", &q)
        try v.linear("self_attn.k_proj", &k)
        try v.linear("self_attn.v_proj", &self.v)
        try v.linear("self_attn.out_proj", &out)
        try v.linear("mlp.fc1", &fc1)
        try v.linear("mlp.fc2", &fc2)
    }

    func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor {
        let (b, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        let hd = d / heads
        func split(_ t: Tensor) -> Tensor { t.reshaped(b, l, heads, hd).permuted(0, 2, 1, 3) }
        let h = norm1(x)
        let a = scaledDotProductAttention(split(q(h)), split(k(h)), split(v(h)), mask: mask)
        var y = x + out(a.permuted(0, 2, 1, 3).reshaped(b, l, d))
        let m = fc1(norm2(y))
        y = y + fc2(quick ? quickGelu(m) : gelu(m))
        return y
    }
}
