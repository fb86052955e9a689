import XCTest
import Foundation
import Tensor
import Models

/// The hires fix (HiresFix.swift, FluxPipeline+Hires.swift): A1111's sample_hr_pass on the tiny model.
final class HiresFixTests: XCTestCase {
    static func request(_ p: FluxPipeline, seed: UInt64 = 5) -> GenerationRequest {
        var r = BatchGenerationTests.request(p, seed: seed)
        (r.width, r.height) = (48, 32)
        return r
    }

    /// At strength 1 the second pass starts from pure noise of the seed at the final size, and the
    /// upscaled first pass is weighted by 0: the picture is the plain text-to-image one at that size.
    /// (Checks the noise's seed and shape, the schedule at the new size, and the second pass's steps.)
    func testStrengthOneIsTextToImageAtTheFinalSize() throws {
        let p = try BatchGenerationTests.pipeline()
        var r = Self.request(p)
        r.hires = HiresFix(width: 96, height: 64, steps: 4, strength: 1, upscaler: .latent(.bicubic, antialias: false))
        let hires = try p.generate(r)
        XCTAssertEqual(p.lastTimings.stepCount, 3 + 4)
        var plain = r
        (plain.width, plain.height, plain.steps, plain.hires) = (96, 64, 4, nil)
        let direct = try p.generate(plain)
        XCTAssertEqual([hires.width, hires.height], [96, 64])
        XCTAssertEqual(hires.rgb, direct.rgb)
        XCTAssertEqual(hires.request, r, "the picture records the request with its hires fix")
    }

    /// A picture upscaler decodes the first pass, resizes it with A1111's steps, crops it to the final
    /// aspect ratio around the centre, and runs img2img on it with the same seed.
    func testPictureUpscalersAreImg2ImgOnTheUpscaledCroppedPicture() throws {
        let p = try BatchGenerationTests.pipeline()
        for upscaler in PictureUpscaler.allCases {
            var r = Self.request(p)
            // 48x32 -> 96x80: the first pass's 3:2 covers 96x80 at 120x80, cropped 12 pixels a side
            // in whole latent cells: (120 - 96) / 8 = 3 cells, 1 on the left (A1111's truncate_x // 2).
            r.hires = HiresFix(width: 96, height: 80, strength: 0.6, upscaler: .picture(upscaler))
            let hires = try p.generate(r)
            XCTAssertEqual(p.lastTimings.vaeEncodes, 1)
            var first = r
            first.hires = nil
            let firstPass = try p.generate(first)
            let grown = try upscaler.resize(try firstPass.png, width: 120, height: 80)
            var img2img = first
            (img2img.width, img2img.height) = (96, 80)
            img2img.conditioning = ImageConditioning(image: try grown.cropped(x: 8, y: 0, width: 96, height: 80), strength: 0.6)
            let expected = try p.generate(img2img)
            XCTAssertEqual(hires.rgb, expected.rgb, "\(upscaler)")
            XCTAssertNotEqual(hires.rgb, try p.generate({ var u = r; u.hires?.strength = 0.9; return u }()).rgb, "strength matters")
        }
    }

    func testLatentUpscalersDifferAndBatchesAreTheSingleRuns() throws {
        let p = try BatchGenerationTests.pipeline()
        var pictures: [[UInt8]] = []
        for (name, upscaler) in HiresUpscaler.all where upscaler.isLatent {
            var r = Self.request(p)
            r.hires = .scaled(width: r.width, height: r.height, by: 2, steps: 4, strength: 0.5, upscaler: upscaler)
            XCTAssertEqual(p.stepsRun(r), 3 + 2)
            var sizes: [(Int, Int, Int)] = []
            let image = try p.generate(r) { progress in
                if progress.stage == .denoising { sizes.append((progress.step, progress.width, progress.height)) }
                XCTAssertEqual(progress.totalSteps, 5)
                return true
            }
            XCTAssertEqual([image.width, image.height], [96, 64], name)
            XCTAssertEqual(sizes.map(\.0), [0, 1, 2, 3, 3, 4, 5], "the second pass counts on from the first")
            XCTAssertEqual(sizes.map(\.1), [48, 48, 48, 48, 96, 96, 96], "progress says which size is denoised")
            pictures.append(image.rgb)
        }
        XCTAssertEqual(pictures.count, 6)
        // At exactly 2x PyTorch's antialiased bilinear is plain bilinear, and nearest-exact is nearest;
        // the other modes differ.
        XCTAssertEqual(pictures[0], pictures[1])
        XCTAssertEqual(pictures[4], pictures[5])
        XCTAssertEqual(Set([pictures[0], pictures[2], pictures[3], pictures[4]]).count, 4, "bilinear, both bicubics and nearest differ")

        var r = Self.request(p, seed: 30)
        r.hires = .scaled(width: r.width, height: r.height, by: 1.5, strength: 0.7, upscaler: .latent(.bilinear, antialias: true))
        try assertBatchEqualsSingles(p, r, count: 2)
        r.hires?.upscaler = .picture(.lanczos)
        try assertBatchEqualsSingles(p, r, count: 2)
    }

    /// `PictureUpscaler` against A1111's upscaler steps run with Pillow (Tools/make_interpolate_fixtures.py):
    /// by a factor (one pass, or a pass then Lanczos to a multiple of 8) and "just resize" to a size.
    func testPictureUpscalersMatchA1111WithPillow() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "upscalers", withExtension: "json", subdirectory: "Fixtures"))
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let cases = root["cases"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 12)
        for c in cases {
            let upscaler = try XCTUnwrap(PictureUpscaler(rawValue: c["upscaler"] as! String))
            let int = { (k: String) in (c[k] as! NSNumber).intValue }
            let input = try PNGImage(width: int("width"), height: int("height"), channels: 3,
                                     pixels: [UInt8](Data(base64Encoded: c["pixels"] as! String)!))
            let out: PNGImage
            if let scale = c["scale"] as? NSNumber {
                out = try upscaler.upscale(input, by: scale.doubleValue)
            } else {
                let to = (c["to"] as! [NSNumber]).map(\.intValue)
                out = try upscaler.resize(input, width: to[0], height: to[1])
            }
            XCTAssertEqual([out.width, out.height], [int("out_width"), int("out_height")], "\(c["upscaler"]!) \(c["scale"] ?? c["to"]!)")
            XCTAssertEqual(out.pixels, [UInt8](Data(base64Encoded: c["expected"] as! String)!), "\(c["upscaler"]!) \(c["scale"] ?? c["to"]!)")
        }
        XCTAssertThrowsError(try PictureUpscaler.lanczos.upscale(try PNGImage(width: 2, height: 2, channels: 3, pixels: [UInt8](repeating: 0, count: 12)), by: 0))
    }

    func testSizesFollowA1111() {
        let scaled = HiresFix.scaled(width: 832, height: 1216, by: 1.5)
        XCTAssertEqual([scaled.width, scaled.height], [1248, 1824])
        XCTAssertEqual(HiresFix.scaled(width: 512, height: 512, by: 1.3).width, 656, "int(665.6) = 665, floored to 656")
        let resized = HiresFix.resized(width: 512, height: 768, toWidth: 1000, toHeight: 0)
        XCTAssertEqual([resized.width, resized.height], [992, 1488], "height from the aspect ratio: 1000 * 768 / 512 = 1500")
        XCTAssertNil(resized.scale)
        let cover = HiresFix(width: 1024, height: 512).upscaledSize(fromWidth: 512, height: 512)
        XCTAssertEqual([cover.width, cover.height], [1024, 1024])
        let tall = HiresFix(width: 512, height: 1024).upscaledSize(fromWidth: 768, height: 512)
        XCTAssertEqual([tall.width, tall.height], [1536, 1024])
        XCTAssertEqual(HiresUpscaler(name: "Latent (bicubic antialiased)"), .latent(.bicubic, antialias: true))
        XCTAssertNil(HiresUpscaler(name: "latent"), "A1111 matches names exactly")
        XCTAssertEqual(HiresUpscaler.picture(.nearest).name, "Nearest")
    }

    func testRecordedAsA1111WritesIt() throws {
        var r = GenerationRequest(prompt: "a cat", seed: 3, steps: 20, width: 512, height: 768)
        r.hires = .scaled(width: 512, height: 768, by: 2, steps: 10, strength: 0.45, upscaler: .picture(.lanczos))
        let image = GeneratedImage(width: 1024, height: 1536, rgb: [], request: r)
        let text = image.parameterText(model: "m")[0].value
        XCTAssertTrue(text.contains("Seed: 3, Size: 512x768, Denoising strength: 0.45, Hires upscale: 2, Hires steps: 10, Hires upscaler: Lanczos, Model: m"), text)
        r.hires = HiresFix(width: 1024, height: 1024, upscaler: .latent(.nearestExact, antialias: false))
        let resized = GeneratedImage(width: 1024, height: 1024, rgb: [], request: r).parameterText(model: "m")
        XCTAssertTrue(resized[0].value.contains("Denoising strength: 0.7, Hires resize: 1024x1024, Hires upscaler: Latent (nearest-exact), Model: m"), resized[0].value)
        XCTAssertTrue(resized[1].value.contains("\"hires\": {\"height\":1024,\"strength\":0.7,\"upscaler\":\"Latent (nearest-exact)\",\"width\":1024}"), resized[1].value)
    }

    func testNonsenseIsRefusedByName() throws {
        let base = GenerationRequest(prompt: "a cat", seed: 3, steps: 10, width: 512, height: 512)
        func issue(_ h: HiresFix, image: Bool = false) -> String? {
            var r = base
            r.hires = h
            if image { r.conditioning = ImageConditioning(image: try? PNGImage(width: 16, height: 16, channels: 3, pixels: [UInt8](repeating: 9, count: 768))) }
            do { try GenerationLimits(maxPixels: 2048 * 2048).check(r); return nil } catch { return "\(error)" }
        }
        XCTAssertNil(issue(HiresFix(width: 1024, height: 1024)))
        XCTAssertEqual(issue(HiresFix(width: 1000, height: 1024)), "hires fix width must be a positive multiple of 16, got 1000")
        XCTAssertEqual(issue(HiresFix(width: 4096, height: 4096)), "hires fix size 4096x4096 is 16777216 pixels, above the limit of 4194304")
        XCTAssertEqual(issue(HiresFix(width: 1024, height: 1024, strength: 0)), "hires fix strength must be above 0 and at most 1, got 0.0")
        XCTAssertEqual(issue(HiresFix(width: 1024, height: 1024, strength: .nan)), "hires fix strength must be above 0 and at most 1, got nan")
        XCTAssertEqual(issue(HiresFix(width: 1024, height: 1024, steps: 0)), "hires fix steps must be between 1 and 100, got 0")
        XCTAssertNil(issue(HiresFix(width: 1024, height: 1024, steps: 4, strength: 0.1)), "the last of 4 steps runs")
        XCTAssertEqual(issue(HiresFix(width: 1024, height: 1024, steps: 4, strength: 1e-20)), "hires fix strength 1e-20 leaves none of the 4 steps to run: raise the strength or the steps")
        XCTAssertEqual(issue(HiresFix(width: 1024, height: 1024), image: true), "hires fix works on text-to-image only: leave it out with input pictures (img2img)")
        XCTAssertEqual(issue(.scaled(width: 512, height: 512, by: .infinity)), "hires fix width must be at most 16384, got 2147483632")
    }
}
