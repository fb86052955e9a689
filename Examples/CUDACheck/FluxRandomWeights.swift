import Models
import Tensor

/// BFL parameter names and shapes of a Flux DiT for `config` (what `FluxTransformer` loads).
enum FluxRandomWeights {
    static func shapes(_ c: FluxConfig) -> [String: [Int]] {
        let d = c.hiddenSize, m = c.mlpHiddenSize, hd = c.attentionHeadDim
        var s: [String: [Int]] = [:]
        func lin(_ p: String, _ i: Int, _ o: Int) { s["\(p).weight"] = [o, i]; s["\(p).bias"] = [o] }
        lin("img_in", c.inChannels, d)
        lin("txt_in", c.jointAttentionDim, d)
        lin("time_in.in_layer", 256, d); lin("time_in.out_layer", d, d)
        lin("vector_in.in_layer", c.pooledProjectionDim, d); lin("vector_in.out_layer", d, d)
        if c.guidanceEmbeds { lin("guidance_in.in_layer", 256, d); lin("guidance_in.out_layer", d, d) }
        for i in 0..<c.numLayers {
            let p = "double_blocks.\(i)"
            for side in ["img", "txt"] {
                lin("\(p).\(side)_mod.lin", d, 6 * d)
                lin("\(p).\(side)_attn.qkv", d, 3 * d)
                s["\(p).\(side)_attn.norm.query_norm.scale"] = [hd]
                s["\(p).\(side)_attn.norm.key_norm.scale"] = [hd]
                lin("\(p).\(side)_attn.proj", d, d)
                lin("\(p).\(side)_mlp.0", d, m)
                lin("\(p).\(side)_mlp.2", m, d)
            }
        }
        for i in 0..<c.numSingleLayers {
            let p = "single_blocks.\(i)"
            lin("\(p).modulation.lin", d, 3 * d)
            lin("\(p).linear1", d, 3 * d + m)
            lin("\(p).linear2", d + m, d)
            s["\(p).norm.query_norm.scale"] = [hd]
            s["\(p).norm.key_norm.scale"] = [hd]
        }
        lin("final_layer.adaLN_modulation.1", d, 2 * d)
        lin("final_layer.linear", d, c.resolvedOutChannels)
        return s
    }
}
