import Foundation
import Models
import Tensor
import XCTest

/// `POST /api/picture-parameters` and the page's "load from a picture" (A1111's PNG Info): our PNGs'
/// exact record, A1111 infotext in PNG text or JPEG/WebP EXIF, and clear refusals.
final class ConsolePictureParametersTests: XCTestCase {
    private var consoles: [TestConsole] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
    }

    private func read(_ console: TestConsole, _ bytes: [UInt8], dataURL: String? = nil) async throws -> TestConsole.Reply {
        let text = (dataURL.map { "data:\($0);base64," } ?? "") + Data(bytes).base64EncodedString()
        return try await console.post("/api/picture-parameters", json: ["image": text])
    }

    /// A finished job's PNG (fetched from the server).
    private func madePicture(_ console: TestConsole, _ job: [String: Any]) async throws -> (png: [UInt8], parameters: [String: Any]) {
        let snap = try await console.submit(job)
        let id = try XCTUnwrap(snap["id"] as? String)
        let done = try await console.waitForJob(id) { ["done", "failed"].contains($0["status"] as? String ?? "") }
        let history = try XCTUnwrap(done["history"] as? [String: Any], "\(done)")
        let png = [UInt8](try await console.get(try XCTUnwrap(history["url"] as? String)).body)
        return (png, try XCTUnwrap(history["parameters"] as? [String: Any]))
    }

    func testOurRecordInfotextInEveryFormatAndRefusals() async throws {
        let console = try await TestConsole.start()
        consoles.append(console)
        let made = try await madePicture(console, ["prompt": "a green triangle", "negative_prompt": "blur", "true_cfg_scale": 2,
                                                   "seed": 11, "steps": 2, "width": 64, "height": 48, "guidance": 4.5])
        let ours = try await read(console, made.png, dataURL: "image/png")
        XCTAssertEqual(ours.status, 200, ours.text)
        XCTAssertEqual(ours.json["source"] as? String, "majicflux")
        let p = try XCTUnwrap(ours.json["parameters"] as? [String: Any])
        for key in ["prompt", "negative_prompt", "seed", "steps", "width", "height", "max_sequence_length", "schedule"] {
            XCTAssertEqual("\(p[key] ?? "none")", "\(made.parameters[key] ?? "none")", key)
        }
        XCTAssertEqual(p["guidance"] as? Double, 4.5)
        XCTAssertEqual(p["true_cfg_scale"] as? Double, 2)

        // The same parameters as A1111 infotext, in a PNG text chunk, a JPEG's and a WebP's EXIF.
        let infotext = try XCTUnwrap(try PNG.decode(made.png).text.first { $0.key == "parameters" }?.value)
        let picture = try TestPictures.image(width: 64, height: 48)
        let comment = EXIFUserComment.payload(infotext)
        for (name, bytes) in [("png", try PNG.encode(picture, text: [("parameters", infotext)])),
                              ("jpeg", try JPEG.encode(picture, exif: comment)), ("webp", try WebP.encode(picture, exif: comment))] {
            let r = try await read(console, bytes)
            XCTAssertEqual(r.status, 200, "\(name): \(r.text)")
            XCTAssertEqual(r.json["source"] as? String, "infotext", name)
            let q = try XCTUnwrap(r.json["parameters"] as? [String: Any], name)
            XCTAssertEqual(q["prompt"] as? String, "a green triangle", name)
            XCTAssertEqual(q["negative_prompt"] as? String, "blur", name)
            XCTAssertEqual(q["seed"] as? Int, 11, name)
            XCTAssertEqual(q["steps"] as? Int, 2, name)
            XCTAssertEqual([q["width"] as? Int, q["height"] as? Int], [64, 48], name)
            XCTAssertEqual(q["guidance"] as? Double, 4.5, name)
            XCTAssertEqual(q["true_cfg_scale"] as? Double, 2, name)
        }
        // An A1111 picture's LoRA tags become LoRAs; its size comes from its text, not the picture's.
        let a1111 = "a fox <lora:ink:0.7>\nSteps: 30, Sampler: Euler, CFG scale: 1, Seed: 99, Size: 1024x768, Model: flux1-dev"
        let r = try await read(console, try JPEG.encode(picture, exif: EXIFUserComment.payload(a1111)))
        XCTAssertEqual(r.status, 200, r.text)
        let q = try XCTUnwrap(r.json["parameters"] as? [String: Any])
        XCTAssertEqual(q["prompt"] as? String, "a fox")
        XCTAssertEqual((q["loras"] as? [[String: Any]])?.first?["name"] as? String, "ink")
        // What its text does not say is what a job leaving it out gets here: this server's T5 length
        // (64 in the tests' configuration), not FLUX.1-dev's 512.
        XCTAssertEqual(q["max_sequence_length"] as? Int, 64, "\(q)")
        XCTAssertEqual([q["width"] as? Int, q["height"] as? Int], [1024, 768])

        let bad: [([UInt8], String)] = [
            (try PNG.encode(picture), "carries no generation parameters"),
            (try JPEG.encode(picture), "carries no generation parameters"),
            (try PNG.encode(picture, text: [("parameters", "just a caption")]), "has no Steps and Seed"),
            (Array("hello".utf8), "not a PNG, JPEG or WebP picture"),
            (Array(made.png.prefix(30)), "damaged"),
        ]
        for (bytes, message) in bad {
            let r = try await read(console, bytes)
            XCTAssertEqual(r.status, 400, "\(message): \(r.text)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains(message), r.text)
        }
        let missing = try await console.post("/api/picture-parameters", json: [:])
        XCTAssertTrue((missing.json["error"] as? String ?? "").contains("image is missing"), missing.text)
        let form = try await console.send("POST", "/api/picture-parameters", body: Data("image=x".utf8), contentType: "multipart/form-data; boundary=x")
        XCTAssertEqual(form.status, 415, form.text)
    }

    /// In the page: choose a picture with "load from a picture"; the form takes its parameters.
    func testThePageLoadsAPicturesParameters() async throws {
        let console = try await TestConsole.start()
        let made = try await madePicture(console, ["prompt": "a purple moon over the sea", "seed": 4242, "steps": 3, "width": 80, "height": 48])
        let folder = TestConsole.freshOutputDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try TestPictures.write(made.png, "picture.png", in: folder)
        let garbage = try TestPictures.write(Array("not a picture".utf8), "notes.png", in: folder)
        try await ChromeDevTools.drive(console) { browser in
            try await browser.attachToPage()
            try await browser.call("Page.enable")
            try await browser.call("Runtime.enable")
            try await browser.call("DOM.enable")
            try await browser.call("Page.navigate", ["url": console.base + "/"])
            try await browser.waitFor("document.readyState === 'complete' && document.getElementById('model-status').classList.contains('ready')", timeout: 30)
            func choose(_ file: String) async throws {
                let root = try await browser.call("DOM.getDocument")
                let rootID = try XCTUnwrap((root["root"] as? [String: Any])?["nodeId"] as? Int)
                let input = try await browser.call("DOM.querySelector", ["nodeId": rootID, "selector": "#params-file"])
                try await browser.call("DOM.setFileInputFiles", ["files": [file], "nodeId": try XCTUnwrap(input["nodeId"] as? Int)])
            }
            try await choose(garbage)
            try await browser.waitFor("!document.getElementById('error').hidden", timeout: 10)
            let error = try await browser.evaluate("document.getElementById('error').textContent") as? String ?? ""
            XCTAssertTrue(error.contains("not a PNG, JPEG or WebP picture"), error)
            try await choose(path)
            try await browser.waitFor("document.getElementById('prompt').value === 'a purple moon over the sea'", timeout: 10)
            let fields = try await browser.evaluate("['seed', 'steps', 'width', 'height'].map((f) => document.getElementById(f).value).join(' ')") as? String
            XCTAssertEqual(fields, "4242 3 80 48")
            let errorHidden = try await browser.evaluate("document.getElementById('error').hidden") as? Bool
            XCTAssertEqual(errorHidden, true)
            XCTAssertEqual(made.parameters["seed"] as? Int, 4242)
        }
    }
}
