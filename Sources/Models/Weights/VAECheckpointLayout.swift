/// Flux VAE key layouts: BFL `ae.safetensors` (canonical here) and diffusers `vae/`.
public enum VAECheckpointLayout {
    /// The source presented under BFL names.
    public static func canonical(_ source: WeightSource, config: AutoencoderConfig) throws -> WeightSource {
        try config.validate(path: "VAE config")  // the recipes loop over its levels and blocks
        let names = Set(source.names)
        if names.contains("decoder.conv_in.weight") && !names.contains("decoder.up_blocks.0.resnets.0.conv1.weight") {
            return source
        }
        if names.contains("decoder.up_blocks.0.resnets.0.conv1.weight") {
            return MappedWeights(source, recipes: diffusersRecipes(names, config: config))
        }
        let prefixed = source.names.contains { $0.hasPrefix("vae.decoder.") }
        if prefixed { return try canonical(PrefixedWeights(source, prefix: "vae."), config: config) }
        throw ModelError.weights(component: "vae", problems: ["no VAE decoder found: expected decoder.conv_in.weight"])
    }

    /// BFL name -> recipe over diffusers names.
    static func diffusersRecipes(_ names: Set<String>, config c: AutoencoderConfig) -> [String: WeightRecipe] {
        var r: [String: WeightRecipe] = [:]
        let n = c.blockOutChannels.count
        func rename(_ bfl: String, _ d: String) {
            for s in ["weight", "bias"] where names.contains("\(d).\(s)") { r["\(bfl).\(s)"] = .rename("\(d).\(s)") }
        }
        func resnet(_ bfl: String, _ d: String) {
            for part in ["norm1", "conv1", "norm2", "conv2"] { rename("\(bfl).\(part)", "\(d).\(part)") }
            rename("\(bfl).nin_shortcut", "\(d).conv_shortcut")
        }
        func mid(_ side: String) {
            resnet("\(side).mid.block_1", "\(side).mid_block.resnets.0")
            resnet("\(side).mid.block_2", "\(side).mid_block.resnets.1")
            let a = "\(side).mid_block.attentions.0"
            rename("\(side).mid.attn_1.norm", "\(a).group_norm")
            let ch = c.blockOutChannels[n - 1]
            for (bfl, d) in [("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")] {
                // diffusers stores these 1x1 convs as Linear weights (C, C); reshape accepts either.
                r["\(side).mid.attn_1.\(bfl).weight"] = .reshape("\(a).\(d).weight", [ch, ch, 1, 1])
                r["\(side).mid.attn_1.\(bfl).bias"] = .rename("\(a).\(d).bias")
            }
            rename("\(side).norm_out", "\(side).conv_norm_out")
            rename("\(side).conv_in", "\(side).conv_in")
            rename("\(side).conv_out", "\(side).conv_out")
        }
        mid("encoder")
        mid("decoder")
        for i in 0..<n {
            for j in 0..<c.layersPerBlock { resnet("encoder.down.\(i).block.\(j)", "encoder.down_blocks.\(i).resnets.\(j)") }
            rename("encoder.down.\(i).downsample.conv", "encoder.down_blocks.\(i).downsamplers.0.conv")
            let d = n - 1 - i
            for j in 0...c.layersPerBlock { resnet("decoder.up.\(i).block.\(j)", "decoder.up_blocks.\(d).resnets.\(j)") }
            rename("decoder.up.\(i).upsample.conv", "decoder.up_blocks.\(d).upsamplers.0.conv")
        }
        return r
    }
}
