import Foundation
import MajicFluxApp
import Models
import Tensor
import XCTest

/// The conditioning kinds end to end (#18), on the tiny model with the Fill and Control DiT fixtures
/// and a Kontext-named DiT: `/api/status` says which pictures the model takes, the pictures it does
/// not take are refused by name, and a job with the ones it takes runs to a picture. The CLI too.
final class ConsoleConditioningKindTests: XCTestCase {
    private var consoles: [TestConsole] = []
    private var folders: [String] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
        for f in folders { try? FileManager.default.removeItem(atPath: f) }
    }

    static var fixtures: String { TestConsole.repository.appendingPathComponent("Tests/ModelsTests/Fixtures/conditioning").path }

    /// The DiT for `kind`: Kontext is the tiny model's own DiT under a name saying "kontext".
    private func dit(_ kind: String) throws -> String {
        guard kind == "kontext" else { return Self.fixtures + "/tiny-flux-\(kind).safetensors" }
        let dir = TestConsole.freshOutputDirectory()
        folders.append(dir)
        let path = dir + "/tiny-flux-kontext.safetensors"
        let source = TestConsole.repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-flux-dit-comfy.safetensors").path
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: source)
        return path
    }

    private func start(_ kind: String) async throws -> TestConsole {
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        c.files = try FluxModelFiles.resolve(modelDir: TestConsole.tinyModel, dit: try dit(kind))
        let console = try await TestConsole.start(configuration: c)
        consoles.append(console)
        return console
    }

    private func base64(_ name: String) throws -> String {
        try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/" + name)).base64EncodedString()
    }

    private func expectRefused(_ console: TestConsole, _ fields: [String: Any], _ message: String, line: UInt = #line) async throws {
        var job: [String: Any] = ["prompt": "a red circle", "steps": 1, "width": 64, "height": 64]
        job.merge(fields) { $1 }
        let r = try await console.post("/api/jobs", json: job)
        XCTAssertEqual(r.status, 400, r.text, line: line)
        XCTAssertTrue((r.json["error"] as? String ?? "").contains(message), "expected \"\(message)\" in \(r.text)", line: line)
    }

    private func expectDone(_ console: TestConsole, _ fields: [String: Any], line: UInt = #line) async throws -> [String: Any] {
        var job: [String: Any] = ["prompt": "a red circle", "steps": 2, "seed": 42]
        job.merge(fields) { $1 }
        let snap = try await console.submit(job, line: line)
        let id = try XCTUnwrap(snap["id"] as? String)
        let done = try await console.waitForJob(id) { ["done", "failed"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(done["status"] as? String, "done", "\(done)", line: line)
        return done
    }

    private func kind(_ console: TestConsole) async throws -> String? {
        (try await console.get("/api/status").json["defaults"] as? [String: Any])?["conditioning"] as? String
    }

    func testFillModel() async throws {
        let console = try await start("fill")
        let kind = try await kind(console)
        XCTAssertEqual(kind, "fill")
        let image = try base64("input.png"), mask = try base64("mask.png")
        try await expectRefused(console, ["image": image, "mask": mask, "strength": 0.5], "strength does not apply: FLUX.1-Fill always starts from pure noise")
        try await expectRefused(console, ["image": image], "mask is needed")
        try await expectRefused(console, ["control": image], "control does not apply")
        let done = try await expectDone(console, ["image": image, "mask": mask])
        let p = try XCTUnwrap(done["parameters"] as? [String: Any])
        XCTAssertEqual([p["width"] as? Int, p["height"] as? Int], [64, 64], "the input's size")
        XCTAssertEqual(p["guidance"] as? Double, 30, "Fill's guidance")
        let url = try XCTUnwrap(done["image"] as? String)
        let infotext = try PNG.decode(Array(try await console.get(url).body)).text.first { $0.key == "parameters" }?.value ?? ""
        XCTAssertTrue(infotext.contains("Inpaint: FLUX.1-Fill"), infotext)
        XCTAssertFalse(infotext.contains("Denoising strength"), infotext)
    }

    func testControlModel() async throws {
        let console = try await start("control")
        let kind = try await kind(console)
        XCTAssertEqual(kind, "control")
        let control = try base64("control_image.png")
        try await expectRefused(console, ["image": control], "image does not apply")
        try await expectRefused(console, ["reference": control], "reference does not apply")
        try await expectRefused(console, [:], "control is needed")
        try await expectRefused(console, ["control": control, "control_preprocess": ["canny": [300, 100]]], "the low one (300) is above the high one (100)")
        _ = try await expectDone(console, ["control": control])
        let canny = try await expectDone(console, ["control": control, "control_preprocess": ["canny": [50, 200]]])
        let c = try XCTUnwrap((canny["parameters"] as? [String: Any])?["conditioning"] as? [String: Any])
        XCTAssertEqual((c["control_preprocess"] as? [String: Any])?["canny"] as? [Int], [50, 200])
        // (That the edges change the picture is the pipeline's to test: its Canny lands with Tensor/Image.)
    }

    func testKontextModel() async throws {
        let console = try await start("kontext")
        let kind = try await kind(console)
        XCTAssertEqual(kind, "kontext")
        let reference = try base64("reference.png")   // 88x52
        try await expectRefused(console, ["image": reference], "image does not apply")
        try await expectRefused(console, ["reference": reference, "strength": 0.5], "strength needs an input picture")
        // The size a reference gives (88x52, off: its own floored to 16), read from the queued job.
        let queued = try await console.submit(["prompt": "a red circle", "steps": 1, "reference": reference, "reference_resize": "off"])
        let q = try XCTUnwrap(queued["parameters"] as? [String: Any])
        XCTAssertEqual([q["width"] as? Int, q["height"] as? Int], [80, 48], "the reference's own size floored to 16")
        _ = try await console.send("DELETE", "/api/jobs/\(queued["id"] as? String ?? "")")
        // A reference of the output's size runs to a picture (resizing waits for Tensor/Image's Lanczos).
        let own = Data(try TestPictures.png(try TestPictures.image(width: 64, height: 48))).base64EncodedString()
        let done = try await expectDone(console, ["reference": own, "reference_resize": "off"])
        let p = try XCTUnwrap(done["parameters"] as? [String: Any])
        XCTAssertEqual([p["width"] as? Int, p["height"] as? Int], [64, 48])
        XCTAssertEqual(p["guidance"] as? Double, 2.5, "Kontext's guidance")
    }

    /// The CLI with a Fill model: `--strength` refused by name before anything loads; with a mask it runs.
    func testCommandLineFillModel() throws {
        let fill = try dit("fill")
        func run(_ options: [String]) throws -> (status: Int32, log: String, folder: String) {
            let (p, log) = try TestConsole.launch(try TestConsole.executable(), ["generate", "--model", TestConsole.tinyModel, "--dit", fill,
                                                                               "--device", "cpu", "--prompt", "a red circle", "--output", "out.png", "--steps", "2"] + options)
            let folder = (log as NSString).deletingLastPathComponent
            folders.append(folder)
            p.waitForExit("majicflux generate \(options)", log: log)
            return (p.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "", folder)
        }
        let image = Self.fixtures + "/input.png", mask = Self.fixtures + "/mask.png"
        let refused = try run(["--image", image, "--mask", mask, "--strength", "0.5"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.log.contains("--strength does not apply: FLUX.1-Fill always starts from pure noise"), refused.log)
        let noMask = try run(["--image", image])
        XCTAssertTrue(noMask.log.contains("--mask is needed"), noMask.log)
        let ok = try run(["--image", image, "--mask", mask])
        XCTAssertEqual(ok.status, 0, ok.log)
        let text = try PNG.read(ok.folder + "/out.png").text
        XCTAssertTrue(text.first { $0.key == "parameters" }?.value.contains("Inpaint: FLUX.1-Fill") ?? false)
    }
}

/// The A1111 API on every model kind (user testing found none but the base one usable through it):
/// Fill takes init_images + mask with no strength (A1111's default 0.75 was refused on every call),
/// Kontext takes init_images as its reference, Canny/Depth the ControlNet extension's first unit
/// (or, on img2img without one, the init picture, as the extension does).
extension ConsoleConditioningKindTests {
    private func a1111(_ console: TestConsole, _ path: String, _ fields: [String: Any]) async throws -> TestConsole.Reply {
        var body: [String: Any] = ["prompt": "a red circle", "steps": 2, "seed": 5]
        body.merge(fields) { $1 }
        return try await console.post("/sdapi/v1/" + path, json: body)
    }

    private func notes(_ r: TestConsole.Reply) -> [String] {
        let info = (try? JSONSerialization.jsonObject(with: Data((r.json["info"] as? String ?? "{}").utf8))) as? [String: Any]
        return (r.json["notes"] as? [String]) ?? (info?["notes"] as? [String]) ?? []
    }

    func testTheA1111APIRunsEveryModelKind() async throws {
        let image = try base64("input.png"), mask = try base64("mask.png")

        let fill = try await start("fill")
        var r = try await a1111(fill, "img2img", ["init_images": [image], "mask": mask])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual((r.json["images"] as? [Any])?.count, 1)
        r = try await a1111(fill, "img2img", ["init_images": [image], "mask": mask, "denoising_strength": 0.75])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertTrue(notes(r).contains { $0.contains("denoising_strength ignored: FLUX.1-Fill") }, r.text)

        let kontext = try await start("kontext")
        r = try await a1111(kontext, "img2img", ["init_images": [image], "width": 64, "height": 64])
        XCTAssertEqual(r.status, 200, r.text)
        // The same picture as the console's job with that picture as the reference.
        let viaA1111 = try PNG.decode(Array(try XCTUnwrap(Data(base64Encoded: try XCTUnwrap((r.json["images"] as? [String])?.first)))))
        let job = try await expectDone(kontext, ["reference": image, "seed": 5, "width": 64, "height": 64])
        let viaConsole = try PNG.decode(Array(try await kontext.get(try XCTUnwrap(job["image"] as? String)).body))
        XCTAssertEqual(viaA1111.image.pixels, viaConsole.image.pixels, "init_images is Kontext's reference")
        r = try await a1111(kontext, "img2img", ["init_images": [image], "mask": mask])
        XCTAssertEqual(r.status, 422, r.text)
        XCTAssertTrue(r.text.contains("send no mask"), r.text)

        let control = try await start("control")
        r = try await a1111(control, "txt2img", ["width": 64, "height": 64])
        XCTAssertEqual(r.status, 422, r.text)
        XCTAssertTrue(r.text.contains("alwayson_scripts.controlnet.args[0].image"), r.text)
        let unit: [String: Any] = ["controlnet": ["args": [["image": image, "module": "canny", "threshold_a": -1, "threshold_b": -1]]]]
        r = try await a1111(control, "txt2img", ["width": 64, "height": 64, "alwayson_scripts": unit])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertFalse(notes(r).contains { $0.contains("alwayson_scripts ignored") }, r.text)
        r = try await a1111(control, "img2img", ["init_images": [image]])
        XCTAssertEqual(r.status, 200, r.text)
        r = try await a1111(control, "img2img", ["init_images": [image], "alwayson_scripts": unit])
        XCTAssertEqual(r.status, 422, r.text)
        XCTAssertTrue(r.text.contains("does not start from a picture"), r.text)
        r = try await a1111(control, "img2img", ["init_images": [image], "mask": mask])
        XCTAssertEqual(r.status, 422, r.text)
        XCTAssertTrue(r.text.contains("send no mask"), r.text)
    }
}
