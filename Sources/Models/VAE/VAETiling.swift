import Tensor

/// Tiled VAE decoding and encoding, as diffusers' `AutoencoderKL.enable_tiling()` does it: the input
/// is cut into overlapping square tiles, each tile runs through the decoder (encoder) on its own, and
/// neighbouring outputs are cross-faded linearly over the overlap (`blend_v` / `blend_h`) before the
/// non-overlapping parts are stitched together. Peak memory is that of one tile, whatever the image
/// size; the result differs from an untiled run only where GroupNorm statistics and the mid-block
/// attention see a tile instead of the whole picture.
public struct VAETiling: Sendable, Equatable {
    /// Tile edge in image pixels (diffusers `tile_sample_min_size`; the Flux VAE's `sample_size` 1024).
    public var sampleTileSize: Int
    /// Fraction of a tile shared with its neighbour (diffusers `tile_overlap_factor`, 0.25).
    public var overlapFactor: Double

    /// diffusers' numbers for the Flux VAE: 1024-pixel tiles, 25% overlap.
    public init(sampleTileSize: Int = 1024, overlapFactor: Double = 0.25) {
        self.sampleTileSize = sampleTileSize
        self.overlapFactor = overlapFactor
    }

    /// Throws when the tile size does not divide into latents or the overlap is not in [0, 1).
    public func validate(downsampleFactor f: Int) throws {
        guard sampleTileSize >= f, sampleTileSize % f == 0 else {
            throw ModelError.invalidParameter("VAE tile size \(sampleTileSize) must be a positive multiple of \(f) pixels")
        }
        guard overlapFactor >= 0, overlapFactor < 1 else {
            throw ModelError.invalidParameter("VAE tile overlap \(overlapFactor) must be in [0, 1)")
        }
    }

    /// Tile edge in latent pixels (diffusers `tile_latent_min_size`).
    public func latentTileSize(downsampleFactor f: Int) -> Int { sampleTileSize / f }

    /// True when a latent of this size spans more than one tile (diffusers' test in `decode`).
    public func needsTiling(latentHeight h: Int, latentWidth w: Int, downsampleFactor f: Int) -> Bool {
        h > latentTileSize(downsampleFactor: f) || w > latentTileSize(downsampleFactor: f)
    }

    /// Runs `f` on overlapping tiles of `x` (B, C, H, W) and blends the results.
    /// - Parameters:
    ///   - inTile: tile edge on the input side; `step` the stride between tile starts.
    ///   - outTile: tile edge on the output side; `blend` the blended rows/columns of the output.
    static func run(_ x: Tensor, inTile: Int, step: Int, outTile: Int, blend: Int,
                    _ f: (Tensor) throws -> Tensor) rethrows -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        let rowLimit = outTile - blend
        var previousRow: [Tensor] = []
        var stitchedRows: [Tensor] = []
        for i in stride(from: 0, to: h, by: step) {
            var row: [Tensor] = []
            for j in stride(from: 0, to: w, by: step) {
                let tile = x.slice(dim: 2, start: i, end: Swift.min(i + inTile, h))
                    .slice(dim: 3, start: j, end: Swift.min(j + inTile, w)).contiguous()
                var out = try f(tile)
                // diffusers blends in place, so the neighbours used here are already blended.
                if !previousRow.isEmpty { out = blendVertical(previousRow[row.count], out, extent: blend) }
                if let left = row.last { out = blendHorizontal(left, out, extent: blend) }
                row.append(out)
            }
            stitchedRows.append(concat(row.map { cropped($0, rowLimit) }, dim: 3))
            previousRow = row
        }
        return concat(stitchedRows, dim: 2)
    }

    /// The top-left `limit` x `limit` of a tile (or all of it when smaller).
    static func cropped(_ t: Tensor, _ limit: Int) -> Tensor {
        t.slice(dim: 2, start: 0, end: Swift.min(limit, t.shape[2]))
            .slice(dim: 3, start: 0, end: Swift.min(limit, t.shape[3]))
    }

    /// Cross-fades the bottom rows of `a` into the top rows of `b` (diffusers `blend_v`).
    static func blendVertical(_ a: Tensor, _ b: Tensor, extent: Int) -> Tensor {
        blend(a, b, extent: Swift.min(a.shape[2], b.shape[2], extent), dim: 2)
    }

    /// Cross-fades the right columns of `a` into the left columns of `b` (diffusers `blend_h`).
    static func blendHorizontal(_ a: Tensor, _ b: Tensor, extent: Int) -> Tensor {
        blend(a, b, extent: Swift.min(a.shape[3], b.shape[3], extent), dim: 3)
    }

    /// b[..., k, ...] = a[..., n - e + k, ...] * (1 - k/e) + b[..., k, ...] * (k/e) for k < e along `dim`.
    static func blend(_ a: Tensor, _ b: Tensor, extent e: Int, dim: Int) -> Tensor {
        guard e > 0 else { return b }
        var shape = [1, 1, 1, 1]
        shape[dim] = e
        // The ramp as diffusers computes it: a Python float y / e, applied to f32 tensors.
        let ramp = (0..<e).map { Double($0) / Double(e) }
        let wb = Tensor(ramp.map { Float($0) }, shape: shape)
        let wa = Tensor(ramp.map { Float(1 - $0) }, shape: shape)
        let n = a.shape[dim]
        let head = a.slice(dim: dim, start: n - e) * wa + b.slice(dim: dim, start: 0, end: e) * wb
        return concat([head, b.slice(dim: dim, start: e)], dim: dim)
    }
}

extension AutoencoderKL {
    /// `decode` one tile at a time (see `VAETiling`); the same as `decode` when one tile covers the latent.
    public func tiledDecode(_ latents: Tensor, tiling: VAETiling = VAETiling()) throws -> Tensor {
        let f = config.downsampleFactor
        try tiling.validate(downsampleFactor: f)
        let latentTile = tiling.latentTileSize(downsampleFactor: f)
        let step = Swift.max(1, Int(Double(latentTile) * (1 - tiling.overlapFactor)))
        let blend = Int(Double(tiling.sampleTileSize) * tiling.overlapFactor)
        let z = latents / Float(config.scalingFactor) + Float(config.shiftFactor)
        return VAETiling.run(z, inTile: latentTile, step: step, outTile: tiling.sampleTileSize, blend: blend) {
            decoder($0)
        }
    }

    /// `encode` one tile at a time (see `VAETiling`). Nil when there is no encoder.
    public func tiledEncode(_ image: Tensor, tiling: VAETiling = VAETiling()) throws -> Tensor? {
        guard encoder != nil else { return nil }
        return scaled(try latentDistribution(image, mode: .on, tiling: tiling).mean)
    }

    /// Decodes with tiling when `mode` asks for it: `.on` always tiles, `.auto` tiles when the latent
    /// spans more than one tile (as diffusers does once tiling is enabled), `.off` never tiles.
    public func decode(_ latents: Tensor, mode: VAETilingMode, tiling: VAETiling = VAETiling()) throws -> Tensor {
        let f = config.downsampleFactor
        switch mode {
        case .off: return decode(latents)
        case .on: return try tiledDecode(latents, tiling: tiling)
        case .auto:
            if tiling.needsTiling(latentHeight: latents.shape[2], latentWidth: latents.shape[3], downsampleFactor: f) {
                return try tiledDecode(latents, tiling: tiling)
            }
            return decode(latents)
        }
    }
}

/// When the VAE decodes tile by tile (`--vae-tiling`).
public enum VAETilingMode: String, Sendable, CaseIterable {
    /// Tiles when the image is larger than one tile (1024x1024 for the Flux VAE).
    case auto
    /// Always tiles.
    case on
    /// Never tiles (memory grows with the image: ~4x per doubling of the side).
    case off
}
