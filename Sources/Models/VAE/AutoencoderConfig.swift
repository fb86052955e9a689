/// Hyper-parameters of the Flux AutoencoderKL (diffusers `vae/config.json`).
public struct AutoencoderConfig: Codable, Sendable, Equatable {
    public var inChannels = 3
    public var outChannels = 3
    public var latentChannels = 16
    /// Channels per level: ch * ch_mult (128 * [1, 2, 4, 4]).
    public var blockOutChannels = [128, 256, 512, 512]
    /// Resnet blocks per encoder level (the decoder has one more).
    public var layersPerBlock = 2
    public var normNumGroups = 32
    public var scalingFactor: Double = 0.3611
    public var shiftFactor: Double = 0.1159

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels", outChannels = "out_channels", latentChannels = "latent_channels"
        case blockOutChannels = "block_out_channels", layersPerBlock = "layers_per_block"
        case normNumGroups = "norm_num_groups", scalingFactor = "scaling_factor", shiftFactor = "shift_factor"
    }

    /// The FLUX.1 VAE.
    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AutoencoderConfig()
        inChannels = try c.decodeIntIfPresent(.inChannels) ?? d.inChannels
        outChannels = try c.decodeIntIfPresent(.outChannels) ?? d.outChannels
        latentChannels = try c.decodeIntIfPresent(.latentChannels) ?? d.latentChannels
        blockOutChannels = try c.decodeIntsIfPresent(.blockOutChannels) ?? d.blockOutChannels
        layersPerBlock = try c.decodeIntIfPresent(.layersPerBlock) ?? d.layersPerBlock
        normNumGroups = try c.decodeIntIfPresent(.normNumGroups) ?? d.normNumGroups
        scalingFactor = try c.decodeIfPresent(Double.self, forKey: .scalingFactor) ?? d.scalingFactor
        shiftFactor = try c.decodeIfPresent(Double.self, forKey: .shiftFactor) ?? d.shiftFactor
    }

    /// Spatial down-sampling factor: 2^(levels - 1).
    public var downsampleFactor: Int { 1 << (blockOutChannels.count - 1) }
}

extension AutoencoderConfig: ValidatedConfig {
    /// Checks every value against `ConfigBounds`; every level's channels must split into the norm
    /// groups. `scaling_factor` divides the latents: 0 (or a tiny value) would give a black or
    /// saturated picture, so it must lie in 1e-4...1e4.
    public func validate(path: String) throws {
        let c = ConfigCheck(path: path)
        try c.int("in_channels", inChannels, ConfigBounds.dims)
        try c.int("out_channels", outChannels, ConfigBounds.dims)
        try c.int("latent_channels", latentChannels, ConfigBounds.dims)
        try c.int("number of block_out_channels", blockOutChannels.count, ConfigBounds.levels)
        try c.int("layers_per_block", layersPerBlock, ConfigBounds.layers)
        try c.int("norm_num_groups", normNumGroups, ConfigBounds.dims)
        for (i, ch) in blockOutChannels.enumerated() {
            try c.int("block_out_channels[\(i)]", ch, ConfigBounds.dims)
            try c.divisible("block_out_channels[\(i)]", ch, by: "norm_num_groups", normNumGroups)
        }
        try c.double("scaling_factor", scalingFactor, 1e-4...1e4)
        try c.double("shift_factor", shiftFactor, -1e4...1e4)
    }
}
