/// What a checkpoint given in the wrong place looks like, from its tensor names, for the error
/// (a LoRA or a VAE passed as `--dit` said only which DiT names were missing).
enum CheckpointKind {
    /// "a LoRA", "a VAE", "a CLIP text encoder", "a T5 text encoder", "a Flux DiT"; nil when unknown.
    static func guess(_ names: [String]) -> String? {
        func any(_ test: (String) -> Bool) -> Bool { names.contains(where: test) }
        if any({ $0.contains("lora_down") || $0.contains("lora_A") || $0.contains("lora_up") || $0.contains("lora_B") || $0.hasSuffix(".alpha") }) {
            return "a LoRA (lora_down / lora_A keys: pass it with --lora)"
        }
        if FluxCheckpointLayout.detect(names) != nil { return "a Flux DiT" }
        if any({ $0.hasPrefix("text_model.") || $0.hasPrefix("embeddings.token_embedding.") || $0.hasPrefix("encoder.layers.") }) {
            return "a CLIP text encoder (text_model.* / encoder.layers.* keys)"
        }
        if any({ $0.hasPrefix("encoder.block.") || $0 == "shared.weight" }) { return "a T5 text encoder (encoder.block.* keys)" }
        if any({ $0.hasPrefix("decoder.") || $0.hasPrefix("encoder.down") || $0.hasPrefix("vae.") || $0.hasPrefix("first_stage_model.") }) {
            return "a VAE (encoder/decoder keys)"
        }
        if any({ $0.hasPrefix("controlnet") }) { return "a ControlNet" }
        return nil
    }
}
