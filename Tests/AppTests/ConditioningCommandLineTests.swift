import Foundation
import Tensor
import XCTest

/// `majicflux generate`'s picture options (#18) run as the built executable: what the picture records
/// (infotext and the `majicflux` chunk), the size taken from the input picture, and every bad input
/// refused with a message naming the option before the model loads.
final class ConditioningCommandLineTests: XCTestCase {
    private var folders: [String] = []
    private var inputs = ""

    override func setUpWithError() throws {
        inputs = TestConsole.freshOutputDirectory()
        folders.append(inputs)
    }

    override func tearDownWithError() throws { for f in folders { try? FileManager.default.removeItem(atPath: f) } }

    private func run(_ arguments: [String], limit: Double = 120) throws -> (status: Int32, log: String, folder: String) {
        let result = try TestConsole.runToEnd(arguments, limit: limit)
        folders.append(result.folder)
        return result
    }

    private func generate(_ options: [String]) throws -> (status: Int32, log: String, folder: String) {
        try run(["generate", "--model", TestConsole.tinyModel, "--device", "cpu", "--prompt", "a red circle",
                 "--output", "out.png", "--seed", "3", "--steps", "2"] + options)
    }

    /// The picture's size, its infotext and its `majicflux` chunk's `conditioning`.
    private func recorded(_ png: String) throws -> (width: Int, height: Int, infotext: String, conditioning: [String: Any]?) {
        let (image, text) = try PNG.read(png)
        let json = try XCTUnwrap(text.first { $0.key == "majicflux" }?.value)
        let request = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        return (image.width, image.height, text.first { $0.key == "parameters" }?.value ?? "", request["conditioning"] as? [String: Any])
    }

    private func picture(_ name: String, width: Int, height: Int, channels: Int = 3) throws -> String {
        try TestPictures.write(try TestPictures.png(try TestPictures.image(width: width, height: height, channels: channels)), name, in: inputs)
    }

    /// img2img: the picture takes the input's size, records the strength given, and the infotext has
    /// A1111's `Denoising strength` before `Model` (still the last field).
    func testImageAndStrengthReachThePicture() throws {
        let image = try picture("in.png", width: 32, height: 48)
        let r = try generate(["--image", image, "--strength", "0.75"])
        XCTAssertEqual(r.status, 0, r.log)
        XCTAssertTrue(r.log.contains("img2img from image 32x48"), r.log)
        let out = try recorded(r.folder + "/out.png")
        XCTAssertEqual([out.width, out.height], [32, 48], "the input's size")
        XCTAssertTrue(out.infotext.contains(", Denoising strength: 0.75, "), out.infotext)
        XCTAssertTrue(out.infotext.hasSuffix("Model: tiny-flux"), out.infotext)
        let c = try XCTUnwrap(out.conditioning, "the majicflux chunk records the conditioning")
        XCTAssertEqual(c["mode"] as? String, "img2img")
        XCTAssertEqual(c["strength"] as? Double, 0.75)
        let inputs = try XCTUnwrap(c["inputs"] as? [String: [String: Any]])
        XCTAssertEqual(inputs["image"]?["width"] as? Int, 32)
        XCTAssertEqual(inputs["image"]?["height"] as? Int, 48)
        XCTAssertNil(inputs["image"]?["file"], "the CLI keeps no copy of the input")

        // No --strength: the default is what the infotext says.
        let plain = try generate(["--image", image])
        XCTAssertEqual(plain.status, 0, plain.log)
        let s = try recorded(plain.folder + "/out.png")
        XCTAssertTrue(s.infotext.contains("Denoising strength: 0.6"), "the default strength is written: \(s.infotext)")
        XCTAssertNil(s.conditioning?["strength"], "none was given")
    }

    /// A JPEG input (Tensor/Image's decoder, EXIF orientation applied: a 6 turns the stored picture a
    /// quarter turn, swapping its sides) and an input of another size than the output (resized with
    /// Lanczos to --width/--height).
    func testJPEGInputsAndResizedInputsWork() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/TensorTests/Fixtures/images"
        let stored = try ImageFile.read(fixtures + "/orient_1.jpg"), turned = try ImageFile.read(fixtures + "/orient_6.jpg")
        XCTAssertEqual([turned.width, turned.height], [stored.height, stored.width], "EXIF orientation 6 swaps the sides")
        let r = try generate(["--image", fixtures + "/orient_6.jpg", "--strength", "0.5"])
        XCTAssertEqual(r.status, 0, r.log)
        let out = try recorded(r.folder + "/out.png")
        XCTAssertEqual([out.width, out.height], [turned.width - turned.width % 16, turned.height - turned.height % 16], "the oriented picture's size, floored to 16")
        let resized = try generate(["--image", fixtures + "/orient_6.jpg", "--strength", "0.5", "--width", "48", "--height", "32"])
        XCTAssertEqual(resized.status, 0, resized.log)
        let o = try recorded(resized.folder + "/out.png")
        XCTAssertEqual([o.width, o.height], [48, 32])
    }

    /// A Canny control model follows the edges `--control-preprocess canny` makes from a photo: another
    /// picture than from the photo itself, and the thresholds change it again.
    func testCannyPreprocessingChangesWhatTheControlModelFollows() throws {
        let control = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
            + "/ModelsTests/Fixtures/conditioning/tiny-flux-control.safetensors"
        let photo = try picture("photo.png", width: 32, height: 32)
        func pixels(_ extra: [String]) throws -> [UInt8] {
            let r = try generate(["--dit", control, "--control", photo] + extra)
            XCTAssertEqual(r.status, 0, r.log)
            return try PNG.read(r.folder + "/out.png").image.pixels
        }
        let plain = try pixels([]), edges = try pixels(["--control-preprocess", "canny"])
        XCTAssertNotEqual(plain, edges)
        XCTAssertNotEqual(edges, try pixels(["--control-preprocess", "canny", "--canny-low", "5", "--canny-high", "10"]))
    }

    /// Inpainting with a blurred mask; outpainting grows the canvas by the margins.
    func testMaskBlurAndOutpaintReachThePicture() throws {
        let image = try picture("in.png", width: 32, height: 32)
        let mask = try TestPictures.write(try TestPictures.png(try TestPictures.mask(width: 32, height: 32)), "mask.png", in: inputs)
        let inpaint = try generate(["--image", image, "--mask", mask, "--mask-blur", "4"])
        XCTAssertEqual(inpaint.status, 0, inpaint.log)
        let i = try recorded(inpaint.folder + "/out.png")
        XCTAssertTrue(i.infotext.contains("Denoising strength: 0.6, Mask blur: 4"), i.infotext)
        XCTAssertEqual(i.conditioning?["mode"] as? String, "inpaint")
        XCTAssertEqual(i.conditioning?["mask_blur"] as? Int, 4)
        XCTAssertNotNil((i.conditioning?["inputs"] as? [String: Any])?["mask"])

        let outpaint = try generate(["--image", image, "--outpaint", "16,0,16,16"])
        XCTAssertEqual(outpaint.status, 0, outpaint.log)
        let o = try recorded(outpaint.folder + "/out.png")
        XCTAssertEqual([o.width, o.height], [64, 48], "the grown canvas")
        XCTAssertTrue(o.infotext.contains(#"Outpaint: "16,0,16,16""#), o.infotext)
        XCTAssertEqual(o.conditioning?["outpaint"] as? [Int], [16, 0, 16, 16])
        // Margins that leave a side off a multiple of 16 grow (right, bottom) instead of the canvas
        // being squeezed back: 5 pixels a side on 32 becomes a 48x48 picture, said in a note.
        let small = try generate(["--image", image, "--outpaint", "5,5,5,5"])
        XCTAssertEqual(small.status, 0, small.log)
        let sm = try recorded(small.folder + "/out.png")
        XCTAssertEqual([sm.width, sm.height], [48, 48])
        XCTAssertEqual(sm.conditioning?["outpaint"] as? [Int], [5, 5, 11, 11])
        XCTAssertTrue(small.log.contains("outpaint margins grown to 5,5,11,11"), small.log)
    }

    /// Each bad input: a non-zero exit, one message naming the option, no picture, and no weights
    /// loaded (the model's files are never touched past its configs: the run ends in well under the
    /// time a load takes, and the log has no sampling line).
    func testBadInputsAreRefusedBeforeTheModelLoads() throws {
        let image = try picture("in.png", width: 32, height: 32)
        let small = try TestPictures.write(try TestPictures.png(try TestPictures.mask(width: 16, height: 16)), "small.png", in: inputs)
        let garbage = try TestPictures.write(Array("not a picture".utf8), "garbage.png", in: inputs)
        let full = try TestPictures.png(try TestPictures.image(width: 32, height: 32))
        let truncated = try TestPictures.write(Array(full.prefix(full.count / 2)), "truncated.png", in: inputs)
        let bomb = try TestPictures.write(TestPictures.bombHeader(width: 100_000, height: 100_000), "bomb.png", in: inputs)
        let cases: [([String], String)] = [
            (["--image", inputs + "/nope.png"], "--image no such file \(inputs)/nope.png"),
            (["--image", inputs], "--image \(inputs) is a folder"),
            (["--image", garbage], "--image \(garbage) is not a PNG, JPEG or WebP picture"),
            (["--image", truncated], "--image \(truncated) cannot be read as a picture"),
            (["--image", bomb], "--image \(bomb) is 100000x100000, more than"),
            (["--image", image, "--mask", small], "--mask is 16x16 but the input image is 32x32"),
            (["--image", image, "--strength", "0"], "--strength must be above 0 and at most 1, got 0"),
            (["--image", image, "--strength", "1.5"], "--strength must be above 0 and at most 1, got 1.5"),
            (["--mask", image], "--mask needs an input picture: --image FILE"),
            (["--strength", "0.5"], "--strength needs an input picture: --image FILE"),
            (["--image", image, "--mask-blur", "300"], "--mask-blur must be between 0 and 256, got 300"),
            (["--image", image, "--mask-blur", "3"], "--mask-blur needs a mask"),
            (["--image", image, "--outpaint", "1,2,3"], "--outpaint takes four pixel counts LEFT,TOP,RIGHT,BOTTOM"),
            (["--image", image, "--outpaint", "0,0,0,0"], "--outpaint margins are all 0"),
            (["--image", image, "--outpaint", "0,-16,0,0"], "--outpaint margins must be between 0 and 4096"),
            // The user's number, not the one grown to a multiple of 16 (it said "got 4112").
            (["--image", image, "--outpaint", "4097,0,0,0"], "--outpaint margins must be between 0 and 4096 pixels, got 4097"),
            (["--control", image], "--control does not apply: FLUX.1-dev is no control model"),
            (["--reference", image], "--reference does not apply: FLUX.1-dev is no Kontext model"),
            (["--control", image, "--canny-low", "10"], "--canny-low and --canny-high set the thresholds of --control-preprocess canny"),
            (["--control-preprocess", "canny"], "--control-preprocess needs a control picture: --control FILE"),
            (["--reference-resize", "off"], "--reference-resize needs a Kontext reference: --reference FILE"),
            (["--reference", image, "--reference-resize", "big"], "--reference-resize"),
        ]
        for (options, message) in cases {
            let started = Date()
            let r = try generate(options)
            XCTAssertNotEqual(r.status, 0, "\(options): \(r.log)")
            XCTAssertTrue(r.log.contains(message), "\(options): expected \"\(message)\" in: \(r.log)")
            XCTAssertFalse(r.log.contains("steps on"), "\(options): it went on to generate: \(r.log)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: r.folder + "/out.png"), "\(options)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 30, "\(options)")
        }
    }
}
