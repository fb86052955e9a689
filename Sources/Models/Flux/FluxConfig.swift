/// Hyper-parameters of a Flux DiT. Read from a diffusers `transformer/config.json`, or inferred from
/// the tensor shapes of a checkpoint when there is no config (BFL single files).
public struct FluxConfig: Codable, Sendable, Equatable {
    /// Packed latent channels in and out (16 latent channels x 2x2 patch = 64).
    public var inChannels = 64
    public var outChannels: Int? = nil
    public var numLayers = 19
    public var numSingleLayers = 38
    public var attentionHeadDim = 128
    public var numAttentionHeads = 24
    /// T5 hidden size.
    public var jointAttentionDim = 4096
    /// CLIP pooled size.
    public var pooledProjectionDim = 768
    public var guidanceEmbeds = true
    public var axesDimsRope = [16, 56, 56]
    /// MLP hidden = hidden * ratio (not in diffusers configs; always 4 there).
    public var mlpRatio: Double = 4
    public var ropeTheta: Double = 10000

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels", outChannels = "out_channels", numLayers = "num_layers"
        case numSingleLayers = "num_single_layers", attentionHeadDim = "attention_head_dim"
        case numAttentionHeads = "num_attention_heads", jointAttentionDim = "joint_attention_dim"
        case pooledProjectionDim = "pooled_projection_dim", guidanceEmbeds = "guidance_embeds"
        case axesDimsRope = "axes_dims_rope", mlpRatio = "mlp_ratio", ropeTheta = "rope_theta"
    }

    /// FLUX.1-dev.
    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = FluxConfig()
        inChannels = try c.decodeIntIfPresent(.inChannels) ?? d.inChannels
        outChannels = try c.decodeIntIfPresent(.outChannels)
        numLayers = try c.decodeIntIfPresent(.numLayers) ?? d.numLayers
        numSingleLayers = try c.decodeIntIfPresent(.numSingleLayers) ?? d.numSingleLayers
        attentionHeadDim = try c.decodeIntIfPresent(.attentionHeadDim) ?? d.attentionHeadDim
        numAttentionHeads = try c.decodeIntIfPresent(.numAttentionHeads) ?? d.numAttentionHeads
        jointAttentionDim = try c.decodeIntIfPresent(.jointAttentionDim) ?? d.jointAttentionDim
        pooledProjectionDim = try c.decodeIntIfPresent(.pooledProjectionDim) ?? d.pooledProjectionDim
        guidanceEmbeds = try c.decodeIfPresent(Bool.self, forKey: .guidanceEmbeds) ?? d.guidanceEmbeds
        axesDimsRope = try c.decodeIntsIfPresent(.axesDimsRope) ?? d.axesDimsRope
        mlpRatio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? d.mlpRatio
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? d.ropeTheta
    }

    /// hidden = heads x head dim.
    public var hiddenSize: Int { numAttentionHeads * attentionHeadDim }
    public var mlpHiddenSize: Int { Int(Double(hiddenSize) * mlpRatio) }
    public var resolvedOutChannels: Int { outChannels ?? inChannels }

    /// Infers the config from BFL-named tensor shapes (`img_in.weight`, `double_blocks.N...`).
    /// RoPE axes and theta come from `declared` (a config.json) when its head size matches; else
    /// [16, 56, 56] for head dim 128, otherwise head_dim/8 for the first axis and the rest shared.
    /// Throws `ModelError.weights` (for `component`, e.g. the checkpoint's path) when a tensor needed
    /// for the inference is missing or of the wrong rank, or the inferred sizes are out of bounds.
    ///
    /// `axesMustBeKnown` (what loading a model folder sets): the axes are never guessed. Without a
    /// config only head size 128 (every FLUX.1 model) is taken; a config whose head size or axes do not
    /// fit the weights is refused. A guess gave another picture than the model's, without a word.
    public static func infer(shape: (String) -> [Int]?, names: [String], declared: FluxConfig? = nil,
                             component: String = "transformer", axesMustBeKnown: Bool = false) throws -> FluxConfig {
        func problem(_ p: String) -> ModelError { .weights(component: component, problems: [p]) }
        /// The shape of `n`, which must have `rank` dimensions (`what` names them for the message).
        func need(_ n: String, rank: Int, _ what: String) throws -> [Int] {
            guard let s = shape(n) else { throw problem("missing \(n) (needed to infer the config)") }
            guard s.count == rank else { throw problem("\(n) has shape \(s), expected \(rank) dimensions (\(what))") }
            return s
        }
        func optional(_ n: String, rank: Int, _ what: String) throws -> [Int]? {
            shape(n) == nil ? nil : try need(n, rank: rank, what)
        }
        var c = FluxConfig()
        let imgIn = try need("img_in.weight", rank: 2, "[hidden, in_channels]")
        let hidden = imgIn[0]
        c.inChannels = imgIn[1]
        c.outChannels = try need("final_layer.linear.weight", rank: 2, "[out_channels, hidden]")[0]
        c.jointAttentionDim = try need("txt_in.weight", rank: 2, "[hidden, joint_attention_dim]")[1]
        c.pooledProjectionDim = try need("vector_in.in_layer.weight", rank: 2, "[hidden, pooled_projection_dim]")[1]
        c.guidanceEmbeds = shape("guidance_in.in_layer.weight") != nil
        func count(_ prefix: String) -> Int {
            Set(names.compactMap { n -> Int? in
                guard n.hasPrefix(prefix) else { return nil }
                return Int(n.dropFirst(prefix.count).prefix { $0 != "." })
            }).count
        }
        c.numLayers = count("double_blocks.")
        c.numSingleLayers = count("single_blocks.")
        let headDim: Int
        if let s = try optional("double_blocks.0.img_attn.norm.query_norm.scale", rank: 1, "[head_dim]") { headDim = s[0] }
        else if let s = try optional("single_blocks.0.norm.query_norm.scale", rank: 1, "[head_dim]") { headDim = s[0] }
        else { throw problem("no QK-norm scale to infer the head size") }
        // Sizes read from shapes are bounded like config values (a zero-byte tensor may declare any size).
        for (what, v) in [("hidden size (img_in.weight)", hidden), ("head size (QK-norm scale)", headDim)]
        where !ConfigBounds.dims.contains(v) {
            throw problem("inferred \(what) \(v) is outside \(ConfigBounds.dims)")
        }
        guard hidden % headDim == 0 else { throw problem("hidden \(hidden) not divisible by head dim \(headDim)") }
        c.attentionHeadDim = headDim
        c.numAttentionHeads = hidden / headDim
        if let mlp = try optional("double_blocks.0.img_mlp.0.weight", rank: 2, "[mlp_hidden, hidden]")?[0] {
            c.mlpRatio = Double(mlp) / Double(hidden)
        } else if let l1 = try optional("single_blocks.0.linear1.weight", rank: 2, "[3 x hidden + mlp_hidden, hidden]")?[0] {
            c.mlpRatio = Double(l1 - 3 * hidden) / Double(hidden)
        }
        if axesMustBeKnown, let declared, declared.attentionHeadDim != headDim || declared.axesDimsRope.reduce(0, &+) != headDim {
            throw problem("its config.json says attention_head_dim \(declared.attentionHeadDim) with axes_dims_rope \(declared.axesDimsRope), "
                          + "but the weights have head size \(headDim) (QK-norm scale): the config belongs to another model")
        }
        if axesMustBeKnown, declared == nil, headDim != 128 {
            throw problem("no config.json beside the weights, and the head size \(headDim) is not FLUX.1's 128: the RoPE axes "
                          + "(axes_dims_rope) cannot be read from the weights; put the model's transformer/config.json beside them")
        }
        if let declared, declared.attentionHeadDim == headDim, declared.axesDimsRope.reduce(0, &+) == headDim {
            c.axesDimsRope = declared.axesDimsRope
            c.ropeTheta = declared.ropeTheta
        } else {
            c.axesDimsRope = defaultAxes(headDim: headDim)
        }
        do { try c.validate(path: component) } catch ModelError.badConfig(_, let reason) {
            throw problem("the config inferred from the tensor shapes is out of bounds: \(reason)")
        }
        return c
    }

    /// [16, 56, 56] for 128; a proportional even split otherwise.
    public static func defaultAxes(headDim: Int) -> [Int] {
        if headDim == 128 { return [16, 56, 56] }
        let first = max(2, (headDim / 8) & ~1)
        let rest = headDim - first
        let a = (rest / 2) & ~1
        return [first, a, rest - a]
    }

    /// Checks internal consistency; returns problems as text.
    public func problems() -> [String] {
        var p: [String] = []
        do { try validate(path: "transformer config") } catch ModelError.badConfig(_, let reason) { p.append(reason) } catch { p.append("\(error)") }
        if inChannels % 4 != 0 { p.append("in_channels \(inChannels) is not 4 x latent channels") }
        return p
    }
}

extension FluxConfig: ValidatedConfig {
    /// Checks every value against `ConfigBounds`: block counts 0...512 each (a model may lack one kind),
    /// at least one block, widths, heads, RoPE axes (1...8 even sizes summing to the head size),
    /// `mlp_ratio` in (0, 64] and `rope_theta` in (0, 1e12].
    public func validate(path: String) throws {
        let c = ConfigCheck(path: path)
        try c.int("in_channels", inChannels, ConfigBounds.dims)
        if let outChannels { try c.int("out_channels", outChannels, ConfigBounds.dims) }
        try c.int("num_layers", numLayers, 0...ConfigBounds.layers.upperBound)
        try c.int("num_single_layers", numSingleLayers, 0...ConfigBounds.layers.upperBound)
        try c.int("num_layers + num_single_layers", numLayers + numSingleLayers, ConfigBounds.layers.lowerBound...(2 * ConfigBounds.layers.upperBound))
        try c.int("attention_head_dim", attentionHeadDim, ConfigBounds.dims)
        try c.int("num_attention_heads", numAttentionHeads, ConfigBounds.heads)
        try c.int("num_attention_heads x attention_head_dim", numAttentionHeads * attentionHeadDim, ConfigBounds.dims)
        try c.int("joint_attention_dim", jointAttentionDim, ConfigBounds.dims)
        try c.int("pooled_projection_dim", pooledProjectionDim, ConfigBounds.dims)
        try c.int("number of axes_dims_rope", axesDimsRope.count, 1...8)
        for (i, a) in axesDimsRope.enumerated() {
            try c.int("axes_dims_rope[\(i)]", a, 0...ConfigBounds.dims.upperBound)
            if a % 2 != 0 { throw c.error("axes_dims_rope[\(i)]", "must be even, got \(a)") }
        }
        if axesDimsRope.reduce(0, +) != attentionHeadDim {
            throw c.error("axes_dims_rope", "\(axesDimsRope) must sum to attention_head_dim \(attentionHeadDim)")
        }
        try c.positive("mlp_ratio", mlpRatio, max: 64)
        try c.int("mlp_ratio x hidden size", mlpHiddenSize, ConfigBounds.dims.lowerBound...(64 * ConfigBounds.dims.upperBound))
        try c.positive("rope_theta", ropeTheta, max: 1e12)
    }
}
