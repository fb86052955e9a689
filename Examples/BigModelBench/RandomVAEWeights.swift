import Models
import Tensor

/// Random f32 weights for an AutoencoderKL of any config, under the BFL names the model loads
/// (a stand-in for ae.safetensors when only time and memory matter).
enum RandomVAEWeights {
    static func make(_ c: AutoencoderConfig, seed: UInt64 = 0) -> DictionaryWeights {
        let rng = TorchGenerator(seed: seed)
        var t: [String: Tensor] = [:]
        func conv(_ p: String, _ cin: Int, _ cout: Int, _ k: Int) {
            let std = Float(1 / Double(cin * k * k).squareRoot())
            t[p + ".weight"] = rng.randn([cout, cin, k, k]) * std
            t[p + ".bias"] = rng.randn([cout]) * 0.01
        }
        func norm(_ p: String, _ ch: Int) {
            t[p + ".weight"] = Tensor([Float](repeating: 1, count: ch), shape: [ch])
            t[p + ".bias"] = Tensor([Float](repeating: 0, count: ch), shape: [ch])
        }
        func resnet(_ p: String, _ cin: Int, _ cout: Int) {
            norm(p + ".norm1", cin)
            conv(p + ".conv1", cin, cout, 3)
            norm(p + ".norm2", cout)
            conv(p + ".conv2", cout, cout, 3)
            if cin != cout { conv(p + ".nin_shortcut", cin, cout, 1) }
        }
        func mid(_ p: String, _ ch: Int) {
            resnet(p + ".block_1", ch, ch)
            norm(p + ".attn_1.norm", ch)
            for x in ["q", "k", "v", "proj_out"] { conv(p + ".attn_1." + x, ch, ch, 1) }
            resnet(p + ".block_2", ch, ch)
        }
        let ch = c.blockOutChannels, n = ch.count
        // Decoder.
        conv("decoder.conv_in", c.latentChannels, ch[n - 1], 3)
        mid("decoder.mid", ch[n - 1])
        var cin = ch[n - 1]
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in 0...c.layersPerBlock {
                resnet("decoder.up.\(i).block.\(j)", j == 0 ? cin : ch[i], ch[i])
            }
            cin = ch[i]
            if i != 0 { conv("decoder.up.\(i).upsample.conv", ch[i], ch[i], 3) }
        }
        norm("decoder.norm_out", ch[0])
        conv("decoder.conv_out", ch[0], c.outChannels, 3)
        return DictionaryWeights(t)
    }
}
