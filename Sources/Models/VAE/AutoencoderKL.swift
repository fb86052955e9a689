import Tensor

/// The Flux VAE decoder: latents (B, z, h, w) -> images (B, 3, 8h, 8w) in about [-1, 1].
public final class VAEDecoder {
    let convIn, convOut: Conv2d
    let mid: VAEMid
    /// Levels from the deepest (index = BFL `up.{i}`), each with its resnets and optional upsampler.
    let levels: [(blocks: [ResnetBlock], upsample: Conv2d?)]
    let normOut: GroupNorm
    public let config: AutoencoderConfig

    init(_ w: WeightLoader, _ c: AutoencoderConfig) {
        config = c
        let ch = c.blockOutChannels, g = c.normNumGroups, n = ch.count
        convIn = Conv2d(w, "decoder.conv_in", in: c.latentChannels, out: ch[n - 1], kernel: 3)
        mid = VAEMid(w, "decoder.mid", channels: ch[n - 1], groups: g)
        var levels: [(blocks: [ResnetBlock], upsample: Conv2d?)] = []
        var cin = ch[n - 1]
        for i in stride(from: n - 1, through: 0, by: -1) {
            let cout = ch[i]
            let blocks = (0...c.layersPerBlock).map { j -> ResnetBlock in
                defer { cin = cout }
                return ResnetBlock(w, "decoder.up.\(i).block.\(j)", in: j == 0 ? cin : cout, out: cout, groups: g)
            }
            let up = i != 0 ? Conv2d(w, "decoder.up.\(i).upsample.conv", in: cout, out: cout, kernel: 3) : nil
            levels.append((blocks, up))
        }
        self.levels = levels
        normOut = GroupNorm(w, "decoder.norm_out", channels: ch[0], groups: g)
        convOut = Conv2d(w, "decoder.conv_out", in: ch[0], out: c.outChannels, kernel: 3)
    }

    /// Decodes raw latents (already un-scaled: z / scaling + shift).
    public func callAsFunction(_ z: Tensor) -> Tensor {
        var h = mid(convIn(z))
        for level in levels {
            for b in level.blocks { h = b(h) }
            if let up = level.upsample { h = up(upsampleNearest2x(h)) }
        }
        return convOut(normOut.silu(h))
    }
}

/// The Flux VAE encoder: images (B, 3, H, W) in [-1, 1] -> latent mean (B, z, H/8, W/8).
public final class VAEEncoder {
    let convIn, convOut: Conv2d
    let levels: [(blocks: [ResnetBlock], downsample: Conv2d?)]
    let mid: VAEMid
    let normOut: GroupNorm
    let latentChannels: Int

    init(_ w: WeightLoader, _ c: AutoencoderConfig) {
        let ch = c.blockOutChannels, g = c.normNumGroups, n = ch.count
        latentChannels = c.latentChannels
        convIn = Conv2d(w, "encoder.conv_in", in: c.inChannels, out: ch[0], kernel: 3)
        var levels: [(blocks: [ResnetBlock], downsample: Conv2d?)] = []
        var cin = ch[0]
        for i in 0..<n {
            let cout = ch[i]
            let blocks = (0..<c.layersPerBlock).map { j -> ResnetBlock in
                defer { cin = cout }
                return ResnetBlock(w, "encoder.down.\(i).block.\(j)", in: j == 0 ? cin : cout, out: cout, groups: g)
            }
            // Downsampling pads (0, 1, 0, 1) and convolves 3x3 with stride 2.
            let down = i != n - 1 ? Conv2d(w, "encoder.down.\(i).downsample.conv", in: cout, out: cout, kernel: 3,
                                           stride: 2, padding: (0, 1, 0, 1)) : nil
            levels.append((blocks, down))
        }
        self.levels = levels
        mid = VAEMid(w, "encoder.mid", channels: ch[n - 1], groups: g)
        normOut = GroupNorm(w, "encoder.norm_out", channels: ch[n - 1], groups: g)
        convOut = Conv2d(w, "encoder.conv_out", in: ch[n - 1], out: 2 * c.latentChannels, kernel: 3)
    }

    /// The mean of the latent distribution (the log-variance half is dropped).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = convIn(x)
        for level in levels {
            for b in level.blocks { h = b(h) }
            if let down = level.downsample { h = down(h) }
        }
        h = convOut(normOut.silu(mid(h)))
        return h.slice(dim: 1, start: 0, end: latentChannels).contiguous()
    }
}

/// The Flux AutoencoderKL: a decoder and, when the checkpoint has one, an encoder.
public final class AutoencoderKL {
    public let config: AutoencoderConfig
    public let decoder: VAEDecoder
    public let encoder: VAEEncoder?

    /// Loads BFL-named weights (`decoder.*`, optionally `encoder.*`).
    public init(config: AutoencoderConfig, weights source: WeightSource, computeDType: DType? = .f32,
                backend: any Backend = CPUBackend.shared) throws {
        // Configs from files were checked when read; this also covers configs made in code.
        try config.validate(path: "VAE config")
        self.config = config
        let w = WeightLoader(source, component: "vae")
        w.backend = backend
        w.computeDType = computeDType
        decoder = VAEDecoder(w, config)
        encoder = w.has("encoder.conv_in.weight") ? VAEEncoder(w, config) : nil
        try w.finish()
    }

    /// Latents as the DiT produces them -> image (B, 3, H, W) in about [-1, 1]:
    /// decode(z / scaling_factor + shift_factor).
    public func decode(_ latents: Tensor) -> Tensor {
        decoder(latents / Float(config.scalingFactor) + Float(config.shiftFactor))
    }

    /// Image in [-1, 1] -> scaled latents: (mean - shift) * scaling. Nil when there is no encoder.
    public func encode(_ image: Tensor) -> Tensor? {
        guard let encoder else { return nil }
        return (encoder(image) - Float(config.shiftFactor)) * Float(config.scalingFactor)
    }
}
