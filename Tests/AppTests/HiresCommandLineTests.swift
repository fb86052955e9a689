import Foundation
import Tensor
import XCTest

/// `majicflux generate --hires-*`: the picture at the final size with A1111's infotext, the progress
/// counting both passes; bad or orphaned options refused before anything loads.
final class HiresCommandLineTests: XCTestCase {
    private var folders: [String] = []

    override func tearDownWithError() throws { for f in folders { try? FileManager.default.removeItem(atPath: f) } }

    private func generate(_ options: [String]) throws -> (status: Int32, log: String, folder: String) {
        let result = try TestConsole.runToEnd(["generate", "--model", TestConsole.tinyModel, "--device", "cpu", "--prompt", "a red circle",
                                               "--seed", "4", "--steps", "3", "--width", "48", "--height", "32",
                                               "--max-sequence-length", "16", "--output", "out.png"] + options)
        folders.append(result.folder)
        return result
    }

    func testHiresWritesTheFinalSizeAndSaysWhatItRuns() throws {
        let (status, log, folder) = try generate(["--hires-scale", "1.5", "--hires-upscaler", "latent (bicubic)", "--hires-steps", "4",
                                                  "--hires-strength", "0.5"])
        XCTAssertEqual(status, 0, log)
        XCTAssertTrue(log.contains("hires fix: 64x48 by Latent (bicubic), 2 of 4 steps (strength 0.5)"), log)
        XCTAssertTrue(log.contains("5/5"), "the bar counts both passes: \(log)")
        let png = try PNG.read(folder + "/out.png")
        XCTAssertEqual([png.image.width, png.image.height], [64, 48], "72x48 floored to multiples of 16")
        let infotext = png.text.first { $0.key == "parameters" }?.value ?? ""
        XCTAssertTrue(infotext.contains("Size: 48x32, T5 length: 16, Denoising strength: 0.5, Hires upscale: 1.5, Hires steps: 4, Hires upscaler: Latent (bicubic)"), infotext)

        let sized = try generate(["--hires-size", "96x96", "--hires-upscaler", "Nearest"])
        XCTAssertEqual(sized.status, 0, sized.log)
        let square = try PNG.read(sized.folder + "/out.png")
        XCTAssertEqual([square.image.width, square.image.height], [96, 96], "another aspect ratio: covered, then cropped")
        XCTAssertTrue((square.text.first { $0.key == "parameters" }?.value ?? "").contains("Hires resize: 96x96"))
    }

    func testBadHiresOptionsAreRefusedBeforeLoading() throws {
        for (options, message) in [
            (["--hires-strength", "0.5"], "--hires-strength sets up the hires fix: add --hires-scale FACTOR or --hires-size WxH"),
            (["--hires-scale", "2", "--hires-size", "64x64"], "--hires-scale and --hires-size both set the hires fix's size"),
            (["--hires-scale", "0"], "--hires-scale must be above 0 and at most 16, got 0.0"),
            (["--hires-size", "64by64"], "--hires-size takes WIDTHxHEIGHT"),
            (["--hires-scale", "2", "--hires-upscaler", "ESRGAN"], "--hires-upscaler \"ESRGAN\" is unknown"),
            (["--hires-size", "100x64"], "the hires fix (--hires-*) width must be a positive multiple of 16, got 100"),
            (["--hires-scale", "2", "--hires-strength", "1.5"], "strength must be above 0 and at most 1, got 1.5"),
            (["--hires-scale", "2", "--image", "/nonexistent.png"], "--image"),
        ] {
            let (status, log, folder) = try generate(options)
            XCTAssertNotEqual(status, 0, log)
            XCTAssertTrue(log.contains(message), "\(options): \(log)")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".png") }, [], "\(options)")
        }
    }
}
