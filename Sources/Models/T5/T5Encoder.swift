import Tensor

/// The T5 v1.1 encoder stack (Hugging Face `T5EncoderModel`): RMS pre-norms, unscaled attention
/// with a relative position bias computed once in block 0 and shared by all blocks, gated-GELU FFN.
/// Computes in f32 on the CPU, which avoids T5's known fp16 overflow.
public final class T5Encoder: Module {
    public let config: T5Config
    var embed: Tensor
    var relativeBias: Tensor
    /// The position bias (1, H, L, L) of the last length encoded.
    let biasCache = Locked<Tensor?>(nil)
    var blocks: [T5Block]
    var finalNorm: RMSNorm
    /// Set when the blocks stream (`streaming` given at load).
    var streamer: BlockStreamer?
    /// The blocks viewing their host copies, kept when `streaming.keepsHostCopies` so the device
    /// memory can be given back and taken again (`evictBlocks`, `placeBlocks`).
    var hostBlocks: [T5Block] = []
    /// Where the blocks compute (the embedding table may live elsewhere: `embedOnHost`).
    let computeBackend: any Backend
    /// A streaming encoder keeps its embedding table (T5-XXL: 263 MB in bf16) in host memory and
    /// looks up the prompt's rows there: a few KB per prompt instead of device memory held beside
    /// the blocks (and, when the encoder is kept between generations, beside the DiT's).
    var embedOnHost: Bool { streamer != nil }
    static let blocksKey = "encoder.block"

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
        computeBackend = backend
        let w = WeightLoader(source, component: "text_encoder_2 (T5)")
        w.computeDType = computeDType
        let tied = ["shared.weight", "encoder.embed_tokens.weight"]
        let embedName = tied.first(where: w.has) ?? "shared.weight"
        w.ignoredUnused = { tied.contains($0) }
        if streaming == nil { w.backend = backend }
        // Streaming: the table is copied into host memory of its own (not a view of the mapped file).
        embed = w.take(embedName, shape: [config.vocabSize, config.dModel])
        if streaming != nil { embed = Self.hostCopy(embed) }
        w.backend = backend
        relativeBias = .placeholder([config.relativeAttentionNumBuckets, config.numHeads])
        finalNorm = RMSNorm(dim: config.dModel, eps: Float(config.layerNormEpsilon))
        blocks = (0..<config.numLayers).map { _ in T5Block(config) }
        var outside = T5OutsideBlocks(model: self)
        try w.load(&outside)
        if !["gated-gelu", "relu", "gated-relu"].contains(config.feedForwardProj) {
            w.report("unsupported T5 feed_forward_proj '\(config.feedForwardProj)'")
        }
        guard let streaming else {
            try w.load(&blocks, at: [Self.blocksKey])
            try w.finish()
            return
        }
        // Blocks are read on the CPU (from the mapped file, converted there if they must be) and
        // copied into host memory; nothing goes to the device until `place`.
        let s = try BlockStreamer(backend: backend, slots: streaming.slots, keepsHostCopies: streaming.keepsHostCopies,
                                  layout: streaming.layout)
        w.backend = nil
        let host = try s.adoptLoading(blocks, key: Self.blocksKey, from: w)
        w.backend = backend
        try w.finish()
        streamer = s
        try s.place(budget: streaming.weightBudget, otherBytes: otherWeightBytes, what: "T5 encoder")
        blocks = try s.deviceBlocks(host, first: 0)
        if streaming.keepsHostCopies { hostBlocks = host }
    }

    /// `t` copied into CPU memory of its own.
    static func hostCopy(_ t: Tensor) -> Tensor {
        let c = t.isContiguous ? t : t.contiguous()
        let storage = CPUBackend.shared.allocate(byteCount: Swift.max(c.byteCount, 1))
        c.backend.download(c.storage, byteOffset: c.offset * c.dtype.byteSize, count: c.byteCount, into: storage.pointer)
        return Tensor(storage: storage, dtype: c.dtype, shape: c.shape)
    }

    /// With streaming and `keepsHostCopies`: gives the blocks' device memory back, keeping their
    /// host copies (a server between generations, so the DiT and the VAE have the GPU). The encoder
    /// cannot run until `placeBlocks`. No-op otherwise.
    public func evictBlocks() {
        guard let streamer, streamer.keepsHostCopies, streamer.isPlaced else { return }
        blocks = []
        streamer.evict()
    }

    /// Takes device memory for the blocks again after `evictBlocks`, planned for `weightBudget` (as
    /// `BlockStreaming.weightBudget`): the resident ones are uploaded from their host copies, nothing
    /// is read from the checkpoint. No-op when the blocks are placed.
    public func placeBlocks(weightBudget: Int) throws {
        guard let streamer, !streamer.isPlaced else { return }
        try streamer.place(budget: weightBudget, otherBytes: otherWeightBytes, what: "T5 encoder")
        blocks = try streamer.deviceBlocks(hostBlocks, first: 0)
    }

    /// Whether the blocks have been given back with `evictBlocks` (and not placed again).
    public var blocksEvicted: Bool { streamer.map { !$0.isPlaced } ?? false }

    /// The tensors outside the blocks, in HF's names; the embedding table is taken apart (its name
    /// depends on the file: `shared.weight` or `encoder.embed_tokens.weight`).
    func visitOutsideBlocks<V: ModuleVisitor>(_ v: inout V) throws {
        try v.parameter("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", &relativeBias)
        try v.child("encoder.final_layer_norm", &finalNorm)
    }

    /// Every parameter: the embedding table ("shared.weight"), the rest outside the blocks, the blocks.
    public func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.parameter("shared.weight", &embed)
        try visitOutsideBlocks(&v)
        try v.children(Self.blocksKey, &blocks)
    }

    /// Device bytes outside the blocks (embedding table unless `embedOnHost`, relative-position
    /// table, final norm).
    var otherWeightBytes: Int { (embedOnHost ? 0 : embed.byteCount) + T5OutsideBlocks(model: self).weightByteCount }

    /// Where a streaming encoder's blocks are; nil when all were loaded resident the usual way.
    public var residency: BlockResidency? {
        streamer.map { BlockResidency($0, otherWeightBytes: otherWeightBytes) }
    }

    /// Encodes token ids (B, L) with no attention mask (as Flux pipelines call T5): padded positions
    /// are attended. Returns the last hidden state (B, L, d_model) in f32.
    public func callAsFunction(_ ids: [[Int]]) -> Tensor {
        let b = ids.count, l = ids.first?.count ?? 0
        precondition(b > 0 && l > 0 && ids.allSatisfy { $0.count == l }, "T5 input must be B rows of equal length")
        precondition(!blocksEvicted, "the T5 encoder's blocks were evicted: call placeBlocks first")
        // A row lookup is exact on any backend: the host table gives the device's numbers.
        var x = embedding(embed, Tensor(integers: ids.flatMap { $0 }, shape: [b, l], backend: embed.backend)).to(.f32)
        if embedOnHost { x = x.moved(to: computeBackend) }
        // The bias depends only on the length: made once (its buckets are host work and its upload
        // waited for the device), kept for the next prompt.
        let bias = biasCache.withLock { kept in
            if let kept = kept, kept.shape[2] == l { return kept }
            let made = T5RelativePosition.bias(table: relativeBias.to(.f32), length: l,
                                               numBuckets: config.relativeAttentionNumBuckets,
                                               maxDistance: config.relativeAttentionMaxDistance)
            kept = made
            return made
        }
        for (i, block) in blocks.enumerated() {
            streamer?.acquire(i)
            x = block(x, bias: bias)
            streamer?.release(i)
        }
        return finalNorm(x)
    }
}

/// One T5 encoder block: self-attention sublayer and feed-forward sublayer, both pre-norm residual.
struct T5Block: Module {
    var attnNorm, ffNorm: RMSNorm
    var q, k, v, o: any LinearLayer
    var wi0: any LinearLayer, wi1: (any LinearLayer)?, wo: any LinearLayer
    let heads, dKV: Int
    let gatedGelu: Bool

    init(_ c: T5Config) {
        let inner = c.numHeads * c.dKV, eps = Float(c.layerNormEpsilon)
        attnNorm = RMSNorm(dim: c.dModel, eps: eps)
        q = Linear(in: c.dModel, out: inner, bias: false)
        k = Linear(in: c.dModel, out: inner, bias: false)
        v = Linear(in: c.dModel, out: inner, bias: false)
        o = Linear(in: inner, out: c.dModel, bias: false)
        ffNorm = RMSNorm(dim: c.dModel, eps: eps)
        wi0 = Linear(in: c.dModel, out: c.dFF, bias: false)
        wi1 = c.feedForwardProj.hasPrefix("gated") ? Linear(in: c.dModel, out: c.dFF, bias: false) : nil
        wo = Linear(in: c.dFF, out: c.dModel, bias: false)
        heads = c.numHeads
        dKV = c.dKV
        gatedGelu = c.feedForwardProj == "gated-gelu"
    }

    /// HF's keys; a gated feed-forward names its input projections wi_0 and wi_1, a plain one wi.
    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("layer.0.layer_norm", &attnNorm)
        try v.linear("layer.0.SelfAttention.q", &q)
        try v.linear("layer.0.SelfAttention.k", &k)
        try v.linear("layer.0.SelfAttention.v", &self.v)
        try v.linear("layer.0.SelfAttention.o", &o)
        try v.child("layer.1.layer_norm", &ffNorm)
        try v.linear(wi1 == nil ? "layer.1.DenseReluDense.wi" : "layer.1.DenseReluDense.wi_0", &wi0)
        if var gate = wi1 {
            try v.linear("layer.1.DenseReluDense.wi_1", &gate)
            wi1 = gate
        }
        try v.linear("layer.1.DenseReluDense.wo", &wo)
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

/// The tensors of a `T5Encoder` outside its blocks (but the embedding table), as a module.
struct T5OutsideBlocks: Module {
    let model: T5Encoder
    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws { try model.visitOutsideBlocks(&v) }
}

/// max(x, 0) (T5 v1.0 feed-forward activation).
func t5Relu(_ x: Tensor) -> Tensor { maximum(x, Tensor.scalar(0, backend: x.backend)) }
