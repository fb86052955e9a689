#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensor

/// The VAE encoder's diagonal Gaussian over latents (diffusers' `DiagonalGaussianDistribution`), in
/// the encoder's raw latent space (before the shift and scaling the DiT works in).
public struct LatentDistribution {
    /// (B, z, h, w) means.
    public let mean: Tensor
    /// (B, z, h, w) log-variances, clamped to [-30, 20] as diffusers does.
    public let logVariance: Tensor

    /// Splits encoder moments (B, 2z, h, w) into mean and log-variance.
    public init(moments: Tensor) {
        let z = moments.shape[1] / 2
        mean = moments.slice(dim: 1, start: 0, end: z).contiguous()
        let lv = moments.slice(dim: 1, start: z, end: 2 * z).contiguous().moved(to: CPUBackend.shared).floats()
        logVariance = Tensor(lv.map { Swift.min(Swift.max($0, -30), 20) }, shape: mean.shape).moved(to: mean.backend)
    }

    /// A draw `mean + exp(logvar / 2) * eps`, eps from `generator` (one `randn` of the mean's shape,
    /// as `latent_dist.sample(generator)`), computed in f32.
    public func sample(_ generator: TorchGenerator) -> Tensor {
        let eps = generator.randn(mean.shape).floats()
        let m = mean.moved(to: CPUBackend.shared).floats(), lv = logVariance.moved(to: CPUBackend.shared).floats()
        var out = [Float](repeating: 0, count: m.count)
        for i in out.indices { out[i] = m[i] + Float(exp(Double(0.5 * lv[i])).float32) * eps[i] }
        return Tensor(out, shape: mean.shape).moved(to: mean.backend)
    }
}

private extension Double {
    var float32: Float { Float(self) }
}

extension AutoencoderKL {
    /// Image in [-1, 1] -> the latent distribution (tiled like `encode` when `mode` asks for it).
    /// Throws when the checkpoint has no encoder.
    public func latentDistribution(_ image: Tensor, mode: VAETilingMode = .auto, tiling: VAETiling = VAETiling()) throws -> LatentDistribution {
        guard let encoder else {
            throw ModelError.invalidParameter("the VAE checkpoint has no encoder (encoder.* weights): it cannot encode input pictures")
        }
        let f = config.downsampleFactor
        let tiled: Bool
        switch mode {
        case .off: tiled = false
        case .on: tiled = true
        case .auto: tiled = tiling.needsTiling(latentHeight: image.shape[2] / f, latentWidth: image.shape[3] / f, downsampleFactor: f)
        }
        guard tiled else { return LatentDistribution(moments: encoder.moments(image)) }
        try tiling.validate(downsampleFactor: f)
        let latentTile = tiling.latentTileSize(downsampleFactor: f)
        let step = Swift.max(1, Int(Double(tiling.sampleTileSize) * (1 - tiling.overlapFactor)))
        let blend = Int(Double(latentTile) * tiling.overlapFactor)
        // diffusers' tiled_encode blends the moments, then builds the distribution.
        return LatentDistribution(moments: VAETiling.run(image, inTile: tiling.sampleTileSize, step: step, outTile: latentTile, blend: blend) {
            encoder.moments($0)
        })
    }

    /// Raw latents -> the DiT's latent space: (z - shift) * scaling.
    public func scaled(_ z: Tensor) -> Tensor {
        (z - Float(config.shiftFactor)) * Float(config.scalingFactor)
    }
}
