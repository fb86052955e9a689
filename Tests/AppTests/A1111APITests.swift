import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MajicFluxApp
import Tensor
import XCTest

/// The A1111-compatible API (docs/API.md, "A1111-compatible API") on the tiny test model.
final class A1111APITests: XCTestCase {
    private var console: TestConsole!

    override func setUp() async throws { console = try await TestConsole.start() }
    override func tearDown() async throws { await console.stop() }

    private func infoOf(_ reply: TestConsole.Reply) throws -> [String: Any] {
        let text = try XCTUnwrap(reply.json["info"] as? String, reply.text)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// batch_size x n_iter pictures with seeds seed, seed+1, ...; base64 PNGs whose parameters chunk
    /// is the infotext; the jobs are in the history.
    func testTxt2imgBatchesSeedsAndInfotext() async throws {
        let r = try await console.post("/sdapi/v1/txt2img", json: [
            "prompt": "a red square", "seed": 40, "batch_size": 2, "n_iter": 2, "steps": 2, "width": 32, "height": 48,
            "cfg_scale": 1, "distilled_cfg_scale": 2.5, "sampler_name": "Euler a", "subseed_strength": 0.5,
        ])
        XCTAssertEqual(r.status, 200, r.text)
        let images = try XCTUnwrap(r.json["images"] as? [String])
        XCTAssertEqual(images.count, 4)
        let info = try infoOf(r)
        XCTAssertEqual(info["all_seeds"] as? [Int], [40, 41, 42, 43])
        let texts = try XCTUnwrap(info["infotexts"] as? [String])
        XCTAssertEqual(texts.count, 4)
        for (i, t) in texts.enumerated() {
            let last = t.components(separatedBy: "\n").last ?? ""
            for field in ["Steps: 2", "Sampler: Euler", "Schedule type: Simple", "CFG scale: 1", "Distilled CFG Scale: 2.5",
                          "Seed: \(40 + i)", "Size: 32x48", "Model: tiny-flux"] {
                XCTAssertTrue(last.contains(field), "\(field) in \(last)")
            }
            let png = try XCTUnwrap(Data(base64Encoded: images[i]))
            XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
            XCTAssertTrue(String(decoding: png, as: UTF8.self).contains("Seed: \(40 + i)"), "the PNG carries its infotext")
        }
        XCTAssertNotEqual(images[0], images[1], "different seeds, different pictures")
        let notes = (info["notes"] as? [String] ?? []).joined(separator: " | ")
        XCTAssertTrue(notes.contains("Euler a") && notes.contains("subseed"), notes)
        let history = try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(history.count, 4, "the pictures are in the history")

        // send_images false: no pictures in the answer, still made.
        let quiet = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "x", "seed": 40, "steps": 2, "width": 32, "height": 48,
                                                                       "distilled_cfg_scale": 2.5, "send_images": false])
        XCTAssertEqual(quiet.status, 200, quiet.text)
        XCTAssertEqual((quiet.json["images"] as? [Any])?.count, 0)
        XCTAssertEqual((try infoOf(quiet)["all_seeds"] as? [Int]), [40])
        XCTAssertFalse((try infoOf(quiet)["notes"] as? [String] ?? []).contains { $0.contains("T5 tokens") }, "a short prompt loses nothing")

        // A prompt past T5's length (this server reads 64 tokens): the notes say the rest has no effect.
        let long = try await console.post("/sdapi/v1/txt2img", json: ["prompt": String(repeating: "a red circle on a blue square, ", count: 20),
                                                                      "seed": 41, "steps": 1, "width": 32, "height": 32, "send_images": false])
        XCTAssertEqual(long.status, 200, long.text)
        let longNotes = (try infoOf(long)["notes"] as? [String] ?? []).joined(separator: " | ")
        XCTAssertTrue(longNotes.contains("T5 reads 64 (the server's --max-sequence-length, at most 512): the rest of the prompt has no effect"), longNotes)
    }

    /// `samples_format` "jpg" (set through /options, as clients of A1111 do): the pictures come back as
    /// JPEGs (or WebPs) at `jpeg_quality` with the infotext in EXIF UserComment; other formats and
    /// nonsense values are 422.
    func testSamplesFormatJPGAnswersWithJPEGs() async throws {
        for (body, field) in [(["samples_format": "gif"], "samples_format"), (["jpeg_quality": 0], "jpeg_quality"),
                              (["jpeg_quality": "high"], "jpeg_quality")] as [([String: Any], String)] {
            let r = try await console.post("/sdapi/v1/options", json: body)
            XCTAssertEqual(r.status, 422, r.text)
            XCTAssertTrue(r.text.contains(field), r.text)
        }
        let request: [String: Any] = ["prompt": "a red square", "seed": 7, "steps": 2, "width": 32, "height": 48, "batch_size": 2]
        func pictures(quality: Int) async throws -> (images: [[UInt8]], infotexts: [String]) {
            let set = try await console.post("/sdapi/v1/options", json: ["samples_format": "JPG", "jpeg_quality": quality])
            XCTAssertEqual(set.status, 200, set.text)
            let r = try await console.post("/sdapi/v1/txt2img", json: request)
            XCTAssertEqual(r.status, 200, r.text)
            let images = try XCTUnwrap(r.json["images"] as? [String]).map { [UInt8](Data(base64Encoded: $0) ?? Data()) }
            return (images, try XCTUnwrap(try infoOf(r)["infotexts"] as? [String]))
        }
        let high = try await pictures(quality: 90), low = try await pictures(quality: 20)
        XCTAssertEqual(high.images.count, 2)
        for (i, jpeg) in high.images.enumerated() {
            XCTAssertEqual(Array(jpeg.prefix(3)), [0xFF, 0xD8, 0xFF], "a JPEG")
            XCTAssertEqual(JPEG.userComment(in: jpeg), high.infotexts[i], "the infotext in EXIF UserComment")
            XCTAssertTrue(high.infotexts[i].contains("Seed: \(7 + i),"), high.infotexts[i])
            let picture = try JPEG.decode(jpeg)
            XCTAssertEqual([picture.width, picture.height], [32, 48])
            XCTAssertLessThan(low.images[i].count, jpeg.count, "jpeg_quality is used")
        }
        let shown = try await console.get("/sdapi/v1/options").json
        XCTAssertEqual(shown["samples_format"] as? String, "JPG")
        // webp: lossy WebPs at jpeg_quality, the infotext in their EXIF chunk, as A1111 saves them.
        _ = try await console.post("/sdapi/v1/options", json: ["samples_format": "webp", "jpeg_quality": 90])
        let w = try await console.post("/sdapi/v1/txt2img", json: request)
        XCTAssertEqual(w.status, 200, w.text)
        let webps = try XCTUnwrap(w.json["images"] as? [String]).map { [UInt8](Data(base64Encoded: $0) ?? Data()) }
        let webpTexts = try XCTUnwrap(try infoOf(w)["infotexts"] as? [String])
        XCTAssertEqual(webps.count, 2)
        for (i, webp) in webps.enumerated() {
            XCTAssertEqual(ImageFile.format(of: webp), .webp)
            XCTAssertEqual(WebP.userComment(in: webp), webpTexts[i])
            let picture = try WebP.decode(webp)
            XCTAssertEqual([picture.width, picture.height], [32, 48])
        }
        // png-info reads the WebP's infotext back.
        let info = try await console.post("/sdapi/v1/png-info", json: ["image": "data:image/webp;base64," + Data(webps[1]).base64EncodedString()])
        XCTAssertEqual(info.json["info"] as? String, webpTexts[1], info.text)
        _ = try await console.post("/sdapi/v1/options", json: ["samples_format": "png"])
        let png = try await console.post("/sdapi/v1/txt2img", json: request)
        let first = try XCTUnwrap((png.json["images"] as? [String])?.first.flatMap { Data(base64Encoded: $0) })
        XCTAssertEqual(Array(first.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "back to PNG")
    }

    /// img2img: init_images and mask become the conditioning; the infotext records the strength.
    func testImg2imgUsesThePicture() async throws {
        let t = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "x", "seed": 3, "steps": 2, "width": 32, "height": 32])
        let picture = try XCTUnwrap((t.json["images"] as? [String])?.first)
        let r = try await console.post("/sdapi/v1/img2img", json: [
            "init_images": ["data:image/png;base64," + picture], "mask": picture, "denoising_strength": 0.5, "mask_blur": 0,
            "prompt": "y", "seed": 9, "steps": 4, "inpainting_fill": 0,
        ])
        XCTAssertEqual(r.status, 200, r.text)
        let info = try infoOf(r)
        XCTAssertEqual(info["width"] as? Int, 32, "the size of the picture when none is given")
        let text = (info["infotexts"] as? [String])?.first ?? ""
        XCTAssertTrue(text.contains("Denoising strength: 0.5") && text.contains("Seed: 9"), text)
        XCTAssertTrue((info["notes"] as? [String] ?? []).contains { $0.contains("inpainting_fill") })
        let items = try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
        let newest = items.first?["parameters"] as? [String: Any]
        XCTAssertNotNil(newest?["conditioning"], "the history entry records the input picture")
    }

    /// Masks as A1111 reads them (user testing): outside the mask the picture's own pixels come back
    /// (A1111 pastes them over the result; they went through the VAE: 70/255 off on a saturated
    /// picture); a mask with transparency is its alpha channel (an alpha-only mask was refused as all
    /// black); a mask of another size is resized to the picture (it was a 422); mask_blur_x / _y are read.
    func testImg2imgMasksAsA1111ReadsThem() async throws {
        let (w, h) = (32, 32)
        var blue = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) { blue[i * 3 + 2] = 255 }
        let picture = try PNGImage(width: w, height: h, channels: 3, pixels: blue)
        func b64(_ p: PNGImage) throws -> String { Data(try PNG.encode(p)).base64EncodedString() }
        func result(_ r: TestConsole.Reply) throws -> PNGImage {
            try PNG.decode(Array(try XCTUnwrap(Data(base64Encoded: try XCTUnwrap((r.json["images"] as? [String])?.first))))).image
        }
        func send(_ mask: PNGImage, _ extra: [String: Any] = [:]) async throws -> TestConsole.Reply {
            var body: [String: Any] = ["init_images": [try b64(picture)], "mask": try b64(mask), "prompt": "a red circle",
                                       "seed": 4, "steps": 2, "denoising_strength": 1, "mask_blur": 0]
            body.merge(extra) { $1 }
            return try await console.post("/sdapi/v1/img2img", json: body)
        }
        // The left half repainted; the right half is the picture, byte for byte.
        let r = try await send(try TestPictures.mask(width: w, height: h))
        XCTAssertEqual(r.status, 200, r.text)
        let out = try result(r)
        var kept = true, changed = false
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * 3
                if x >= w / 2 { kept = kept && Array(out.pixels[i..<i + 3]) == [0, 0, 255] }
                else if x < w / 2 - 2 { changed = changed || Array(out.pixels[i..<i + 3]) != [0, 0, 255] }
            }
        }
        XCTAssertTrue(kept, "outside the mask the picture's own pixels")
        XCTAssertTrue(changed, "inside it the generated ones")

        // The same mask as alpha only (black, the left half opaque): the same picture.
        var rgba = [UInt8](repeating: 0, count: w * h * 4)
        for y in 0..<h { for x in 0..<(w / 2) { rgba[(y * w + x) * 4 + 3] = 255 } }
        let alpha = try await send(try PNGImage(width: w, height: h, channels: 4, pixels: rgba))
        XCTAssertEqual(alpha.status, 200, alpha.text)
        XCTAssertEqual(try result(alpha).pixels, out.pixels, "a transparent mask is its alpha channel")

        // Twice the size: resized to the picture, with a note; the same picture.
        let big = try await send(try TestPictures.mask(width: 2 * w, height: 2 * h))
        XCTAssertEqual(big.status, 200, big.text)
        XCTAssertTrue((try infoOf(big)["notes"] as? [String] ?? []).contains { $0.contains("mask resized from 64x64") }, big.text)
        XCTAssertEqual(try result(big).pixels, out.pixels)

        // mask_blur_x / _y without mask_blur: read (the larger), a note when they differ.
        var body = ["mask_blur_x": 4, "mask_blur_y": 8] as [String: Any]
        body["mask_blur"] = NSNull()
        let blurred = try await send(try TestPictures.mask(width: w, height: h), body)
        XCTAssertEqual(blurred.status, 200, blurred.text)
        XCTAssertTrue((try infoOf(blurred)["infotexts"] as? [String])?.first?.contains("Mask blur: 8") == true, blurred.text)
        XCTAssertTrue((try infoOf(blurred)["notes"] as? [String] ?? []).contains { $0.contains("mask_blur_x 4 and mask_blur_y 8") }, blurred.text)
    }

    /// A1111's prompt defaults to "": txt2img and img2img (an upscaling workflow sends none) run
    /// without one, where the console's own API asks for a description.
    func testAnEmptyPromptRunsAsInA1111() async throws {
        let t = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "", "seed": 2, "steps": 2, "width": 32, "height": 32])
        XCTAssertEqual(t.status, 200, t.text)
        let picture = try XCTUnwrap((t.json["images"] as? [String])?.first)
        let i = try await console.post("/sdapi/v1/img2img", json: ["init_images": [picture], "seed": 2, "steps": 2, "denoising_strength": 0.3])
        XCTAssertEqual(i.status, 200, i.text)
        XCTAssertEqual((i.json["images"] as? [String])?.count, 1)
        let tagOnly = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "<lora:nothing-here:1>", "steps": 2, "width": 32, "height": 32])
        XCTAssertEqual(tagOnly.status, 422, "the LoRA is still checked: \(tagOnly.text)")
    }

    /// An RGBA init picture without a mask is flattened onto white, as A1111 does: img2img of the
    /// whole picture (the same picture as its flattened copy sent as RGB), not inpainting of its
    /// transparent half.
    func testImg2imgFlattensAnRGBAPictureWithoutAMask() async throws {
        let rgba = try TestPictures.image(width: 32, height: 32, channels: 4)
        func img2img(_ p: PNGImage) async throws -> [UInt8] {
            let r = try await console.post("/sdapi/v1/img2img", json: [
                "init_images": [Data(try TestPictures.png(p)).base64EncodedString()], "prompt": "y", "seed": 5, "steps": 3,
                "denoising_strength": 0.6])
            XCTAssertEqual(r.status, 200, r.text)
            let png = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap((r.json["images"] as? [String])?.first)))
            return try PNG.decode([UInt8](png)).image.pixels  // the pixels: the infotexts name each job's own input file
        }
        let flat = rgba.flattened()
        XCTAssertEqual(flat.channels, 3)
        XCTAssertEqual(Array(flat.pixels[(16 * 3)..<(16 * 3 + 3)]), [255, 255, 255], "transparent pixels become white")
        let fromRGBA = try await img2img(rgba), fromFlat = try await img2img(flat)
        XCTAssertEqual(fromRGBA, fromFlat)
        let items = try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
        let conditioning = (items.first?["parameters"] as? [String: Any])?["conditioning"] as? [String: Any]
        XCTAssertEqual(conditioning?["mode"] as? String, "img2img")
    }

    /// `enable_hr`: A1111's hires fix; the picture is the final size, the infotext A1111's, and the same
    /// hires fix through the console's /api/jobs gives the same picture.
    func testHiresFixAsA1111DoesIt() async throws {
        let r = try await console.post("/sdapi/v1/txt2img", json: [
            "prompt": "a red square", "seed": 9, "steps": 2, "width": 32, "height": 48, "enable_hr": true, "hr_scale": 1.5,
            "hr_upscaler": "Latent (bicubic)", "denoising_strength": 0.8, "hr_second_pass_steps": 3,
            "hr_cfg": 1, "hr_distilled_cfg": 5, "hr_sampler_name": "DPM++ 2M", "hr_scheduler": "Karras",
        ])
        XCTAssertEqual(r.status, 200, r.text)
        let png = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap((r.json["images"] as? [String])?.first)))
        let picture = try PNG.decode([UInt8](png)).image
        XCTAssertEqual([picture.width, picture.height], [48, 64], "48x72 floored to multiples of 16")
        let info = try infoOf(r)
        let text = try XCTUnwrap((info["infotexts"] as? [String])?.first)
        XCTAssertTrue(text.contains("Seed: 9, Size: 32x48, T5 length: 64, Denoising strength: 0.8, Hires upscale: 1.5, Hires steps: 3, Hires upscaler: Latent (bicubic)"),
                      text.replacingOccurrences(of: "\n", with: " | "))
        XCTAssertEqual(info["width"] as? Int, 32, "A1111's info gives the first pass's size")
        XCTAssertEqual(info["denoising_strength"] as? Double, 0.8)
        XCTAssertEqual((info["extra_generation_params"] as? [String: Any])?["Hires steps"] as? Int, 3)
        let notes = info["notes"] as? [String] ?? []
        for note in ["hires size 48x72 ran as 48x64 (Flux needs multiples of 16)", "hr_distilled_cfg ignored: the hires pass used distilled_cfg_scale 3.5",
                     "hr_sampler_name \"DPM++ 2M\" is not available; the hires pass ran Euler", "hr_scheduler \"Karras\" is not available; the hires pass ran Simple"] {
            XCTAssertTrue(notes.contains(note), "\(note) in \(notes)")
        }
        XCTAssertFalse(notes.contains { $0.hasPrefix("hr_cfg") }, "hr_cfg 1 is what ran")

        let job = try await console.post("/api/jobs", json: [
            "prompt": "a red square", "seed": 9, "steps": 2, "width": 32, "height": 48, "guidance": 3.5,
            "hires": ["scale": 1.5, "upscaler": "Latent (bicubic)", "strength": 0.8, "steps": 3],
        ])
        XCTAssertEqual(job.status, 202, job.text)
        let done = try await console.waitForJob(try XCTUnwrap(job.json["id"] as? String)) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(done["status"] as? String, "done", "\(done)")
        XCTAssertEqual(done["total_steps"] as? Int, 2 + 3, "both passes: 2, then int(3 - 3 * 0.8) = 0 skipped of 3")
        let params = try XCTUnwrap(done["parameters"] as? [String: Any])
        XCTAssertEqual((params["hires"] as? [String: Any])?["width"] as? Int, 48)
        let url = try XCTUnwrap(done["image"] as? String)
        let again = try PNG.decode([UInt8](try await console.get(url).body)).image
        XCTAssertEqual(again.pixels, picture.pixels, "the console's hires fix is the A1111 API's")

        let bad = try await console.post("/api/jobs", json: ["prompt": "x", "hires": ["scale": 2, "upscaler": "4x-UltraSharp"]])
        XCTAssertEqual(bad.status, 400, bad.text)
        XCTAssertTrue(bad.text.contains("hires.upscaler"), bad.text)
    }

    /// Bad fields are 422 with FastAPI's detail naming them.
    func testBadFieldsAre422NamingTheField() async throws {
        // (body, the field the 422 names, a word of its message)
        let cases: [([String: Any], String, String)] = [
            (["steps": 0], "steps", "steps"), (["steps": "many"], "steps", "integer"),
            (["width": 33], "width", "width"), (["cfg_scale": "hot"], "cfg_scale", "number"),
            (["distilled_cfg_scale": 1000], "distilled_cfg_scale", "distilled_cfg_scale"), (["seed": -5], "seed", "seed"),
            (["batch_size": 0], "batch_size", "batch_size"), (["n_iter": 1000], "n_iter", "n_iter"),
            (["enable_hr": true, "hr_upscaler": "R-ESRGAN 4x+"], "hr_upscaler", "could not find upscaler"),
            (["enable_hr": true, "hr_scale": 1000], "hr_scale", "hr_scale"), (["enable_hr": true, "hr_prompt": "a dog"], "hr_prompt", "second prompt"),
            (["enable_hr": true, "hr_second_pass_steps": 500], "hr_second_pass_steps", "hr_second_pass_steps"),
            (["enable_hr": true, "hr_resize_x": 8, "hr_resize_y": 8], "hr_resize_x", "at least 16"), (["enable_hr": true, "denoising_strength": 0], "enable_hr", "strength"),
            (["prompt": 5], "prompt", "string"),
            (["prompt": "x <lora:nothing-here:1>"], "prompt", "nothing-here"), (["send_images": "yes"], "send_images", "true or false"),
            // Seeds past a signed 64-bit integer would come back negative in info's seeds.
            (["seed": "18446744073709551615"], "seed", "9223372036854775807"), (["seed": 9223372036854775807, "batch_size": 2], "seed", "room"),
            // Shapes A1111's request model checks.
            (["override_settings": "str"], "override_settings", "an object"), (["styles": "notalist"], "styles", "a list"),
            // A LoRA tag's weight that is not a number is refused, not read as 1.
            (["prompt": "x <lora:night:abc>"], "prompt", "abc"), (["prompt": "x <lora:night:nan>"], "prompt", "nan"),
        ]
        for (fields, field, word) in cases {
            let body = (["prompt": "x", "width": 32, "height": 32] as [String: Any]).merging(fields) { _, new in new }
            let r = try await console.post("/sdapi/v1/txt2img", json: body)
            XCTAssertEqual(r.status, 422, "\(body): \(r.text)")
            let detail = (r.json["detail"] as? [[String: Any]])?.first
            XCTAssertEqual(detail?["loc"] as? [String], ["body", field], "\(body): \(r.text)")
            XCTAssertTrue((detail?["msg"] as? String ?? "").contains(word), r.text)
        }
        let noImage = try await console.post("/sdapi/v1/img2img", json: ["prompt": "x"])
        XCTAssertEqual(noImage.status, 422, noImage.text)
        XCTAssertTrue(noImage.text.contains("init_images"), noImage.text)
        let junk = try await console.post("/sdapi/v1/img2img", json: ["prompt": "x", "init_images": ["bm90IGEgcGljdHVyZQ=="]])
        XCTAssertEqual(junk.status, 422, junk.text)
        XCTAssertTrue(junk.text.contains("init_images"), junk.text)
        let notJSON = try await console.post("/sdapi/v1/txt2img", raw: "{")
        XCTAssertEqual(notJSON.status, 422, notJSON.text)
        let jobs = try await console.get("/api/jobs").json["jobs"] as? [Any]
        XCTAssertEqual(jobs?.count, 0, "nothing was queued")
    }

    /// The model list, options, samplers, schedulers, LoRAs and idle progress.
    func testListsOptionsAndIdleProgress() async throws {
        let models = try JSONSerialization.jsonObject(with: try await console.get("/sdapi/v1/sd-models").body) as? [[String: Any]]
        XCTAssertEqual(models?.count, 1)
        let title = try XCTUnwrap(models?.first?["title"] as? String)
        XCTAssertTrue(title.hasPrefix("tiny-flux"), title)
        let options = try await console.get("/sdapi/v1/options")
        XCTAssertEqual(options.json["sd_model_checkpoint"] as? String, title)
        let set = try await console.post("/sdapi/v1/options", json: ["sd_model_checkpoint": "tiny-flux", "CLIP_stop_at_last_layers": 2, "no_such_option": 1])
        XCTAssertEqual(set.status, 200, set.text)
        let after = try await console.get("/sdapi/v1/options").json
        XCTAssertEqual(after["CLIP_stop_at_last_layers"] as? Int, 2, "a known option is kept")
        XCTAssertNil(after["no_such_option"], "an unknown one is ignored, as A1111 does")
        // A null leaves the option as it was; a body that is not JSON is refused whatever it holds.
        _ = try await console.post("/sdapi/v1/options", json: ["samples_format": NSNull(), "jpeg_quality": NSNull()])
        let kept = try await console.get("/sdapi/v1/options").json
        XCTAssertEqual(kept["samples_format"] as? String, "png")
        XCTAssertFalse(kept["jpeg_quality"] is NSNull)
        for type in ["text/plain", "application/x-www-form-urlencoded"] {
            let form = try await console.send("POST", "/sdapi/v1/options", body: Data(#"{"samples_format": "jpg"}"#.utf8), contentType: type)
            XCTAssertEqual(form.status, 422, form.text)
            XCTAssertTrue(form.text.contains("Content-Type: application/json"), form.text)
        }
        let unchanged = try await console.get("/sdapi/v1/options").json
        XCTAssertEqual(unchanged["samples_format"] as? String, "png", "not changed by them")
        let other = try await console.post("/sdapi/v1/options", json: ["sd_model_checkpoint": "sdxl.safetensors"])
        XCTAssertEqual(other.status, 422, other.text)
        XCTAssertTrue(other.text.contains("sd_model_checkpoint"), other.text)
        // A generation that asks for another checkpoint is refused too (it ran this model without a word).
        for path in ["/sdapi/v1/txt2img", "/sdapi/v1/img2img"] {
            let asked = try await console.post(path, json: ["prompt": "x", "steps": 1, "width": 64, "height": 64,
                                                            "override_settings": ["sd_model_checkpoint": "sdxl.safetensors"]])
            XCTAssertEqual(asked.status, 422, asked.text)
            XCTAssertTrue(asked.text.contains("override_settings.sd_model_checkpoint") && asked.text.contains("sdxl.safetensors"), asked.text)
        }
        let queued = try await console.get("/api/jobs").json["jobs"] as? [Any]
        XCTAssertEqual(queued?.count, 0, "nothing was queued")
        let samplers = try JSONSerialization.jsonObject(with: try await console.get("/sdapi/v1/samplers").body) as? [[String: Any]]
        XCTAssertEqual(samplers?.compactMap { $0["name"] as? String }, ["Euler"])
        let schedulers = try JSONSerialization.jsonObject(with: try await console.get("/sdapi/v1/schedulers").body) as? [[String: Any]]
        XCTAssertEqual(schedulers?.first?["label"] as? String, "Simple")
        let loras = try await console.get("/sdapi/v1/loras")
        XCTAssertEqual(loras.status, 200, loras.text)
        let progress = try await console.get("/sdapi/v1/progress").json
        XCTAssertEqual(progress["progress"] as? Double, 0)
        XCTAssertEqual((progress["state"] as? [String: Any])?["job_count"] as? Int, 0)
        let interrupt = try await console.post("/sdapi/v1/interrupt", json: [:])
        XCTAssertEqual(interrupt.text, "{}")
    }

    /// /progress follows a running batch; /skip drops one picture, /interrupt the rest of the batch.
    func testProgressSkipAndInterrupt() async throws {
        let console = self.console!
        let run = Task { try await console.post("/sdapi/v1/txt2img", json: [
            "prompt": "slow", "seed": 1, "n_iter": 5, "steps": 100, "width": 256, "height": 256]) }
        var seen: [String: Any]?
        for _ in 0..<2000 {
            let p = try await console.get("/sdapi/v1/progress").json
            let state = p["state"] as? [String: Any] ?? [:]
            if state["job_count"] as? Int == 5, (state["sampling_step"] as? Int ?? 0) >= 2 { seen = p; break }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        let p = try XCTUnwrap(seen, "the batch was seen running")
        let progress = try XCTUnwrap(p["progress"] as? Double)
        XCTAssertTrue(progress > 0 && progress < 1, "\(progress)")
        XCTAssertEqual((p["state"] as? [String: Any])?["sampling_steps"] as? Int, 100)
        XCTAssertNotNil(p["current_image"] as? String, "a preview of the running picture")
        _ = try await console.post("/sdapi/v1/skip", json: [:])
        // Wait for the next picture to start, then stop the whole batch.
        for _ in 0..<2000 {
            let state = try await console.get("/sdapi/v1/progress").json["state"] as? [String: Any] ?? [:]
            if state["job_no"] as? Int ?? 0 >= 1 { break }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        _ = try await console.post("/sdapi/v1/interrupt", json: [:])
        let r = try await run.value
        XCTAssertEqual(r.status, 200, r.text)
        let count = (r.json["images"] as? [Any])?.count ?? -1
        XCTAssertLessThan(count, 4, "the skipped picture and the interrupted rest are not made")
        let info = try infoOf(r)
        XCTAssertEqual(info["interrupted"] as? Bool, true)
        let active = try await console.get("/api/jobs").json["jobs"] as? [Any]
        XCTAssertEqual(active?.count, 0, "nothing of the batch is left in the queue")
    }

    /// A picture of an A1111 request cancelled elsewhere (the console's cancel here; an interrupt
    /// through another front end of a shared queue alike) stops the whole request, as A1111's
    /// interrupt does, and the answer says `interrupted` (the rest of the batch ran, and it said false).
    func testACancelFromElsewhereInterruptsTheRequest() async throws {
        let console = self.console!
        let run = Task { try await console.post("/sdapi/v1/txt2img", json: [
            "prompt": "slow elsewhere", "seed": 1, "n_iter": 3, "steps": 100, "width": 256, "height": 256]) }
        var running: String?
        for _ in 0..<2000 where running == nil {
            let jobs = try await console.get("/api/jobs").json["jobs"] as? [[String: Any]] ?? []
            running = jobs.first { $0["status"] as? String == "running" && ($0["step"] as? Int ?? 0) >= 1 }?["id"] as? String
            if running == nil { try await Task.sleep(nanoseconds: 5_000_000) }
        }
        let id = try XCTUnwrap(running, "the request's first picture was seen running")
        let cancel = try await console.send("DELETE", "/api/jobs/\(id)")
        XCTAssertEqual(cancel.status, 200, cancel.text)
        let r = try await run.value
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual((r.json["images"] as? [Any])?.count, 0, "no picture of the request was made")
        let info = try infoOf(r)
        XCTAssertEqual(info["interrupted"] as? Bool, true, "\(info)")
        XCTAssertEqual(info["pictures_not_made"] as? Int, 3)
        // The next picture may have started meanwhile: it stops at its next step.
        var active: [Any]? = nil
        for _ in 0..<200 {
            active = try await console.get("/api/jobs").json["jobs"] as? [Any]
            if active?.isEmpty == true { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        XCTAssertEqual(active?.count, 0, "nothing of the request is left in the queue")
        let made = try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
        XCTAssertFalse(made.contains { ($0["parameters"] as? [String: Any])?["prompt"] as? String == "slow elsewhere" }, "none was made after all")
    }

    /// A request that waits longer than the idle timeout for its pictures is not cut: the timeout
    /// is for clients that stop sending, not for answers being made.
    func testALongRequestOutlivesTheIdleTimeout() async throws {
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        c.idleTimeout = 0.05
        let slow = try await TestConsole.start(configuration: c)
        let start = Date()
        let reply: TestConsole.Reply
        do {
            reply = try await slow.post("/sdapi/v1/txt2img", json: ["prompt": "x", "n_iter": 2, "steps": 100, "width": 128, "height": 128])
        } catch {
            await slow.stop()
            throw error
        }
        let seconds = Date().timeIntervalSince(start)
        await slow.stop()
        XCTAssertEqual(reply.status, 200, reply.text)
        XCTAssertEqual((reply.json["images"] as? [Any])?.count, 2)
        print("A1111APITests: 2 pictures of 100 steps in \(seconds) s, idle timeout 0.05 s")
        XCTAssertGreaterThan(seconds, 0.1, "the request took longer than twice the idle timeout")
    }

    /// `<lora:name:weight>` in the prompt applies that LoRA of the folder: the picture changes, the
    /// infotext keeps the tag and adds its hash, the history records it; /loras lists the folder.
    func testLoRATagsInThePromptApplyTheFoldersLoRAs() async throws {
        let dir = try TinyLoRA.folderWithOutline()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        c.loraDirectory = dir
        let withLoRAs = try await TestConsole.start(configuration: c)
        func run(_ prompt: String) async throws -> TestConsole.Reply {
            try await withLoRAs.post("/sdapi/v1/txt2img", json: ["prompt": prompt, "seed": 11, "steps": 2, "width": 32, "height": 32])
        }
        do {
            let listed = try JSONSerialization.jsonObject(with: try await withLoRAs.get("/sdapi/v1/loras").body) as? [[String: Any]]
            XCTAssertEqual(listed?.compactMap { $0["name"] as? String }, ["outline"])
            let plain = try await run("a square")
            let tagged = try await run("a square <lora:outline:0.8>")
            XCTAssertEqual(tagged.status, 200, tagged.text)
            XCTAssertNotEqual((plain.json["images"] as? [String])?.first, (tagged.json["images"] as? [String])?.first, "the LoRA changes the picture")
            let text = (try infoOf(tagged)["infotexts"] as? [String])?.first ?? ""
            XCTAssertTrue(text.hasPrefix("a square <lora:outline:0.8>\n"), text)
            XCTAssertTrue(text.contains("Lora hashes: \"outline: "), text)
            // A1111's other name for the tag (it was left in the prompt and no LoRA applied).
            let lyco = try await run("a square <lyco:outline:0.8>")
            func pixels(_ r: TestConsole.Reply) throws -> [UInt8] {
                try PNG.decode(Array(try XCTUnwrap(Data(base64Encoded: try XCTUnwrap((r.json["images"] as? [String])?.first))))).image.pixels
            }
            XCTAssertEqual(try pixels(lyco), try pixels(tagged), "<lyco:...> is <lora:...>")
            let newest = (try await withLoRAs.get("/api/history").json["items"] as? [[String: Any]])?.first?["parameters"] as? [String: Any]
            XCTAssertEqual(newest?["prompt"] as? String, "a square")
            XCTAssertEqual((newest?["loras"] as? [[String: Any]])?.first?["name"] as? String, "outline")
            let unknown = try await run("a square <lora:missing:1>")
            XCTAssertEqual(unknown.status, 422, unknown.text)
            XCTAssertTrue(unknown.text.contains("missing"), unknown.text)
        } catch {
            await withLoRAs.stop()
            throw error
        }
        await withLoRAs.stop()
    }

    /// Random A1111 bodies (fields of the wrong type, out of range, null, nested) are answered 200
    /// or 4xx, never 5xx, and leave nothing queued.
    func testRandomBodiesNeverGet5xx() async throws {
        var rng = SystemRandomNumberGenerator()
        let values: [Any] = [NSNull(), -1, 0, 1, 2, 17, 32, 1_000_000, -3.5, 0.5, 1e300, "", "12", "x", true, false, [Any](), ["a"], ["k": 1],
                             [["nested": [1, 2]]], "data:image/png;base64,AAAA", String(repeating: "A", count: 5000)]
        let fields = ["prompt", "negative_prompt", "seed", "steps", "width", "height", "cfg_scale", "distilled_cfg_scale", "batch_size",
                      "n_iter", "sampler_name", "scheduler", "send_images", "enable_hr", "styles", "override_settings", "alwayson_scripts",
                      "hr_scale", "hr_upscaler", "hr_second_pass_steps", "hr_resize_x", "hr_resize_y", "firstphase_width", "hr_prompt",
                      "init_images", "mask", "denoising_strength", "mask_blur", "subseed_strength", "restore_faces", "inpainting_mask_invert"]
        for i in 0..<60 {
            var body: [String: Any] = ["prompt": "x", "steps": 1, "width": 16, "height": 16]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                body[fields.randomElement(using: &rng)!] = values.randomElement(using: &rng)!
            }
            if (body["n_iter"] as? Int ?? 1) * (body["batch_size"] as? Int ?? 1) > 2 { body["n_iter"] = 1; body["batch_size"] = 1 }
            if let steps = body["steps"] as? Int, steps > 2 { body["steps"] = 2 }
            let path = i % 2 == 0 ? "/sdapi/v1/txt2img" : "/sdapi/v1/img2img"
            let r = try await console.post(path, json: body)
            XCTAssertTrue(r.status == 200 || (400..<500).contains(r.status), "\(path) \(body): \(r.status) \(r.text.prefix(300))")
            if r.status != 200 { XCTAssertNotNil(r.json["detail"], "\(body): \(r.text.prefix(300))") }
        }
        let jobs = try await console.get("/api/jobs").json["jobs"] as? [Any]
        XCTAssertEqual(jobs?.count, 0)
    }
}
