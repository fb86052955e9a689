import Foundation
import MajicFluxApp
import Models
import Tensor
import XCTest

/// The hires fix through the console on the tiny test model: `hires` in /api/jobs (as the page sends
/// it), the stored parameters, the picture's record read back by "load from a picture" (ours and an
/// A1111 infotext), and in Chromium the advanced setting and its reuse.
final class ConsoleHiresTests: XCTestCase {
    private var consoles: [TestConsole] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles = []
    }

    private func start() async throws -> TestConsole {
        let console = try await TestConsole.start()
        consoles.append(console)
        return console
    }

    private func done(_ console: TestConsole, _ submitted: [String: Any]) async throws -> [String: Any] {
        let id = try XCTUnwrap(submitted["id"] as? String, "\(submitted)")
        return try await console.waitForJob(id) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
    }

    /// A job with `hires` given as the page sends it (strings) makes a picture at the final size and
    /// keeps the fix in its parameters, history entry and PNG, from which "load from a picture" reads
    /// it back; an A1111 infotext's hires fields read back too; nonsense is a 400 naming the field.
    func testJobsKeepTheHiresFixAndPicturesGiveItBack() async throws {
        let console = try await start()
        let html = try await console.get("/").text
        for part in [#"<input type="checkbox" id="hires">"#, "<option>Latent (bicubic antialiased)</option>", "<option>Lanczos</option>",
                     "hiresFix.fields()", "hiresFix.restore(p.hires, p.width)"] {
            XCTAssertTrue(html.contains(part), "page lacks \(part)")
        }
        let submitted = try await console.submit(["prompt": "a red circle", "seed": 3, "steps": 3, "width": 32, "height": 48,
                                                  "hires": ["scale": "2", "upscaler": "Nearest", "strength": "0.5", "steps": "4"]])
        let finished = try await done(console, submitted)
        XCTAssertEqual(finished["status"] as? String, "done", "\(finished)")
        XCTAssertEqual(finished["total_steps"] as? Int, 3 + 2, "3, then the last 2 of 4")
        let hires = try XCTUnwrap((finished["parameters"] as? [String: Any])?["hires"] as? [String: Any])
        XCTAssertEqual(hires["width"] as? Int, 64)
        XCTAssertEqual(hires["height"] as? Int, 96)
        XCTAssertEqual(hires["upscaler"] as? String, "Nearest")
        let url = try XCTUnwrap(finished["image"] as? String)
        let bytes = Array(try await console.get(url).body)
        let png = try PNG.decode(bytes)
        XCTAssertEqual([png.image.width, png.image.height], [64, 96])
        let text = png.text.first { $0.key == "parameters" }?.value ?? ""
        XCTAssertTrue(text.contains("Size: 32x48, T5 length: 64, Denoising strength: 0.5, Hires upscale: 2, Hires steps: 4, Hires upscaler: Nearest"),
                      text.replacingOccurrences(of: "\n", with: " | "))

        // Ours: the exact record. An A1111 infotext alone (the record dropped): the same fix.
        let ours = try await console.post("/api/picture-parameters", json: ["image": Data(bytes).base64EncodedString()])
        XCTAssertEqual(ours.status, 200, ours.text)
        let back = try XCTUnwrap((ours.json["parameters"] as? [String: Any])?["hires"] as? [String: Any])
        XCTAssertEqual(back["scale"] as? Double, 2)
        XCTAssertEqual(back["steps"] as? Int, 4)
        let a1111 = try png.image.pngData(text: [("parameters", "a cat\nSteps: 20, Sampler: Euler, CFG scale: 1, Seed: 7, Size: 512x768, "
                                                  + "Denoising strength: 0.45, Hires resize: 1024x1536, Hires upscaler: Latent (antialiased), Model: x")])
        let theirs = try await console.post("/api/picture-parameters", json: ["image": Data(a1111).base64EncodedString()])
        XCTAssertEqual(theirs.status, 200, theirs.text)
        let read = try XCTUnwrap((theirs.json["parameters"] as? [String: Any])?["hires"] as? [String: Any], theirs.text)
        XCTAssertEqual([read["width"] as? Int, read["height"] as? Int], [1024, 1536])
        XCTAssertEqual(read["upscaler"] as? String, "Latent (antialiased)")
        XCTAssertEqual((read["strength"] as? Double).map { Float($0) }, 0.45)

        for (bad, word): (Any, String) in [("big", "hires must be an object"), (["scale": 0], "hires.scale"), (["scale": 2, "width": 64], "not both"),
                                           (["upscaler": "Lanczos"], "needs a scale"), (["scale": 2, "upscaler": "SwinIR"], "hires.upscaler"),
                                           (["width": 50, "height": 64], "multiple of 16"), (["scale": 2, "strength": 2], "strength"),
                                           (["scale": 400], "hires.scale"), (["width": 17], "hires.width must be a multiple of 16")] {
            let r = try await console.post("/api/jobs", json: ["prompt": "x", "width": 32, "height": 32, "hires": bad])
            XCTAssertEqual(r.status, 400, "\(bad): \(r.text)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains(word), "\(bad): \(r.text)")
        }
        let jobs = try await console.get("/api/jobs").json["jobs"] as? [[String: Any]] ?? []
        XCTAssertEqual(jobs.count, 0, "nothing bad was queued (the good job is done)")
    }

    /// In Chromium: the fix is off; ticked with 2x, the picture comes out twice the size; reusing the
    /// entry after unticking ticks it again with its values; reusing a plain entry unticks it.
    func testTickTheHiresFixGenerateAndReuseRestoresIt() async throws {
        let console = try await start()
        try await ChromeDevTools.drive(console) { browser in
            func value(_ js: String) async throws -> Any? { try await browser.evaluate(js) }
            func state() async throws -> [String] {   // [ticked, fields hidden, scale, upscaler, strength, size hint]
                try await value("(() => { const $ = (id) => document.getElementById(id); return [$('hires').checked, $('hires-fields').hidden, $('hires-scale').value, $('hires-upscaler').value, $('hires-strength').value, $('hires-size').textContent].map(String); })()") as? [String] ?? []
            }
            try await browser.openConsole(console)
            let initial = try await state()
            XCTAssertEqual(Array(initial.prefix(2)), ["false", "true"])
            _ = try await value("""
                (() => { for (const [f, v] of [['width', 32], ['height', 48], ['steps', 2]]) { const e = document.getElementById(f); e.value = v; e.dispatchEvent(new Event('input')); } })()
                """)
            try await browser.click(selector: "#advanced summary")
            try await browser.click(selector: "#hires")
            _ = try await value("(() => { const $ = (id) => document.getElementById(id); $('hires-upscaler').value = 'Lanczos'; $('hires-strength').value = '0.6'; })()")
            let ticked = try await state()
            XCTAssertEqual(ticked, ["true", "false", "2", "Lanczos", "0.6", "→ 64 × 96"])
            let big = try await browser.generate(prompt: "a red circle", historyCount: 1)
            let picture = try PNG.decode(Array(try await console.get(big).body))
            XCTAssertEqual([picture.image.width, picture.image.height], [64, 96])

            try await browser.click(selector: "#hires")
            let plain = try await browser.generate(prompt: "a blue square", historyCount: 2)
            let small = try PNG.decode(Array(try await console.get(plain).body))
            XCTAssertEqual([small.image.width, small.image.height], [32, 48])

            try await browser.reuseHistoryEntry(captioned: "a red circle")
            let restored = try await state()
            XCTAssertEqual(restored, ["true", "false", "2", "Lanczos", "0.6", "→ 64 × 96"])
            try await browser.reuseHistoryEntry(captioned: "a blue square")
            let cleared = try await state()
            XCTAssertEqual(Array(cleared.prefix(2)), ["false", "true"])
        }
    }
}
