import XCTest
import Models
import Tensor

/// Tiled VAE decoding/encoding (`VAETiling`).
/// - Against diffusers: the tiny random VAE of tiny-models with 64-pixel tiles (20 decode tiles, 20 encode
///   tiles), Tools/make_vae_tiling_fixture.py; max |ours - diffusers| <= 1e-4 * max(1, max |ref|) (f32).
/// - Tiled vs untiled: identical when one tile covers the latent; on the trained default VAE at twice its
///   sample size, tiling at the sample size reconstructs the picture far better than untiled decoding.
///   (Tiled and untiled differ wherever GroupNorm statistics or the mid attention see a tile instead of
///   the picture, in diffusers as here; Examples/BigModelBench --compare measures it for the Flux VAE.)
final class VAETilingTests: XCTestCase {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func loadVAE(_ dir: String, weights: String) throws -> AutoencoderKL {
        let config = try ConfigFile.load(AutoencoderConfig.self, path: dir + "/config.json", what: "VAE config")
        return try AutoencoderKL(config: config, weights: VAECheckpointLayout.canonical(CheckpointWeights(path: weights), config: config))
    }

    func maxAbs(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.floats(), b.floats()).map { abs($0 - $1) }.max() ?? .infinity
    }

    func testTiledDecodeAndEncodeMatchDiffusers() throws {
        let vae = try loadVAE(Self.fixtures + "/tiny-models/vae", weights: Self.fixtures + "/tiny-models/vae/diffusion_pytorch_model.safetensors")
        let ref = try CheckpointWeights(path: Self.fixtures + "/vae-tiling.safetensors")
        let tiling = VAETiling(sampleTileSize: 64, overlapFactor: 0.25)
        let z = try ref.tensor("z"), image = try ref.tensor("image")

        let decoded = try vae.tiledDecode(z, tiling: tiling)
        let wantDecoded = try ref.tensor("decoded_tiled")
        XCTAssertEqual(decoded.shape, wantDecoded.shape)
        let scaleD = max(1, wantDecoded.floats().map(abs).max()!)
        XCTAssertLessThanOrEqual(maxAbs(decoded, wantDecoded), 1e-4 * scaleD, "tiled decode vs diffusers")
        // The fixture's tiles really change the picture: the untiled decode is far from the tiled one.
        XCTAssertGreaterThan(maxAbs(vae.decode(z), wantDecoded), 0.1)
        XCTAssertLessThanOrEqual(maxAbs(vae.decode(z), try ref.tensor("decoded_untiled")), 1e-4 * scaleD)

        let encoded = try XCTUnwrap(try vae.tiledEncode(image, tiling: tiling))
        let wantEncoded = try ref.tensor("encoded_tiled")
        XCTAssertEqual(encoded.shape, wantEncoded.shape)
        let scaleE = max(1, wantEncoded.floats().map(abs).max()!)
        XCTAssertLessThanOrEqual(maxAbs(encoded, wantEncoded), 1e-4 * scaleE, "tiled encode vs diffusers")
        // The conditioned pipelines' tiled encoding: the blended moments' mean is the same latent.
        let distribution = try vae.latentDistribution(image, mode: .on, tiling: tiling)
        XCTAssertLessThanOrEqual(maxAbs(vae.scaled(distribution.mean), wantEncoded), 1e-4 * scaleE, "tiled distribution vs diffusers")
        XCTAssertEqual(distribution.logVariance.shape, wantEncoded.shape)
    }

    func testModesAndValidation() throws {
        let vae = try loadVAE(Self.fixtures + "/tiny-models/vae", weights: Self.fixtures + "/tiny-models/ae.safetensors")
        let z = TorchGenerator(seed: 5).randn([1, 16, 12, 10])
        let small = VAETiling(sampleTileSize: 64)
        let untiled = vae.decode(z)
        // auto: 12 latent rows > 8 per tile, so it tiles; off never tiles; a tile covering all is untiled.
        XCTAssertEqual(try vae.decode(z, mode: .auto, tiling: small).floats(), try vae.tiledDecode(z, tiling: small).floats())
        XCTAssertEqual(try vae.decode(z, mode: .off, tiling: small).floats(), untiled.floats())
        XCTAssertEqual(try vae.decode(z, mode: .auto).floats(), untiled.floats())  // 1024-pixel tiles
        XCTAssertEqual(try vae.tiledDecode(z, tiling: VAETiling(sampleTileSize: 128)).floats(), untiled.floats())
        XCTAssertThrowsError(try vae.tiledDecode(z, tiling: VAETiling(sampleTileSize: 60))) { error in
            XCTAssertTrue("\(error)".contains("multiple of 8"), "\(error)")
        }
        XCTAssertThrowsError(try vae.tiledDecode(z, tiling: VAETiling(sampleTileSize: 64, overlapFactor: 1)))
    }

    /// The trained default VAE (made for 128x128 pictures: its GroupNorm statistics and mid attention
    /// do not carry over to bigger ones) on a 256x256 mosaic of its four sample pictures: decoded
    /// untiled, the picture is badly off (diffusers: mean |error| 54.2/255 for the v3 VAE); decoded with
    /// 128-pixel tiles (its own sample_size, diffusers: 29.4/255) it stays much closer, and tiled encoding
    /// works as well.
    /// The numbers are diffusers' own for the same model and mosaic (Tools/make_vae_tiling_fixture.py's
    /// comment); here: tiled error <= 0.6 x untiled error and within 1/255 of diffusers' figures.
    func testTiledDecodeOfTrainedVAEAtItsSampleSize() throws {
        let dir = Self.root + "/Models/default"
        let vae = try loadVAE(dir + "/vae", weights: dir + "/vae")
        var pixels = [Float](repeating: 0, count: 3 * 256 * 256)
        var original = [UInt8](repeating: 0, count: 3 * 256 * 256)
        for s in 0..<4 {
            let png = try PNG.read(dir + "/samples/sample\(s + 1).png").image
            XCTAssertEqual(png.width, 128)
            let (oy, ox) = (s / 2 * 128, s % 2 * 128)
            for y in 0..<128 {
                for x in 0..<128 {
                    for c in 0..<3 {
                        let v = png.pixels[(y * 128 + x) * png.channels + c]
                        pixels[c * 65536 + (oy + y) * 256 + ox + x] = Float(v) / 127.5 - 1
                        original[((oy + y) * 256 + ox + x) * 3 + c] = v
                    }
                }
            }
        }
        let image = Tensor(pixels, shape: [1, 3, 256, 256])
        let z = try XCTUnwrap(vae.encode(image))
        let tiling = VAETiling(sampleTileSize: 128)
        func meanError(_ t: Tensor) throws -> Double {
            let p = try PNGImage(tensor: t).pixels
            return Double(zip(p, original).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(p.count)
        }
        let untiled = try meanError(vae.decode(z)), tiled = try meanError(vae.tiledDecode(z, tiling: tiling))
        print("default VAE 256x256 reconstruction, mean |error|: untiled \(untiled)/255, 128-pixel tiles \(tiled)/255")
        XCTAssertLessThanOrEqual(tiled, 0.6 * untiled)
        XCTAssertEqual(untiled, 54.20, accuracy: 1)
        XCTAssertEqual(tiled, 29.40, accuracy: 1)
        let zt = try XCTUnwrap(try vae.tiledEncode(image, tiling: tiling))
        XCTAssertEqual(zt.shape, z.shape)
        let both = try meanError(vae.tiledDecode(zt, tiling: tiling))
        print("default VAE tiled encode + tiled decode: mean |error| \(both)/255")
        XCTAssertLessThanOrEqual(both, 0.6 * untiled)
    }
}
