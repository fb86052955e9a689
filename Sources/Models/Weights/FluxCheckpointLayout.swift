/// The key layouts Flux DiT checkpoints come in, and the mapping of each to BFL names.
public enum FluxCheckpointLayout: String, Sendable {
    /// black-forest-labs single file (`img_in.weight`, `double_blocks.N...`).
    case bfl
    /// BFL names under ComfyUI's `model.diffusion_model.` prefix (majicflus_v134.safetensors).
    case comfyUI
    /// diffusers `transformer/` folder (`x_embedder.weight`, `transformer_blocks.N...`).
    case diffusers

    static let comfyPrefix = "model.diffusion_model."

    /// Recognises the layout from tensor names; nil when it is no Flux DiT.
    public static func detect(_ names: [String]) -> FluxCheckpointLayout? {
        let set = Set(names)
        if set.contains("img_in.weight") { return .bfl }
        if set.contains(comfyPrefix + "img_in.weight") { return .comfyUI }
        if set.contains("x_embedder.weight") { return .diffusers }
        return nil
    }

    /// The source presented under BFL names.
    /// `component` names the file in errors ("transformer (path)").
    public static func canonical(_ source: WeightSource, component: String = "transformer") throws -> WeightSource {
        switch detect(source.names) {
        case .bfl: return source
        case .comfyUI: return PrefixedWeights(source, prefix: comfyPrefix)
        case .diffusers:
            // Scaled layers are dequantized first: fused q/k/v of separately scaled parts would lose their scales.
            let plain = try DequantizedWeights.wrapping(source, component: "transformer (Flux DiT)")
            return MappedWeights(plain, recipes: diffusersRecipes(plain.names))
        case nil:
            let looks = CheckpointKind.guess(source.names).map { " It looks like \($0), not a DiT." } ?? ""
            throw ModelError.weights(component: component,
                                     problems: ["no Flux DiT found: expected img_in.weight (BFL), \(comfyPrefix)img_in.weight (ComfyUI) or x_embedder.weight (diffusers)." + looks])
        }
    }

    /// BFL name -> recipe over diffusers names.
    static func diffusersRecipes(_ names: [String]) -> [String: WeightRecipe] {
        var r: [String: WeightRecipe] = [:]
        func both(_ bfl: String, _ recipe: (String) -> WeightRecipe) {
            for s in ["weight", "bias"] { r["\(bfl).\(s)"] = recipe(s) }
        }
        func rename(_ bfl: String, _ d: String) { both(bfl) { .rename("\(d).\($0)") } }
        rename("img_in", "x_embedder")
        rename("txt_in", "context_embedder")
        for (bfl, d) in [("time_in", "timestep_embedder"), ("vector_in", "text_embedder"), ("guidance_in", "guidance_embedder")]
        where names.contains("time_text_embed.\(d).linear_1.weight") {
            rename("\(bfl).in_layer", "time_text_embed.\(d).linear_1")
            rename("\(bfl).out_layer", "time_text_embed.\(d).linear_2")
        }
        rename("final_layer.linear", "proj_out")
        both("final_layer.adaLN_modulation.1") { .swapHalves("norm_out.linear.\($0)") }

        for n in blockIndices(names, prefix: "transformer_blocks.") {
            let b = "double_blocks.\(n)", d = "transformer_blocks.\(n)"
            rename("\(b).img_mod.lin", "\(d).norm1.linear")
            rename("\(b).txt_mod.lin", "\(d).norm1_context.linear")
            both("\(b).img_attn.qkv") { s in .concat(["to_q", "to_k", "to_v"].map { "\(d).attn.\($0).\(s)" }) }
            both("\(b).txt_attn.qkv") { s in .concat(["add_q_proj", "add_k_proj", "add_v_proj"].map { "\(d).attn.\($0).\(s)" }) }
            r["\(b).img_attn.norm.query_norm.scale"] = .rename("\(d).attn.norm_q.weight")
            r["\(b).img_attn.norm.key_norm.scale"] = .rename("\(d).attn.norm_k.weight")
            r["\(b).txt_attn.norm.query_norm.scale"] = .rename("\(d).attn.norm_added_q.weight")
            r["\(b).txt_attn.norm.key_norm.scale"] = .rename("\(d).attn.norm_added_k.weight")
            rename("\(b).img_attn.proj", "\(d).attn.to_out.0")
            rename("\(b).txt_attn.proj", "\(d).attn.to_add_out")
            rename("\(b).img_mlp.0", "\(d).ff.net.0.proj")
            rename("\(b).img_mlp.2", "\(d).ff.net.2")
            rename("\(b).txt_mlp.0", "\(d).ff_context.net.0.proj")
            rename("\(b).txt_mlp.2", "\(d).ff_context.net.2")
        }
        for n in blockIndices(names, prefix: "single_transformer_blocks.") {
            let b = "single_blocks.\(n)", d = "single_transformer_blocks.\(n)"
            both("\(b).linear1") { s in .concat(["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"].map { "\(d).\($0).\(s)" }) }
            rename("\(b).linear2", "\(d).proj_out")
            rename("\(b).modulation.lin", "\(d).norm.linear")
            r["\(b).norm.query_norm.scale"] = .rename("\(d).attn.norm_q.weight")
            r["\(b).norm.key_norm.scale"] = .rename("\(d).attn.norm_k.weight")
        }
        return r
    }
}

/// The distinct integers N in names `prefix + N + ".…"`, sorted.
func blockIndices(_ names: [String], prefix: String) -> [Int] {
    Set(names.compactMap { n -> Int? in
        guard n.hasPrefix(prefix) else { return nil }
        return Int(n.dropFirst(prefix.count).prefix { $0 != "." })
    }).sorted()
}
