import Foundation
import MajicFluxApp
import Models
import Tensor
import XCTest

/// The step cache (First-Block-Cache, `cache_threshold`) through the server on the tiny test model:
/// the console page's advanced setting, the job's stored parameters and infotext, `/api/status`'s
/// recommended value, the A1111 API's extra field, and in Chromium the tick box and its reuse.
final class ConsoleStepCacheTests: XCTestCase {
    private var consoles: [TestConsole] = []
    private let recommended = "\(StepCacheAdvice.recommended)"

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles = []
    }

    private func start() async throws -> TestConsole {
        let console = try await TestConsole.start()
        consoles.append(console)
        return console
    }

    private func infotext(_ console: TestConsole, _ url: String) async throws -> String {
        let png = try PNG.decode(Array(try await console.get(url).body))
        return png.text.first { $0.key == "parameters" }?.value ?? ""
    }

    /// The page has the setting, unticked, starting at the recommended threshold (which the status
    /// shows too); a job sent with it as the page sends it (a string) keeps it in its parameters,
    /// history entry and PNG; one without it runs uncached; a nonsense threshold is refused by name.
    func testPageFieldStatusAndAJobKeepTheThreshold() async throws {
        let console = try await start()
        let html = try await console.get("/").text
        for part in ["高级设置 (Advanced settings)", "步骤缓存 (Step cache", #"<input type="checkbox" id="step-cache">"#,
                     #"<input id="cache-threshold" type="number" min="0" max="1" step="0.01" value="\#(recommended)">"#,
                     "stepCache.fields()", "stepCache.restore(p.cache_threshold)"] {
            XCTAssertTrue(html.contains(part), "page lacks \(part)")
        }
        let status = try await console.get("/api/status").json
        let shown = (status["defaults"] as? [String: Any])?["recommended_cache_threshold"] as? Double
        XCTAssertEqual(shown.map { "\(Float($0))" }, recommended)

        let cached = try await console.submit(["prompt": "a red circle", "seed": 3, "steps": 3, "width": 32, "height": 32,
                                               "cache_threshold": recommended])
        let id = try XCTUnwrap(cached["id"] as? String)
        XCTAssertEqual(((cached["parameters"] as? [String: Any])?["cache_threshold"] as? Double).map { "\(Float($0))" }, recommended)
        let done = try await console.waitForJob(id) { $0["status"] as? String == "done" }
        let entry = try XCTUnwrap(done["history"] as? [String: Any], "\(done)")
        XCTAssertEqual(((entry["parameters"] as? [String: Any])?["cache_threshold"] as? Double).map { "\(Float($0))" }, recommended)
        let text = try await infotext(console, try XCTUnwrap(entry["url"] as? String))
        XCTAssertTrue(text.contains("First block cache: \(recommended)"), text)

        let plain = try await console.submit(["prompt": "a red circle", "seed": 3, "steps": 3, "width": 32, "height": 32])
        XCTAssertNil((plain["parameters"] as? [String: Any])?["cache_threshold"], "off unless asked for")
        let plainDone = try await console.waitForJob(try XCTUnwrap(plain["id"] as? String)) { $0["status"] as? String == "done" }
        let plainURL = try XCTUnwrap((plainDone["history"] as? [String: Any])?["url"] as? String)
        let plainText = try await infotext(console, plainURL)
        XCTAssertFalse(plainText.contains("First block cache"), plainText)

        for bad: Any in [1.5, -0.1, "fast"] {
            let r = try await console.post("/api/jobs", json: ["prompt": "x", "width": 32, "height": 32, "cache_threshold": bad])
            XCTAssertEqual(r.status, 400, r.text)
            XCTAssertTrue((r.json["error"] as? String ?? "").contains("cache_threshold"), r.text)
        }
    }

    /// The A1111 API takes `cache_threshold` as an extra field (its infotext says so); a bad one is
    /// a 422 naming it.
    func testA1111TakesTheThreshold() async throws {
        let console = try await start()
        let r = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "x", "seed": 5, "steps": 2, "width": 32, "height": 32,
                                                                   "cache_threshold": StepCacheAdvice.recommended])
        XCTAssertEqual(r.status, 200, r.text)
        let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((r.json["info"] as? String ?? "").utf8)) as? [String: Any])
        let text = (info["infotexts"] as? [String])?.first ?? ""
        XCTAssertTrue(text.contains("First block cache: \(recommended)"), text)
        let bad = try await console.post("/sdapi/v1/txt2img", json: ["prompt": "x", "steps": 2, "width": 32, "height": 32, "cache_threshold": 2])
        XCTAssertEqual(bad.status, 422, bad.text)
        let detail = (bad.json["detail"] as? [[String: Any]])?.first
        XCTAssertEqual(detail?["loc"] as? [String], ["body", "cache_threshold"], bad.text)
    }

    /// In Chromium: the setting is closed and off; ticked, the next job runs cached (its PNG says
    /// so); after unticking, reusing the cached entry ticks it again with its threshold, reusing the
    /// uncached one unticks it.
    func testTickTheStepCacheGenerateAndReuseRestoresIt() async throws {
        let console = try await start()
        let recommended = self.recommended
        try await ChromeDevTools.drive(console) { browser in
            func value(_ js: String) async throws -> Any? { try await browser.evaluate(js) }
            func state() async throws -> [String] {   // [open, ticked, threshold hidden, threshold]
                try await value("(() => { const $ = (id) => document.getElementById(id); return [$('advanced').open, $('step-cache').checked, $('step-cache-field').hidden, $('cache-threshold').value].map(String); })()") as? [String] ?? []
            }
            try await browser.openConsole(console)
            let initial = try await state()
            XCTAssertEqual(initial, ["false", "false", "true", recommended])
            _ = try await value("""
                (() => { for (const [f, v] of [['width', 32], ['height', 32], ['steps', 3]]) { const e = document.getElementById(f); e.value = v; e.dispatchEvent(new Event('input')); } })()
                """)
            try await browser.click(selector: "#advanced summary")
            try await browser.click(selector: "#step-cache")
            let ticked = try await state()
            XCTAssertEqual(ticked, ["true", "true", "false", recommended])
            let cached = try await browser.generate(prompt: "a red circle", historyCount: 1)
            let cachedText = try await infotext(console, cached)
            XCTAssertTrue(cachedText.contains("First block cache: \(recommended)"), cachedText)

            try await browser.click(selector: "#step-cache")
            let plain = try await browser.generate(prompt: "a blue square", historyCount: 2)
            let plainText = try await infotext(console, plain)
            XCTAssertFalse(plainText.contains("First block cache"), plainText)

            _ = try await value("document.getElementById('advanced').open = false")
            try await browser.reuseHistoryEntry(captioned: "a red circle")
            let restored = try await state()
            XCTAssertEqual(restored, ["true", "true", "false", recommended])
            try await browser.reuseHistoryEntry(captioned: "a blue square")
            let cleared = try await state()
            XCTAssertEqual(cleared, ["true", "false", "true", recommended])
        }
    }
}
