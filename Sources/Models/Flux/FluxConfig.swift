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
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? d.inChannels
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels)
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers) ?? d.numLayers
        numSingleLayers = try c.decodeIfPresent(Int.self, forKey: .numSingleLayers) ?? d.numSingleLayers
        attentionHeadDim = try c.decodeIfPresent(Int.self, forKey: .attentionHeadDim) ?? d.attentionHeadDim
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        jointAttentionDim = try c.decodeIfPresent(Int.self, forKey: .jointAttentionDim) ?? d.jointAttentionDim
        pooledProjectionDim = try c.decodeIfPresent(Int.self, forKey: .pooledProjectionDim) ?? d.pooledProjectionDim
        guidanceEmbeds = try c.decodeIfPresent(Bool.self, forKey: .guidanceEmbeds) ?? d.guidanceEmbeds
        axesDimsRope = try c.decodeIfPresent([Int].self, forKey: .axesDimsRope) ?? d.axesDimsRope
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
    public static func infer(shape: (String) -> [Int]?, names: [String], declared: FluxConfig? = nil) throws -> FluxConfig {
        func need(_ n: String) throws -> [Int] {
            guard let s = shape(n) else { throw ModelError.weights(component: "transformer", problems: ["missing \(n) (needed to infer the config)"]) }
            return s
        }
        var c = FluxConfig()
        let imgIn = try need("img_in.weight")
        let hidden = imgIn[0]
        c.inChannels = imgIn[1]
        c.outChannels = try need("final_layer.linear.weight")[0]
        c.jointAttentionDim = try need("txt_in.weight")[1]
        c.pooledProjectionDim = try need("vector_in.in_layer.weight")[1]
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
        if let s = shape("double_blocks.0.img_attn.norm.query_norm.scale") { headDim = s[0] }
        else if let s = shape("single_blocks.0.norm.query_norm.scale") { headDim = s[0] }
        else { throw ModelError.weights(component: "transformer", problems: ["no QK-norm scale to infer the head size"]) }
        guard headDim > 0, hidden % headDim == 0 else {
            throw ModelError.weights(component: "transformer", problems: ["hidden \(hidden) not divisible by head dim \(headDim)"])
        }
        c.attentionHeadDim = headDim
        c.numAttentionHeads = hidden / headDim
        if let mlp = shape("double_blocks.0.img_mlp.0.weight")?[0] { c.mlpRatio = Double(mlp) / Double(hidden) }
        else if let l1 = shape("single_blocks.0.linear1.weight")?[0] { c.mlpRatio = Double(l1 - 3 * hidden) / Double(hidden) }
        if let declared, declared.attentionHeadDim == headDim, declared.axesDimsRope.reduce(0, +) == headDim {
            c.axesDimsRope = declared.axesDimsRope
            c.ropeTheta = declared.ropeTheta
        } else {
            c.axesDimsRope = defaultAxes(headDim: headDim)
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
        if axesDimsRope.reduce(0, +) != attentionHeadDim { p.append("axes_dims_rope \(axesDimsRope) do not sum to head dim \(attentionHeadDim)") }
        if axesDimsRope.contains(where: { $0 % 2 != 0 }) { p.append("axes_dims_rope \(axesDimsRope) must be even") }
        if inChannels % 4 != 0 { p.append("in_channels \(inChannels) is not 4 x latent channels") }
        return p
    }
}
