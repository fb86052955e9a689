/// Which model a LoRA update belongs to.
public enum LoRAComponent: String, Sendable, Hashable, CaseIterable {
    /// The Flux DiT (BFL layer names).
    case transformer
    /// The CLIP-L text encoder (Hugging Face names, `text_model.encoder.layers.N...`).
    case clip
}

/// The key conventions LoRA files for Flux use (../shared/docs/lora-and-conditioning.md).
public enum LoRAKeyFormat: String, Sendable, Hashable {
    case diffusers = "diffusers/PEFT"
    case kohya = "kohya"
    case xlabs = "XLabs"
    case bfl = "ComfyUI/BFL"
}

/// Where one update of a LoRA file goes: a Linear of ours, by its canonical name, and for
/// diffusers' separate q/k/v/mlp projections the slice of the fused BFL weight it fills.
struct LoRATarget: Hashable {
    let component: LoRAComponent
    /// Our Linear's name (BFL for the DiT: `double_blocks.0.img_attn.qkv`; HF for CLIP).
    let layer: String
    /// Part of a fused weight: q, k, v are parts 0, 1, 2 of `in` rows each, the single blocks' MLP
    /// part 3 (the rows after 3 * in), `qkvPart` all of q, k, v (XLabs' single blocks). nil: the whole weight.
    let part: Int?
    static let qkvPart = -1
    /// diffusers' `norm_out.linear` holds (scale, shift); BFL's adaLN_modulation.1 (shift, scale).
    let swapHalves: Bool

    init(_ component: LoRAComponent, _ layer: String, part: Int? = nil, swapHalves: Bool = false) {
        self.component = component
        self.layer = layer
        self.part = part
        self.swapHalves = swapHalves
    }
}

/// Module keys (a tensor name without its `.lora_A.weight`-style role) to our layers, for every
/// format. Each table is written once in dotted form; kohya's underscore forms are derived from it.
enum LoRAKeys {
    /// diffusers double-block suffix -> BFL suffix and part.
    static let doubleDiffusers: [String: (String, Int?)] = [
        "attn.to_q": ("img_attn.qkv", 0), "attn.to_k": ("img_attn.qkv", 1), "attn.to_v": ("img_attn.qkv", 2),
        "attn.add_q_proj": ("txt_attn.qkv", 0), "attn.add_k_proj": ("txt_attn.qkv", 1), "attn.add_v_proj": ("txt_attn.qkv", 2),
        "attn.to_out.0": ("img_attn.proj", nil), "attn.to_add_out": ("txt_attn.proj", nil),
        "ff.net.0.proj": ("img_mlp.0", nil), "ff.net.2": ("img_mlp.2", nil),
        "ff_context.net.0.proj": ("txt_mlp.0", nil), "ff_context.net.2": ("txt_mlp.2", nil),
        "norm1.linear": ("img_mod.lin", nil), "norm1_context.linear": ("txt_mod.lin", nil),
    ]
    /// diffusers single-block suffix -> BFL suffix and part.
    static let singleDiffusers: [String: (String, Int?)] = [
        "attn.to_q": ("linear1", 0), "attn.to_k": ("linear1", 1), "attn.to_v": ("linear1", 2), "proj_mlp": ("linear1", 3),
        "proj_out": ("linear2", nil), "norm.linear": ("modulation.lin", nil),
    ]
    /// diffusers names outside the blocks -> BFL names.
    static let outsideDiffusers: [String: String] = [
        "x_embedder": "img_in", "context_embedder": "txt_in", "proj_out": "final_layer.linear",
        "norm_out.linear": "final_layer.adaLN_modulation.1",
        "time_text_embed.timestep_embedder.linear_1": "time_in.in_layer", "time_text_embed.timestep_embedder.linear_2": "time_in.out_layer",
        "time_text_embed.text_embedder.linear_1": "vector_in.in_layer", "time_text_embed.text_embedder.linear_2": "vector_in.out_layer",
        "time_text_embed.guidance_embedder.linear_1": "guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_2": "guidance_in.out_layer",
    ]
    static let doubleBFL = ["img_attn.qkv", "img_attn.proj", "img_mlp.0", "img_mlp.2", "img_mod.lin",
                            "txt_attn.qkv", "txt_attn.proj", "txt_mlp.0", "txt_mlp.2", "txt_mod.lin"]
    static let singleBFL = ["linear1", "linear2", "modulation.lin"]
    static let outsideBFL = ["img_in", "txt_in", "time_in.in_layer", "time_in.out_layer", "vector_in.in_layer", "vector_in.out_layer",
                             "guidance_in.in_layer", "guidance_in.out_layer", "final_layer.linear", "final_layer.adaLN_modulation.1"]
    static let clipLayer = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2"]
    static let clipLayers = "text_model.encoder.layers"

    /// XLabs processor LoRAs -> BFL suffix (their qkv LoRAs act on the fused qkv rows).
    static let xlabsDouble = ["qkv_lora1": "img_attn.qkv", "proj_lora1": "img_attn.proj", "qkv_lora2": "txt_attn.qkv", "proj_lora2": "txt_attn.proj"]
    static let xlabsSingle = ["qkv_lora": ("linear1", LoRATarget.qkvPart), "proj_lora": ("linear2", nil)]

    /// The target of a module key, and the format it is written in; nil when it names no layer we have.
    static func target(module key: String) -> (LoRATarget, LoRAKeyFormat)? {
        if let rest = key.dropPrefix("lora_unet_") {
            return bfl(rest, separator: "_").map { ($0, .kohya) }
        }
        if let rest = key.dropPrefix("lora_transformer_") {
            return diffusers(rest, separator: "_").map { ($0, .kohya) }
        }
        for p in ["lora_te1_", "lora_te_"] {
            if let rest = key.dropPrefix(p) { return clip(rest, separator: "_").map { ($0, .kohya) } }
        }
        var k = key
        for p in ["base_model.model.", "model.diffusion_model.", "diffusion_model.", "transformer."] {
            if let rest = k.dropPrefix(p) { k = rest }
        }
        if let rest = k.dropPrefix("text_encoder.") { return clip(rest, separator: ".").map { ($0, .diffusers) } }
        if k.contains(".processor.") { return xlabs(k).map { ($0, .xlabs) } }
        if let t = bfl(k, separator: ".") { return (t, .bfl) }
        if let t = diffusers(k, separator: ".") { return (t, .diffusers) }
        return nil
    }

    static func bfl(_ s: String, separator: Character) -> LoRATarget? {
        for (blocks, table) in [("double_blocks", doubleBFL), ("single_blocks", singleBFL)] {
            if let (n, rest) = block(s, prefix: blocks, separator: separator),
               let layer = table.first(where: { sep($0, separator) == rest }) {
                return LoRATarget(.transformer, "\(blocks).\(n).\(layer)")
            }
        }
        return outsideBFL.first { sep($0, separator) == s }.map { LoRATarget(.transformer, $0) }
    }

    static func diffusers(_ s: String, separator: Character) -> LoRATarget? {
        for (blocks, bflBlocks, table) in [("transformer_blocks", "double_blocks", doubleDiffusers),
                                           ("single_transformer_blocks", "single_blocks", singleDiffusers)] {
            if let (n, rest) = block(s, prefix: blocks, separator: separator),
               let (suffix, (layer, part)) = table.first(where: { sep($0.key, separator) == rest }) {
                _ = suffix
                return LoRATarget(.transformer, "\(bflBlocks).\(n).\(layer)", part: part)
            }
        }
        guard let (_, layer) = outsideDiffusers.first(where: { sep($0.key, separator) == s }) else { return nil }
        return LoRATarget(.transformer, layer, swapHalves: layer == "final_layer.adaLN_modulation.1")
    }

    static func clip(_ s: String, separator: Character) -> LoRATarget? {
        // transformers 5 saves CLIP without the `text_model.` level.
        let s = s.hasPrefix(sep("encoder.layers", separator)) ? sep("text_model.", separator) + s : s
        guard let (n, rest) = block(s, prefix: sep(clipLayers, separator), separator: separator),
              let layer = clipLayer.first(where: { sep($0, separator) == rest }) else { return nil }
        return LoRATarget(.clip, "\(clipLayers).\(n).\(layer)")
    }

    static func xlabs(_ s: String) -> LoRATarget? {
        let parts = s.components(separatedBy: ".processor.")
        guard parts.count == 2 else { return nil }
        guard let (n, rest) = block(parts[0], prefix: "double_blocks", separator: ".") ?? block(parts[0], prefix: "single_blocks", separator: "."),
              rest.isEmpty else { return nil }
        if parts[0].hasPrefix("double_blocks"), let layer = xlabsDouble[parts[1]] {
            return LoRATarget(.transformer, "double_blocks.\(n).\(layer)")
        }
        if parts[0].hasPrefix("single_blocks"), let (layer, part) = xlabsSingle[parts[1]] {
            return LoRATarget(.transformer, "single_blocks.\(n).\(layer)", part: part)
        }
        return nil
    }

    /// `prefix<sep>N<sep>rest` -> (N, rest); `prefix<sep>N` -> (N, "").
    static func block(_ s: String, prefix: String, separator: Character) -> (Int, String)? {
        guard let afterPrefix = s.dropPrefix(prefix + String(separator)) else { return nil }
        let digits = afterPrefix.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let n = Int(digits) else { return nil }
        let rest = afterPrefix.dropFirst(digits.count)
        if rest.isEmpty { return (n, "") }
        guard rest.first == separator else { return nil }
        return (n, String(rest.dropFirst()))
    }

    /// A dotted name written with `separator` (kohya replaces every "." by "_").
    static func sep(_ dotted: String, _ separator: Character) -> String {
        separator == "." ? dotted : String(dotted.map { $0 == "." ? separator : $0 })
    }
}

extension String {
    /// The rest after `prefix`, or nil when the string does not start with it.
    func dropPrefix(_ prefix: String) -> String? { hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil }
}
