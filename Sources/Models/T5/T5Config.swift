/// Hyper-parameters of a T5 v1.1 encoder (`text_encoder_2/config.json`).
public struct T5Config: Codable, Sendable, Equatable {
    public var vocabSize = 32128
    public var dModel = 4096
    public var dKV = 64
    public var dFF = 10240
    public var numHeads = 64
    public var numLayers = 24
    public var relativeAttentionNumBuckets = 32
    public var relativeAttentionMaxDistance = 128
    public var layerNormEpsilon: Double = 1e-6
    /// "gated-gelu" (v1.1: gelu_new = tanh approximation) or "relu" (v1.0).
    public var feedForwardProj = "gated-gelu"

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", dModel = "d_model", dKV = "d_kv", dFF = "d_ff", numHeads = "num_heads"
        case numLayers = "num_layers", relativeAttentionNumBuckets = "relative_attention_num_buckets"
        case relativeAttentionMaxDistance = "relative_attention_max_distance"
        case layerNormEpsilon = "layer_norm_epsilon", feedForwardProj = "feed_forward_proj"
    }

    /// T5 v1.1 XXL as FLUX.1 ships it.
    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = T5Config()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        dModel = try c.decodeIfPresent(Int.self, forKey: .dModel) ?? d.dModel
        dKV = try c.decodeIfPresent(Int.self, forKey: .dKV) ?? d.dKV
        dFF = try c.decodeIfPresent(Int.self, forKey: .dFF) ?? d.dFF
        numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads) ?? d.numHeads
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers) ?? d.numLayers
        relativeAttentionNumBuckets = try c.decodeIfPresent(Int.self, forKey: .relativeAttentionNumBuckets) ?? d.relativeAttentionNumBuckets
        relativeAttentionMaxDistance = try c.decodeIfPresent(Int.self, forKey: .relativeAttentionMaxDistance) ?? d.relativeAttentionMaxDistance
        layerNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .layerNormEpsilon) ?? d.layerNormEpsilon
        feedForwardProj = try c.decodeIfPresent(String.self, forKey: .feedForwardProj) ?? d.feedForwardProj
    }
}
