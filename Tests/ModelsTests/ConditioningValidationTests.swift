import XCTest
import Tensor
import Models

/// The request's pictures checked against each other and against the model's kind before anything
/// loads (`GenerationLimits+Conditioning`), and the preset kinds' defaults and detection.
final class ConditioningValidationTests: XCTestCase {
    let picture = PNGImage(width: 32, height: 32)
    /// A mask that repaints everything (an all-black one is refused: it would repaint nothing).
    let white = try! PNGImage(width: 32, height: 32, channels: 3, pixels: [UInt8](repeating: 255, count: 32 * 32 * 3))

    func issue(_ c: ImageConditioning, _ kind: ModelPreset.Kind = .fluxDev) -> GenerationIssue? {
        var r = GenerationRequest(prompt: "a cat", preset: ModelPreset.standard(kind))
        r.conditioning = c
        do { try GenerationLimits().check(r, preset: ModelPreset.standard(kind)); return nil } catch { return error as? GenerationIssue }
    }

    func testGoodCombinationsPass() {
        XCTAssertNil(issue(ImageConditioning(image: picture, strength: 0.5)))
        XCTAssertNil(issue(ImageConditioning(image: picture, mask: white, strength: 1, maskBlur: 4)))
        XCTAssertNil(issue(ImageConditioning(image: picture, outpaint: OutpaintMargins(left: 16, top: 0, right: 0, bottom: 0))))
        XCTAssertNil(issue(ImageConditioning(image: picture, mask: white), .fluxFill))
        XCTAssertNil(issue(ImageConditioning(image: try! PNGImage(width: 2, height: 2, channels: 4, pixels: [UInt8](repeating: 9, count: 16))), .fluxFill),
                     "an RGBA picture's transparency is the mask")
        XCTAssertNil(issue(ImageConditioning(control: picture, controlPreprocess: .canny(low: 50, high: 200)), .fluxCanny))
        XCTAssertNil(issue(ImageConditioning(reference: picture, referenceResize: .off), .fluxKontext))
        XCTAssertNil(issue(ImageConditioning(), .fluxKontext), "Kontext without a reference paints from text")
    }

    func testNonsenseValuesAreRefusedByName() {
        for s: Float in [0, -0.5, 1.01, .nan, .infinity] {
            XCTAssertEqual(issue(ImageConditioning(image: picture, strength: s))?.field, .strength, "strength \(s)")
        }
        XCTAssertEqual(issue(ImageConditioning(image: picture, mask: PNGImage(width: 16, height: 32)))?.field, .mask)
        XCTAssertTrue(issue(ImageConditioning(image: picture, mask: PNGImage(width: 16, height: 32)))?.description.contains("16x32") ?? false)
        XCTAssertEqual(issue(ImageConditioning(mask: white))?.field, .mask, "a mask without a picture")
        // An all-black (or all dark) mask repaints nothing: refused by name, not run to hand the picture back.
        let dark = try! PNGImage(width: 32, height: 32, channels: 3, pixels: [UInt8](repeating: 127, count: 32 * 32 * 3))
        for m in [picture, dark] {
            XCTAssertEqual(issue(ImageConditioning(image: picture, mask: m))?.field, .mask)
            XCTAssertTrue(issue(ImageConditioning(image: picture, mask: m))?.description.contains("all black") ?? false)
        }
        XCTAssertNil(issue(ImageConditioning(image: picture, mask: picture, outpaint: OutpaintMargins(left: 16, top: 0, right: 0, bottom: 0))),
                     "outpainting repaints its margins whatever the mask")
        XCTAssertEqual(issue(ImageConditioning(image: picture, mask: white, maskBlur: -1))?.field, .maskBlur)
        XCTAssertEqual(issue(ImageConditioning(image: picture, mask: white, maskBlur: 1000))?.field, .maskBlur)
        XCTAssertEqual(issue(ImageConditioning(image: picture, maskBlur: 3))?.field, .maskBlur, "nothing to blur")
        XCTAssertEqual(issue(ImageConditioning(image: picture, outpaint: OutpaintMargins(left: 0, top: 0, right: 0, bottom: 0)))?.field, .outpaint)
        XCTAssertEqual(issue(ImageConditioning(image: picture, outpaint: OutpaintMargins(left: -8, top: 0, right: 0, bottom: 0)))?.field, .outpaint)
        XCTAssertEqual(issue(ImageConditioning(outpaint: OutpaintMargins(left: 8, top: 0, right: 0, bottom: 0)))?.field, .outpaint)
        XCTAssertEqual(issue(ImageConditioning(control: picture, controlPreprocess: .canny(low: 200, high: 50)), .fluxCanny)?.field, .control)
        XCTAssertEqual(issue(ImageConditioning(control: picture, controlPreprocess: .canny(low: 0, high: 5000)), .fluxCanny)?.field, .control)
        XCTAssertEqual(issue(ImageConditioning(image: PNGImage(width: 9000, height: 9000)))?.field, .image, "an input past the pixel limit")
    }

    func testInputsTheModelKindDoesNotTakeAreRefused() {
        XCTAssertEqual(issue(ImageConditioning(control: picture))?.field, .control, "--control with FLUX.1-dev")
        XCTAssertTrue(issue(ImageConditioning(control: picture))?.description.contains("FLUX.1-dev") ?? false)
        XCTAssertEqual(issue(ImageConditioning(reference: picture))?.field, .reference)
        XCTAssertEqual(issue(ImageConditioning(image: picture, mask: white, strength: 0.5), .fluxFill)?.field, .strength, "Fill takes no strength")
        XCTAssertEqual(issue(ImageConditioning(image: picture), .fluxFill)?.field, .mask, "Fill needs a mask")
        XCTAssertEqual(issue(ImageConditioning(), .fluxFill)?.field, .image, "Fill needs a picture")
        XCTAssertEqual(issue(ImageConditioning(), .fluxDepth)?.field, .control, "a control model needs a control image")
        XCTAssertEqual(issue(ImageConditioning(image: picture, control: picture), .fluxCanny)?.field, .image)
        XCTAssertEqual(issue(ImageConditioning(image: picture), .fluxKontext)?.field, .image)
        // No conditioning at all on a Fill model is caught too (the request has none).
        let r = GenerationRequest(prompt: "a cat", preset: ModelPreset.standard(.fluxFill))
        XCTAssertThrowsError(try GenerationLimits().check(r, preset: ModelPreset.standard(.fluxFill)))
    }

    func testKindDefaultsFollowTheReferencePipelines() {
        XCTAssertEqual(ModelPreset.standard(.fluxFill).guidance, 30)
        XCTAssertEqual(ModelPreset.standard(.fluxCanny).guidance, 30)
        XCTAssertEqual(ModelPreset.standard(.fluxDepth).guidance, 10)
        XCTAssertEqual(ModelPreset.standard(.fluxKontext).guidance, 2.5)
        XCTAssertEqual(ModelPreset.Kind.allCases.map(\.conditioning), [.base, .base, .base, .fill, .control, .control, .kontext])
    }

    /// Kontext's automatic reference size follows the picture's aspect ratio, also for a side under
    /// 16 px (it took 0/0 there: every such picture got the first, portrait, size).
    func testKontextReferenceSizeFollowsTheAspectOfTinyPictures() {
        func size(_ w: Int, _ h: Int) -> [Int] { let s = ImageConditioning.referenceSize(width: w, height: h, resize: .auto); return [s.width, s.height] }
        XCTAssertEqual(size(40, 8), [1568, 672], "landscape")
        XCTAssertEqual(size(8, 40), [672, 1568], "portrait")
        XCTAssertEqual(size(15, 15), [1024, 1024], "square")
        XCTAssertEqual(size(1, 1), [1024, 1024])
        XCTAssertEqual(size(1600, 900), [1392, 752], "as diffusers picks for an ordinary picture (1600x896)")
        let off = ImageConditioning.referenceSize(width: 40, height: 8, resize: .off)
        XCTAssertEqual([off.width, off.height], [32, 16], "off: floored to 16, at least 16")
    }

    func testOutpaintMarginsParse() {
        XCTAssertEqual(OutpaintMargins(parsing: "16, 0,32,8"), OutpaintMargins(left: 16, top: 0, right: 32, bottom: 8))
        XCTAssertNil(OutpaintMargins(parsing: "16,0,32"))
        XCTAssertNil(OutpaintMargins(parsing: "a,b,c,d"))
        XCTAssertNil(OutpaintMargins(parsing: ""))
    }

    /// A library caller gets the same refusal from `generate` (before any weights load).
    func testGenerateRefusesInputsTheModelDoesNotTake() throws {
        let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-flux"
        let pipeline = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: dir), precision: .f32)
        var r = pipeline.request(prompt: "a cat", seed: 1)
        r.conditioning = ImageConditioning(control: picture)
        XCTAssertThrowsError(try pipeline.generate(r)) { error in
            XCTAssertTrue("\(error)".contains("control image does not apply"), "\(error)")
        }
    }
}
