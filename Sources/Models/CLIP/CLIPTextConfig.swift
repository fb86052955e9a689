/// Hyper-parameters of a CLIP text transformer (`text_encoder/config.json`).
public struct CLIPTextConfig: Codable, Sendable, Equatable {
    public var vocabSize = 49408
    public var hiddenSize = 768
    public var intermediateSize = 3072
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var maxPositionEmbeddings = 77
    public var layerNormEps: Double = 1e-5
    /// "quick_gelu" (OpenAI CLIP) or "gelu".
    public var hiddenAct = "quick_gelu"
    /// 2 in legacy configs: then the pooled token is argmax(input_ids) (the first EOS for CLIP vocab).
    public var eosTokenId = 2
    /// transformers' `model_type` ("clip_text_model"), when the file says: a T5 or VAE config given as
    /// CLIP's is refused by it instead of sizing a model from the wrong keys' defaults.
    public var modelType: String?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings", layerNormEps = "layer_norm_eps"
        case hiddenAct = "hidden_act", eosTokenId = "eos_token_id", modelType = "model_type"
    }

    /// CLIP ViT-L/14's text tower, as FLUX.1 ships it.
    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPTextConfig()
        vocabSize = try c.decodeIntIfPresent(.vocabSize) ?? d.vocabSize
        hiddenSize = try c.decodeIntIfPresent(.hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIntIfPresent(.intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIntIfPresent(.numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIntIfPresent(.numAttentionHeads) ?? d.numAttentionHeads
        maxPositionEmbeddings = try c.decodeIntIfPresent(.maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? d.layerNormEps
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        eosTokenId = try c.decodeIntIfPresent(.eosTokenId) ?? d.eosTokenId
        modelType = try? c.decodeIfPresent(String.self, forKey: .modelType)
    }
}

extension CLIPTextConfig: ValidatedConfig {
    /// Checks every value against `ConfigBounds`; the hidden size must split evenly into the heads.
    public func validate(path: String) throws {
        let c = ConfigCheck(path: path)
        if let modelType, !["clip_text_model", "clip"].contains(modelType) {
            throw ModelError.badConfig(path: path, reason: "model_type \"\(modelType.prefix(40))\" is not a CLIP text encoder's config (clip_text_model): another component's file?")
        }
        try c.int("vocab_size", vocabSize, ConfigBounds.vocab)
        try c.int("hidden_size", hiddenSize, ConfigBounds.dims)
        try c.int("intermediate_size", intermediateSize, ConfigBounds.dims)
        try c.int("num_hidden_layers", numHiddenLayers, ConfigBounds.layers)
        try c.int("num_attention_heads", numAttentionHeads, ConfigBounds.heads)
        try c.divisible("hidden_size", hiddenSize, by: "num_attention_heads", numAttentionHeads)
        try c.int("max_position_embeddings", maxPositionEmbeddings, ConfigBounds.dims)
        try c.double("layer_norm_eps", layerNormEps, 0...1)
        try c.int("eos_token_id", eosTokenId, 0...(vocabSize - 1))
    }
}
