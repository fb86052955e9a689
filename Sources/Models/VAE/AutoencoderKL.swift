import Tensor

/// The Flux VAE decoder: latents (B, z, h, w) -> images (B, 3, 8h, 8w) in about [-1, 1].
public final class VAEDecoder: Module {
    var convIn, convOut: Conv2d
    var mid: VAEMid
    /// Levels from the deepest, in running order (level `j` is BFL's `up.{n-1-j}`).
    var levels: [VAELevel]
    var normOut: GroupNorm
    public let config: AutoencoderConfig

    init(_ c: AutoencoderConfig) {
        config = c
        let ch = c.blockOutChannels, g = c.normNumGroups, n = ch.count
        convIn = Conv2d(in: c.latentChannels, out: ch[n - 1], kernel: 3)
        mid = VAEMid(channels: ch[n - 1], groups: g)
        var levels: [VAELevel] = []
        var cin = ch[n - 1]
        for i in stride(from: n - 1, through: 0, by: -1) {
            let cout = ch[i]
            let blocks = (0...c.layersPerBlock).map { j -> ResnetBlock in
                defer { cin = cout }
                return ResnetBlock(in: j == 0 ? cin : cout, out: cout, groups: g)
            }
            let up = i != 0 ? Conv2d(in: cout, out: cout, kernel: 3) : nil
            levels.append(VAELevel(blocks: blocks, resample: up, resampleKey: "upsample.conv"))
        }
        self.levels = levels
        normOut = GroupNorm(channels: ch[0], groups: g)
        convOut = Conv2d(in: ch[0], out: c.outChannels, kernel: 3)
    }

    public func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("conv_in", &convIn)
        try v.child("mid", &mid)
        for j in levels.indices { try v.child("up.\(levels.count - 1 - j)", &levels[j]) }
        try v.child("norm_out", &normOut)
        try v.child("conv_out", &convOut)
    }

    /// Decodes raw latents (already un-scaled: z / scaling + shift).
    public func callAsFunction(_ z: Tensor) -> Tensor {
        var h = mid(convIn(z))
        for level in levels {
            for b in level.blocks { h = b(h) }
            if let up = level.resample { h = up(upsampleNearest2x(h)) }
        }
        return convOut(normOut.silu(h))
    }
}

/// The Flux VAE encoder: images (B, 3, H, W) in [-1, 1] -> latent mean (B, z, H/8, W/8).
public final class VAEEncoder: Module {
    var convIn, convOut: Conv2d
    /// Levels from the finest (level `i` is BFL's `down.{i}`).
    var levels: [VAELevel]
    var mid: VAEMid
    var normOut: GroupNorm
    let latentChannels: Int

    init(_ c: AutoencoderConfig) {
        let ch = c.blockOutChannels, g = c.normNumGroups, n = ch.count
        latentChannels = c.latentChannels
        convIn = Conv2d(in: c.inChannels, out: ch[0], kernel: 3)
        var levels: [VAELevel] = []
        var cin = ch[0]
        for i in 0..<n {
            let cout = ch[i]
            let blocks = (0..<c.layersPerBlock).map { j -> ResnetBlock in
                defer { cin = cout }
                return ResnetBlock(in: j == 0 ? cin : cout, out: cout, groups: g)
            }
            // Downsampling pads (0, 1, 0, 1) and convolves 3x3 with stride 2.
            let down = i != n - 1 ? Conv2d(in: cout, out: cout, kernel: 3, stride: 2, padding: (0, 1, 0, 1)) : nil
            levels.append(VAELevel(blocks: blocks, resample: down, resampleKey: "downsample.conv"))
        }
        self.levels = levels
        mid = VAEMid(channels: ch[n - 1], groups: g)
        normOut = GroupNorm(channels: ch[n - 1], groups: g)
        convOut = Conv2d(in: ch[n - 1], out: 2 * c.latentChannels, kernel: 3)
    }

    public func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("conv_in", &convIn)
        try v.children("down", &levels)
        try v.child("mid", &mid)
        try v.child("norm_out", &normOut)
        try v.child("conv_out", &convOut)
    }

    /// The mean of the latent distribution (the log-variance half is dropped).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        moments(x).slice(dim: 1, start: 0, end: latentChannels).contiguous()
    }

    /// The latent distribution's moments (B, 2z, H/8, W/8): mean channels then log-variance channels.
    public func moments(_ x: Tensor) -> Tensor {
        var h = convIn(x)
        for level in levels {
            for b in level.blocks { h = b(h) }
            if let down = level.resample { h = down(h) }
        }
        return convOut(normOut.silu(mid(h)))
    }
}

/// The Flux AutoencoderKL: a decoder and, when the checkpoint has one, an encoder.
public final class AutoencoderKL: Module {
    public let config: AutoencoderConfig
    public private(set) var decoder: VAEDecoder
    public private(set) var encoder: VAEEncoder?

    /// Loads BFL-named weights (`decoder.*`, optionally `encoder.*`).
    public init(config: AutoencoderConfig, weights source: WeightSource, computeDType: DType? = .f32,
                backend: any Backend = CPUBackend.shared) throws {
        // Configs from files were checked when read; this also covers configs made in code.
        try config.validate(path: "VAE config")
        self.config = config
        let w = WeightLoader(source, component: "vae")
        w.backend = backend
        w.computeDType = computeDType
        decoder = VAEDecoder(config)
        encoder = w.has("encoder.conv_in.weight") ? VAEEncoder(config) : nil
        var me = self
        try w.load(&me)
        try w.finish()
    }

    /// BFL's keys; the encoder only when the checkpoint has one.
    public func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("decoder", &decoder)
        try v.child("encoder", &encoder)
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
