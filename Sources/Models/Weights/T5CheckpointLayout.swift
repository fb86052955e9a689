/// The key layouts T5 encoder checkpoints come in: Hugging Face's (`encoder.block.N.layer.0.SelfAttention.q.weight`,
/// what `T5Encoder` loads) and llama.cpp's GGUF names (`enc.blk.N.attn_q.weight`, as in the T5-XXL encoder
/// GGUF files ComfyUI-GGUF users run).
public enum T5CheckpointLayout: Sendable {
    /// llama.cpp name (after `enc.blk.N.`) -> Hugging Face name (after `encoder.block.N.`), the inverse of
    /// gguf-py's `tensor_mapping.py` for T5 (and of ComfyUI-GGUF's `T5_SD_MAP`). `ffn_up` is `wi_1` beside a
    /// gate (`ffn_gate` = `wi_0`, gated-GELU v1.1) and `wi` without one (v1.0).
    static let blockNames: [(String, String)] = [
        ("attn_norm", "layer.0.layer_norm"),
        ("attn_q", "layer.0.SelfAttention.q"),
        ("attn_k", "layer.0.SelfAttention.k"),
        ("attn_v", "layer.0.SelfAttention.v"),
        ("attn_o", "layer.0.SelfAttention.o"),
        ("attn_rel_b", "layer.0.SelfAttention.relative_attention_bias"),
        ("ffn_norm", "layer.1.layer_norm"),
        ("ffn_gate", "layer.1.DenseReluDense.wi_0"),
        ("ffn_down", "layer.1.DenseReluDense.wo"),
    ]

    /// True when `names` are llama.cpp T5 encoder names.
    public static func isLlamaCpp(_ names: [String]) -> Bool {
        names.contains { $0.hasPrefix("enc.blk.") || $0 == "enc.output_norm.weight" }
    }

    /// The source under Hugging Face names when it holds llama.cpp names; otherwise the source itself.
    public static func canonical(_ source: WeightSource) -> WeightSource {
        let names = source.names
        guard isLlamaCpp(names) else { return source }
        var r: [String: WeightRecipe] = [:]
        let present = Set(names)
        if present.contains("token_embd.weight") { r["shared.weight"] = .rename("token_embd.weight") }
        if present.contains("enc.output_norm.weight") { r["encoder.final_layer_norm.weight"] = .rename("enc.output_norm.weight") }
        for n in blockIndices(names, prefix: "enc.blk.") {
            let src = "enc.blk.\(n).", dst = "encoder.block.\(n)."
            for (ours, theirs) in blockNames where present.contains(src + ours + ".weight") {
                r[dst + theirs + ".weight"] = .rename(src + ours + ".weight")
            }
            if present.contains(src + "ffn_up.weight") {
                let up = present.contains(src + "ffn_gate.weight") ? "layer.1.DenseReluDense.wi_1" : "layer.1.DenseReluDense.wi"
                r[dst + up + ".weight"] = .rename(src + "ffn_up.weight")
            }
        }
        return MappedWeights(source, recipes: r)
    }
}
