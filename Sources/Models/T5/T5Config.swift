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
    /// transformers' `model_type` ("t5"), when the file says: a CLIP or VAE config given as T5's is
    /// refused by it instead of sizing a model from the wrong keys' defaults.
    public var modelType: String?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", dModel = "d_model", dKV = "d_kv", dFF = "d_ff", numHeads = "num_heads"
        case numLayers = "num_layers", relativeAttentionNumBuckets = "relative_attention_num_buckets"
        case relativeAttentionMaxDistance = "relative_attention_max_distance"
        case layerNormEpsilon = "layer_norm_epsilon", feedForwardProj = "feed_forward_proj", modelType = "model_type"
    }

    /// T5 v1.1 XXL as FLUX.1 ships it.
    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = T5Config()
        vocabSize = try c.decodeIntIfPresent(.vocabSize) ?? d.vocabSize
        dModel = try c.decodeIntIfPresent(.dModel) ?? d.dModel
        dKV = try c.decodeIntIfPresent(.dKV) ?? d.dKV
        dFF = try c.decodeIntIfPresent(.dFF) ?? d.dFF
        numHeads = try c.decodeIntIfPresent(.numHeads) ?? d.numHeads
        numLayers = try c.decodeIntIfPresent(.numLayers) ?? d.numLayers
        relativeAttentionNumBuckets = try c.decodeIntIfPresent(.relativeAttentionNumBuckets) ?? d.relativeAttentionNumBuckets
        relativeAttentionMaxDistance = try c.decodeIntIfPresent(.relativeAttentionMaxDistance) ?? d.relativeAttentionMaxDistance
        layerNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .layerNormEpsilon) ?? d.layerNormEpsilon
        feedForwardProj = try c.decodeIfPresent(String.self, forKey: .feedForwardProj) ?? d.feedForwardProj
        modelType = try? c.decodeIfPresent(String.self, forKey: .modelType)
    }
}

extension T5Config: ValidatedConfig {
    /// Checks every value against `ConfigBounds`. The relative-position buckets need at least 4 (a
    /// quarter of them are exact offsets) and a maximum distance beyond those exact offsets.
    public func validate(path: String) throws {
        let c = ConfigCheck(path: path)
        if let modelType, !["t5", "umt5", "mt5"].contains(modelType) {
            throw ModelError.badConfig(path: path, reason: "model_type \"\(modelType.prefix(40))\" is not a T5 encoder's config (t5): another component's file?")
        }
        try c.int("vocab_size", vocabSize, ConfigBounds.vocab)
        try c.int("d_model", dModel, ConfigBounds.dims)
        try c.int("d_kv", dKV, ConfigBounds.dims)
        try c.int("d_ff", dFF, ConfigBounds.dims)
        try c.int("num_heads", numHeads, ConfigBounds.heads)
        try c.int("num_layers", numLayers, ConfigBounds.layers)
        try c.int("num_heads x d_kv", numHeads * dKV, ConfigBounds.dims)
        try c.int("relative_attention_num_buckets", relativeAttentionNumBuckets, 4...ConfigBounds.dims.upperBound)
        try c.int("relative_attention_max_distance", relativeAttentionMaxDistance,
                  (relativeAttentionNumBuckets / 4 + 1)...1_000_000)
        try c.double("layer_norm_epsilon", layerNormEpsilon, 0...1)
    }
}
