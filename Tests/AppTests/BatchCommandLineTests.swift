import Foundation
import Tensor
import XCTest

/// `majicflux generate --batch N`: one file per seed with its own infotext, each the picture of its
/// seed alone; bad counts refused before anything loads.
final class BatchCommandLineTests: XCTestCase {
    private var folders: [String] = []

    override func tearDownWithError() throws { for f in folders { try? FileManager.default.removeItem(atPath: f) } }

    private func generate(_ options: [String], output: String = "out.png") throws -> (status: Int32, log: String, folder: String) {
        let result = try TestConsole.runToEnd(["generate", "--model", TestConsole.tinyModel, "--device", "cpu", "--prompt", "a red circle",
                                               "--steps", "2", "--width", "48", "--max-sequence-length", "16", "--output", output] + options)
        folders.append(result.folder)
        return result
    }

    func testBatchWritesOnePictureperSeedEachItsSeedsSingleRun() throws {
        let (status, log, folder) = try generate(["--seed", "5", "--batch", "3"])
        XCTAssertEqual(status, 0, log)
        XCTAssertTrue(log.contains("seeds 5...7 (a batch of 3)"), log)
        XCTAssertTrue(log.contains("3 pictures in") && log.contains("images/s"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/out.png"), "a batch names every file by its seed")
        var pictures: [[UInt8]] = []
        for seed in 5...7 {
            let png = try PNG.read(folder + "/out-seed\(seed).png")
            let json = try XCTUnwrap(png.text.first { $0.key == "majicflux" }?.value)
            let request = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            XCTAssertEqual(request["seed"] as? Int, seed)
            let infotext = png.text.first { $0.key == "parameters" }?.value ?? ""
            XCTAssertTrue(infotext.contains("Seed: \(seed),"), infotext)
            pictures.append(png.image.pixels)
        }
        XCTAssertNotEqual(pictures[0], pictures[1])
        // The middle seed alone: the same picture, to float rounding.
        let single = try generate(["--seed", "6"])
        XCTAssertEqual(single.status, 0, single.log)
        let alone = try PNG.read(single.folder + "/out.png").image.pixels
        XCTAssertEqual(alone.count, pictures[1].count)
        XCTAssertLessThanOrEqual(zip(alone, pictures[1]).map { abs(Int($0) - Int($1)) }.max() ?? 99, 1)
    }

    func testBadBatchCountsAreRefusedBeforeLoading() throws {
        for (value, message) in [("0", "--batch must be between 1 and 8, got 0"), ("9", "--batch must be between 1 and 8, got 9"),
                                 ("-2", "--batch must be between 1 and 8, got -2"), ("two", "two")] {
            let (status, log, folder) = try generate(["--batch", value])
            XCTAssertNotEqual(status, 0, log)
            XCTAssertTrue(log.contains(message), "\(value): \(log)")
            let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".png") }
            XCTAssertEqual(files, [], "\(value)")
        }
    }

    /// `--output NAME.jpg` (or .jpeg, any case) writes JPEGs with the infotext in EXIF UserComment, as
    /// AUTOMATIC1111 does; a batch puts -seedS before the extension. The pictures are the PNG run's
    /// pictures through the codec, with the same infotext.
    func testJPEGOutputCarriesTheInfotextAndBatchNamesKeepTheExtension() throws {
        let (status, log, folder) = try generate(["--seed", "5", "--batch", "2"], output: "out.JPG")
        XCTAssertEqual(status, 0, log)
        let png = try generate(["--seed", "5"])
        XCTAssertEqual(png.status, 0, png.log)
        let reference = try PNG.read(png.folder + "/out.png")
        let infotext = try XCTUnwrap(reference.text.first { $0.key == "parameters" }?.value)
        for seed in [5, 6] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/out-seed\(seed).JPG")))
            XCTAssertEqual(ImageFile.format(of: bytes), .jpeg, "seed \(seed)")
            let comment = try XCTUnwrap(JPEG.userComment(in: bytes), "seed \(seed): no EXIF UserComment")
            XCTAssertTrue(comment.contains("Seed: \(seed),") && comment.hasPrefix("a red circle"), comment)
            if seed == 5 {
                XCTAssertEqual(comment, infotext, "the PNG's parameters, word for word")
                // The PNG run's picture through a quality-95 JPEG (JPEGEncodeTests: as Pillow encodes; the batch
                // row may differ from the single run by one level in a few bytes, which the codec can move).
                let picture = try JPEG.decode(bytes), expected = try JPEG.decode(try JPEG.encode(reference.image, quality: 95))
                XCTAssertEqual([picture.width, picture.height], [reference.image.width, reference.image.height])
                let diffs = zip(picture.pixels, expected.pixels).map { abs(Int($0) - Int($1)) }
                XCTAssertLessThan(Double(diffs.reduce(0, +)) / Double(diffs.count), 0.5, "the same picture at quality 95")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/out.JPG"))
        let one = try generate(["--seed", "5"], output: "one.jpeg")
        XCTAssertEqual(one.status, 0, one.log)
        XCTAssertEqual(ImageFile.format(of: [UInt8](try Data(contentsOf: URL(fileURLWithPath: one.folder + "/one.jpeg")))), .jpeg)
        // A prompt whose infotext is too long for EXIF (9,000 characters of 4 UTF-16 units): the JPEG is
        // written without it, with a warning, rather than the picture lost.
        let huge = try TestConsole.runToEnd(["generate", "--model", TestConsole.tinyModel, "--device", "cpu", "--steps", "1", "--width", "32",
                                             "--max-sequence-length", "16", "--prompt", String(repeating: "👍🏽", count: 9_000), "--output", "big.jpg"])
        folders.append(huge.folder)
        XCTAssertEqual(huge.status, 0, huge.log)
        XCTAssertTrue(huge.log.contains("is written without them"), huge.log)
        let big = [UInt8](try Data(contentsOf: URL(fileURLWithPath: huge.folder + "/big.jpg")))
        XCTAssertEqual(ImageFile.format(of: big), .jpeg)
        XCTAssertNil(JPEG.userComment(in: big))
    }

    /// `--output NAME.webp` writes WebPs (lossy, quality 95) with the infotext in EXIF UserComment, as
    /// AUTOMATIC1111 writes its WebPs; batch names keep the extension; the times line names the format;
    /// a WebP is read back as an input picture.
    func testWebPOutputCarriesTheInfotextAndReadsBackAsInput() throws {
        let (status, log, folder) = try generate(["--seed", "5", "--batch", "2"], output: "out.webp")
        XCTAssertEqual(status, 0, log)
        XCTAssertTrue(log.contains(", WebP "), "the times line names the format: \(log)")
        let png = try generate(["--seed", "5"])
        let reference = try PNG.read(png.folder + "/out.png")
        let infotext = try XCTUnwrap(reference.text.first { $0.key == "parameters" }?.value)
        for seed in [5, 6] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/out-seed\(seed).webp")))
            XCTAssertEqual(ImageFile.format(of: bytes), .webp, "seed \(seed)")
            let comment = try XCTUnwrap(WebP.userComment(in: bytes), "seed \(seed): no EXIF UserComment")
            XCTAssertTrue(comment.contains("Seed: \(seed),"), comment)
            if seed == 5 {
                XCTAssertEqual(comment, infotext, "the PNG's parameters, word for word")
                // The PNG run's picture through the same codec (the tiny model paints noise, which lossy
                // WebP keeps poorly, so the comparison is codec to codec).
                let picture = try WebP.decode(bytes), expected = try WebP.decode(try WebP.encode(reference.image, quality: 95))
                let diffs = zip(picture.pixels, expected.pixels).map { abs(Int($0) - Int($1)) }
                XCTAssertLessThan(Double(diffs.reduce(0, +)) / Double(diffs.count), 0.5, "the same picture at quality 95")
            }
        }
        // img2img from the WebP.
        let again = try TestConsole.runToEnd(["generate", "--model", TestConsole.tinyModel, "--device", "cpu", "--steps", "2",
                                              "--prompt", "a blue square", "--image", folder + "/out-seed5.webp", "--output", "from-webp.png"])
        folders.append(again.folder)
        XCTAssertEqual(again.status, 0, again.log)
        XCTAssertTrue(again.log.contains("img2img from image"), again.log)
        // 16384 pixels a side fits PNG but not WebP: refused before anything runs.
        let wide = try TestConsole.runToEnd(["generate", "--model", TestConsole.tinyModel, "--device", "cpu", "--steps", "1",
                                             "--width", "16384", "--height", "16", "--prompt", "x", "--output", "wide.webp"])
        folders.append(wide.folder)
        XCTAssertNotEqual(wide.status, 0)
        XCTAssertTrue(wide.log.contains("at most 16383 pixels a side"), wide.log)
        XCTAssertFalse(wide.log.contains("step"), "nothing ran: \(wide.log)")
    }
}
