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
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? d.inChannels
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? d.outChannels
        latentChannels = try c.decodeIfPresent(Int.self, forKey: .latentChannels) ?? d.latentChannels
        blockOutChannels = try c.decodeIfPresent([Int].self, forKey: .blockOutChannels) ?? d.blockOutChannels
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layersPerBlock) ?? d.layersPerBlock
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? d.normNumGroups
        scalingFactor = try c.decodeIfPresent(Double.self, forKey: .scalingFactor) ?? d.scalingFactor
        shiftFactor = try c.decodeIfPresent(Double.self, forKey: .shiftFactor) ?? d.shiftFactor
    }

    /// Spatial down-sampling factor: 2^(levels - 1).
    public var downsampleFactor: Int { 1 << (blockOutChannels.count - 1) }
}
