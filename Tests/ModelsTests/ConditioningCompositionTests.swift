import XCTest
import Tensor
import Models

/// What the product adds on top of diffusers' pipelines, checked against the pipelines themselves:
/// outpainting is inpainting (or Fill) of the grown canvas, an RGBA picture's transparency is its mask.
final class ConditioningCompositionTests: XCTestCase {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"
    static let dir = fixtures + "/conditioning"

    func picture(_ name: String) throws -> PNGImage { try PNG.read(Self.dir + "/" + name).image }

    func generate(_ c: ImageConditioning, dit: String? = nil, width: Int = 64, height: Int = 64) throws -> [UInt8] {
        let p = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.fixtures + "/tiny-flux", dit: dit.map { Self.dir + "/" + $0 }),
                                 keepLoaded: true, precision: .f32)
        var r = p.request(prompt: "a red circle on a blue background", seed: 7)
        (r.steps, r.width, r.height, r.maxSequenceLength) = (3, width, height, 64)
        r.conditioning = c
        return try p.generate(r).rgb
    }

    /// The canvas by hand: edge pixels repeated into the margins, the margins white in the mask.
    func grown(_ p: PNGImage, _ m: OutpaintMargins) throws -> (image: PNGImage, mask: PNGImage) {
        let (w, h) = (p.width + m.left + m.right, p.height + m.top + m.bottom)
        var image = [UInt8](), mask = [UInt8]()
        for y in 0..<h {
            for x in 0..<w {
                let inside = (m.left..<(m.left + p.width)).contains(x) && (m.top..<(m.top + p.height)).contains(y)
                let sx = min(max(x - m.left, 0), p.width - 1), sy = min(max(y - m.top, 0), p.height - 1)
                image += p.pixels[(sy * p.width + sx) * p.channels..<(sy * p.width + sx) * p.channels + 3]
                mask += [UInt8](repeating: inside ? 0 : 255, count: 3)
            }
        }
        return (try PNGImage(width: w, height: h, channels: 3, pixels: image), try PNGImage(width: w, height: h, channels: 3, pixels: mask))
    }

    func testOutpaintingIsInpaintingOfTheGrownCanvas() throws {
        let input = try picture("input.png"), margins = OutpaintMargins(left: 16, top: 0, right: 16, bottom: 16)
        let (image, mask) = try grown(input, margins)
        let outpainted = try generate(ImageConditioning(image: input, strength: 1, outpaint: margins), width: 96, height: 80)
        let byHand = try generate(ImageConditioning(image: image, mask: mask, strength: 1), width: 96, height: 80)
        XCTAssertEqual(outpainted, byHand)
        // The mask matters: the grown canvas repainted everywhere is another picture.
        XCTAssertNotEqual(outpainted, try generate(ImageConditioning(image: image, strength: 1), width: 96, height: 80))
    }

    func testOutpaintingWithAFillModelIsFillOfTheGrownCanvas() throws {
        let input = try picture("input.png"), margins = OutpaintMargins(left: 0, top: 16, right: 0, bottom: 0)
        let (image, mask) = try grown(input, margins)
        let outpainted = try generate(ImageConditioning(image: input, outpaint: margins), dit: "tiny-flux-fill.safetensors", width: 64, height: 80)
        XCTAssertEqual(outpainted, try generate(ImageConditioning(image: image, mask: mask), dit: "tiny-flux-fill.safetensors", width: 64, height: 80))
    }

    func testAnRGBAPicturesTransparencyIsTheMask() throws {
        let input = try picture("input.png"), mask = try picture("mask.png")
        var rgba = [UInt8]()
        for i in 0..<(64 * 64) { rgba += input.pixels[i * 3..<i * 3 + 3] + [255 - mask.pixels[i * mask.channels]] }
        let transparent = try PNGImage(width: 64, height: 64, channels: 4, pixels: rgba)
        XCTAssertEqual(try generate(ImageConditioning(image: transparent, strength: 0.8)), try generate(ImageConditioning(image: input, mask: mask, strength: 0.8)))
        // A fully opaque RGBA picture (a common export) has no mask: it is img2img of the picture.
        var opaque = rgba
        for i in 0..<(64 * 64) { opaque[i * 4 + 3] = 255 }
        let solid = try PNGImage(width: 64, height: 64, channels: 4, pixels: opaque)
        XCTAssertEqual(ImageConditioning(image: solid).mode, .img2img)
        XCTAssertEqual(ImageConditioning(image: transparent).mode, .inpaint)
        XCTAssertEqual(try generate(ImageConditioning(image: solid, strength: 0.8)), try generate(ImageConditioning(image: input, strength: 0.8)))
    }
}
