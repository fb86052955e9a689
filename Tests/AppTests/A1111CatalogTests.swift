import Foundation
import Models
import Tensor
import XCTest

/// The A1111 listings clients read on connect, `png-info`, and the served model's whole SHA-256
/// (docs/API.md, "A1111-compatible API"), on the tiny test model.
final class A1111CatalogTests: XCTestCase {
    private var console: TestConsole!

    override func setUp() async throws { console = try await TestConsole.start() }
    override func tearDown() async throws { await console.stop() }

    private func json(_ path: String) async throws -> Any? {
        let r = try await console.get(path)
        XCTAssertEqual(r.status, 200, "\(path): \(r.text)")
        return try JSONSerialization.jsonObject(with: r.body, options: .fragmentsAllowed)
    }

    func testListingsAnswerAsAnEmptyA1111AndRefreshesAreAccepted() async throws {
        let upscalers = try await json("/sdapi/v1/upscalers") as? [[String: Any]]
        XCTAssertEqual(upscalers?.map { $0["name"] as? String }, ["None", "Lanczos", "Nearest"], "A1111's built-in upscalers")
        XCTAssertEqual(upscalers?.first?["scale"] as? Int, 4)
        let latent = try await json("/sdapi/v1/latent-upscale-modes") as? [[String: Any]]
        XCTAssertEqual(latent?.map { $0["name"] as? String }, ["Latent", "Latent (antialiased)", "Latent (bicubic)",
                                                               "Latent (bicubic antialiased)", "Latent (nearest)", "Latent (nearest-exact)"])
        for path in ["sd-vae", "hypernetworks", "face-restorers", "realesrgan-models", "prompt-styles",
                     "script-info", "extensions"] {
            let list = try await json("/sdapi/v1/" + path) as? [Any]
            XCTAssertEqual(list?.count, 0, path)
        }
        let embeddings = try await json("/sdapi/v1/embeddings") as? [String: [String: Any]]
        XCTAssertEqual(embeddings?.keys.sorted(), ["loaded", "skipped"])
        let scripts = try await json("/sdapi/v1/scripts") as? [String: [Any]]
        XCTAssertEqual(scripts?.keys.sorted(), ["img2img", "txt2img"])
        for path in ["refresh-checkpoints", "refresh-vae", "refresh-loras"] {
            let r = try await console.post("/sdapi/v1/" + path, raw: "")
            XCTAssertEqual(r.status, 200, "\(path): \(r.text)")
            XCTAssertEqual(r.text, "null", path)
        }
        // webuiapi's get_memory() and get_cmd_flags().
        let memory = try await json("/sdapi/v1/memory") as? [String: [String: Any]]
        let ram = try XCTUnwrap(memory?["ram"])
        let total = try XCTUnwrap(ram["total"] as? Double), used = try XCTUnwrap(ram["used"] as? Double), free = try XCTUnwrap(ram["free"] as? Double)
        XCTAssertGreaterThan(total, 0)
        XCTAssertEqual(used + free, total, accuracy: 1)
        XCTAssertNotNil(memory?["cuda"]?["error"], "GPU memory is not read on a request thread: said so")
        let flags = try await json("/sdapi/v1/cmd-flags") as? [String: Any]
        XCTAssertEqual(flags?["api"] as? Bool, true)
        XCTAssertEqual(flags?["listen"] as? Bool, false, "bound to loopback")
        XCTAssertNotNil(flags?["port"] as? Int)
        // Still only what exists: a made-up path is a 404 in A1111's error shape.
        let missing = try await console.get("/sdapi/v1/no-such-thing")
        XCTAssertEqual(missing.status, 404)
    }

    /// `sha256` and `sd_checkpoint_hash` are the DiT file's whole SHA-256 (A1111 keeps it there), and
    /// `sd_model_checkpoint` may name the model by it.
    func testTheServedModelsWholeSHA256() async throws {
        var models: [[String: Any]] = []
        for _ in 0..<200 {  // hashed in the background from start-up
            models = try await json("/sdapi/v1/sd-models") as? [[String: Any]] ?? []
            if models.first?["sha256"] is String { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let sha = try XCTUnwrap(models.first?["sha256"] as? String)
        let short = try XCTUnwrap(models.first?["hash"] as? String)
        XCTAssertEqual(sha.count, 64)
        XCTAssertTrue(sha.hasPrefix(short), "\(short) is the first 10 digits of \(sha)")
        // The tiny model's DiT is one file: its SHA-256 is sha256sum's.
        let file = try FluxModelFiles.resolve(modelDir: TestConsole.tinyModel).transformer
        let dit = FileManager.default.fileExists(atPath: file + "/diffusion_pytorch_model.safetensors") ? file + "/diffusion_pytorch_model.safetensors" : file
        XCTAssertEqual(try TinyLoRA.sha256sum(dit), sha)
        let options = try await console.get("/sdapi/v1/options").json
        XCTAssertEqual(options["sd_checkpoint_hash"] as? String, sha)
        let set = try await console.post("/sdapi/v1/options", json: ["sd_model_checkpoint": sha])
        XCTAssertEqual(set.status, 200, set.text)
    }

    func testPNGInfoReadsTheInfotextOfPNGsAndJPEGs() async throws {
        let t = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "a red square <lora:none:0.5>", "seed": 7, "steps": 2, "width": 32, "height": 48])
        // The LoRA tag names no LoRA here: 422. The tag-free prompt makes the picture.
        XCTAssertEqual(t.status, 422, t.text)
        let made = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "a red square", "negative_prompt": "blur", "cfg_scale": 2,
                                                                         "seed": 7, "steps": 2, "width": 32, "height": 48])
        XCTAssertEqual(made.status, 200, made.text)
        let png = try XCTUnwrap((made.json["images"] as? [String])?.first)
        let infotext = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data((made.json["info"] as? String ?? "").utf8)) as? [String: Any])?["infotexts"] as? [String]).first

        for image in [png, "data:image/png;base64," + png] {
            let r = try await console.post("/sdapi/v1/png-info", json: ["image": image])
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssertEqual(r.json["info"] as? String, infotext)
            let p = try XCTUnwrap(r.json["parameters"] as? [String: String], r.text)
            XCTAssertEqual(p["Prompt"], "a red square")
            XCTAssertEqual(p["Negative prompt"], "blur")
            XCTAssertEqual(p["Seed"], "7")
            XCTAssertEqual(p["Steps"], "2")
            XCTAssertEqual([p["Size-1"], p["Size-2"]], ["32", "48"], "WxH split as A1111 splits it")
            XCTAssertNil(p["Size"])
            XCTAssertEqual(p["Clip skip"], "1", "A1111's default when absent")
            let items = try XCTUnwrap(r.json["items"] as? [String: Any])
            XCTAssertNil(items["parameters"], "the infotext is info, not an item")
        }

        // A JPEG answer (samples_format jpg): the infotext from EXIF UserComment.
        _ = try await console.post("/sdapi/v1/options", json: ["samples_format": "jpg"])
        let j = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "a blue circle", "seed": 9, "steps": 2, "width": 32, "height": 32])
        _ = try await console.post("/sdapi/v1/options", json: ["samples_format": "png"])
        let jpeg = try XCTUnwrap((j.json["images"] as? [String])?.first)
        let fromJPEG = try await console.post("/sdapi/v1/png-info", json: ["image": jpeg])
        XCTAssertEqual(fromJPEG.status, 200, fromJPEG.text)
        XCTAssertTrue((fromJPEG.json["info"] as? String ?? "").hasPrefix("a blue circle\n"), fromJPEG.text)
        XCTAssertEqual((fromJPEG.json["parameters"] as? [String: String])?["Seed"], "9")

        // A picture without parameters: empty info, as A1111 answers.
        var noise = SeededRandom(seed: 3)
        let plain = try TestPictures.png(try PNGImage(width: 128, height: 128, channels: 3,
                                                      pixels: (0..<(128 * 128 * 3)).map { _ in UInt8(truncatingIfNeeded: noise.next()) }))
        XCTAssertGreaterThan(plain.count, 16 * 1024, "larger than the test server's body limit: pictures may be")
        let none = try await console.post("/sdapi/v1/png-info", json: ["image": Data(plain).base64EncodedString()])
        XCTAssertEqual(none.status, 200, none.text)
        XCTAssertEqual(none.json["info"] as? String, "")
        XCTAssertEqual((none.json["parameters"] as? [String: String])?["Prompt"], "")

        // Bad pictures: 422 naming the field, never a 500.
        let pngBytes = [UInt8](Data(base64Encoded: png)!)
        let bad: [([String: Any], String)] = [
            ([:], "image is missing"),
            (["image": 5], "image must be a picture"),
            (["image": "%%% not base64 %%%"], "not valid base64"),
            (["image": Data("hello, world".utf8).base64EncodedString()], "not a PNG, JPEG or WebP picture"),
            (["image": Data(pngBytes.prefix(40)).base64EncodedString()], "corrupt PNG"),
        ]
        for (body, message) in bad {
            let r = try await console.post("/sdapi/v1/png-info", json: body)
            XCTAssertEqual(r.status, 422, "\(body.keys): \(r.text)")
            XCTAssertTrue(r.text.contains(message), r.text)
            XCTAssertTrue(r.text.contains(#""loc":["body","image"]"#), r.text)
        }
        let notJSON = try await console.post("/sdapi/v1/png-info", raw: "image=abc")
        XCTAssertEqual(notJSON.status, 422, notJSON.text)
    }
}
