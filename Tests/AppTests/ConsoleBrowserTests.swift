import Foundation
import Models
import Tensor
import XCTest

/// The console page in real headless Chromium: type a prompt, click the button, wait for the picture.
/// It serves the project's default model when present (a small trained model: the screenshot shows a
/// real picture), else the tiny random-weight test model.
final class ConsoleBrowserTests: XCTestCase {
    func testTypePromptClickGenerateAndSeeTheImage() async throws {
        var configuration = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        if let model = TestConsole.defaultModel {
            configuration.files = try FluxModelFiles.resolve(modelDir: model)
            configuration.modelName = "default"
            configuration.defaultMaxSequenceLength = nil   // the model's own
        }
        let console = try await TestConsole.start(configuration: configuration)
        try await ChromeDevTools.drive(console) { try await drive($0, console) }
    }

    /// The LoRA picker on the tiny test model: pick the folder's LoRA, insert a trigger word, set its
    /// weight, generate (the PNG records the LoRA), see a bad weight refused with the server's message,
    /// then take the LoRA away and reuse the history entry: the picker comes back as it was.
    func testPickALoRAGenerateAndReuseRestoresThePicker() async throws {
        let loras = try TinyLoRA.folderWithOutline()
        try TinyLoRA.write(to: loras + "/second.safetensors", rank: 2, seed: 21)
        var configuration = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        configuration.loraDirectory = loras
        let console = try await TestConsole.start(configuration: configuration)
        defer { try? FileManager.default.removeItem(atPath: loras) }
        try await ChromeDevTools.drive(console) { try await driveLoRAs($0, console) }
    }

    /// A seed past 2^53 (the API takes up to 2^64-1) keeps all its digits in the page: the history
    /// showed 18446744073709552000 (JavaScript's nearest number) and "reuse" made another picture.
    func testABigSeedKeepsItsDigitsInThePage() async throws {
        let console = try await TestConsole.start(configuration: try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory()))
        let job = try await console.submit(["prompt": "a big seed", "seed": "18446744073709551615", "steps": 1, "width": 64, "height": 64])
        let id = try XCTUnwrap(job["id"] as? String)
        let done = try await console.waitForJob(id) { ["done", "failed"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(done["status"] as? String, "done")
        try await ChromeDevTools.drive(console) { browser in
            try await browser.openConsole(console)
            try await browser.waitFor("document.body.innerText.includes('18446744073709551615')", timeout: 30)
            let rounded = try await browser.evaluate("document.body.innerText.includes('18446744073709552000')") as? Bool
            XCTAssertEqual(rounded, false)
        }
    }

    /// Reloading the page while its job runs brings the job back (progress, Cancel); a picture made
    /// by someone else (here through the API) and the last pictures of a batch reach the history
    /// without a reload. The page followed only the jobs it had submitted since it was loaded.
    func testAReloadedPageFollowsItsJobAndTheHistoryFollowsTheQueue() async throws {
        var configuration = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        configuration.maxPixels = 1024 * 1024  // a job long enough to reload the page during it
        let console = try await TestConsole.start(configuration: configuration)
        try await ChromeDevTools.drive(console) { browser in
            func value(_ js: String) async throws -> Any? { try await browser.evaluate(js) }
            try await browser.openConsole(console)
            _ = try await value("""
                (() => { const f = (id, v) => { const e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event('input')); };
                  f('width', '1024'); f('height', '1024'); f('steps', '50'); f('prompt', 'a long job'); })()
                """)
            try await browser.click(selector: "#generate")
            try await browser.waitFor("document.getElementById('progress-text').textContent.includes('/50')", timeout: 30)
            try await browser.call("Page.reload")
            try await browser.waitFor("document.readyState === 'complete'", timeout: 20)
            // Back after the reload: its progress and a Cancel button that stops it.
            try await browser.waitFor("document.getElementById('progress-text').textContent.includes('/50') && !document.getElementById('cancel').disabled", timeout: 20)
            try await browser.click(selector: "#cancel")
            try await browser.waitFor("document.getElementById('job-status').textContent.includes('已取消')", timeout: 30)

            // Two jobs: the queue lists both, the first (running) can be cancelled from its row while
            // the result panel follows the second.
            for prompt in ["first of two", "second of two"] {
                _ = try await value("(() => { const e = document.getElementById('prompt'); e.value = \(ChromeDevTools.quoted(prompt)); e.dispatchEvent(new Event('input')); })()")
                try await browser.click(selector: "#generate")
                try await browser.waitFor("document.getElementById('job-status').textContent.includes('排队') || document.getElementById('job-status').textContent.includes('·')", timeout: 10)
            }
            try await browser.waitFor("document.querySelectorAll('#queue .queued-job').length === 2", timeout: 20)
            _ = try await value("[...document.querySelectorAll('#queue .queued-job')].find((r) => r.textContent.includes('first of two')).querySelectorAll('button')[1].id = 'cancel-first'")
            try await browser.click(selector: "#cancel-first")
            try await browser.waitFor("[...document.querySelectorAll('#queue .queued-job')].every((r) => !r.textContent.includes('first of two'))", timeout: 30)
            try await browser.click(selector: "#cancel")
            try await browser.waitFor("document.querySelectorAll('#queue .queued-job').length === 0", timeout: 30)
            let made = try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
            XCTAssertFalse(made.contains { ($0["parameters"] as? [String: Any])?["prompt"] as? String == "first of two" }, "the first was cancelled, not made")

            // Two pictures through the API (another user, or a batch's later jobs): listed without a reload.
            for seed in [5, 6] {
                _ = try await console.submit(["prompt": "made elsewhere", "seed": seed, "steps": 2, "width": 64, "height": 64])
            }
            try await browser.waitFor("[...document.querySelectorAll('#history .item .cap')].filter((c) => c.textContent === 'made elsewhere').length === 2", timeout: 30)
        }
    }

    private func driveLoRAs(_ browser: ChromeDevTools, _ console: TestConsole) async throws {
        func value(_ js: String) async throws -> Any? { try await browser.evaluate(js) }
        func setField(_ selector: String, _ text: String) async throws {
            try await browser.click(selector: selector)
            _ = try await value("document.querySelector(\(ChromeDevTools.quoted(selector))).select()")
            try await browser.type(text)
        }
        try await browser.attachToPage()
        try await browser.call("Emulation.setDeviceMetricsOverride", ["width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": false])
        try await browser.call("Page.enable")
        try await browser.call("Runtime.enable")
        try await browser.call("Page.navigate", ["url": console.base + "/"])
        try await browser.waitFor("document.readyState === 'complete' && document.title === 'Flux 离线图像生成控制台'", timeout: 20)
        try await browser.waitFor("document.getElementById('model-status').classList.contains('ready')", timeout: 30)
        try await browser.waitFor("document.querySelectorAll('#lora-chips .chip').length === 2", timeout: 10)
        let chips = try await value("[...document.querySelectorAll('#lora-chips .chip')].map((b) => b.textContent)") as? [String]
        XCTAssertEqual(chips, ["Tiny Outline (outline)", "second"])
        try await expectPage(try await value("document.getElementById('lora-none').hidden"), as: Bool.self, true)

        try await setField("#width", "64")
        try await setField("#height", "64")
        _ = try await value("(() => { const s = document.getElementById('steps'); s.value = 2; s.dispatchEvent(new Event('input')); })()")
        try await browser.click(selector: "#prompt")
        try await browser.type("a red circle")

        // Pick the LoRA: a row with its slider, number and trigger words; a trigger word goes into the prompt.
        try await browser.click(selector: "#lora-chips .chip[data-name='outline']")
        try await expectPage(try await value("document.querySelector(\"#lora-chips .chip[data-name='outline']\").classList.contains('active')"), as: Bool.self, true)
        try await expectPage(try await value("document.querySelectorAll('#lora-list .lora-row').length"), as: Int.self, 1)
        let words = try await value("[...document.querySelectorAll('#lora-list .trigger')].map((b) => b.textContent)") as? [String]
        XCTAssertEqual(words, ["tiny outline", "bold lines"])
        try await browser.click(selector: "#lora-list .trigger[data-word='tiny outline']")
        try await expectPage(try await value("document.getElementById('prompt').value"), as: String.self, "a red circle, tiny outline")
        try await expectPage(try await value("document.querySelector(\"#lora-list .trigger[data-word='tiny outline']\").classList.contains('active')"), as: Bool.self, true)
        // The weight typed into the number moves the slider.
        try await setField("#lora-list .lora-number", "0.6")
        try await expectPage(try await value("document.querySelector('#lora-list .lora-slider').value"), as: String.self, "0.6")

        try await browser.click(selector: "#generate")
        try await browser.waitFor("document.getElementById('result-image').dataset.final === '1'", timeout: 60)
        let shownSrc = try await value("document.getElementById('result-image').getAttribute('src')")
        let src = try XCTUnwrap(shownSrc as? String)
        let png = try PNG.decode(Array(try await console.get(src).body))
        let infotext = png.text.first { $0.key == "parameters" }?.value ?? ""
        XCTAssertTrue(infotext.hasPrefix("a red circle, tiny outline <lora:outline:0.6>\n"), infotext)
        let meta = try await value("document.getElementById('result-meta').textContent") as? String ?? ""
        XCTAssertTrue(meta.contains("LoRA outline 0.6"), meta)
        try await browser.waitFor("document.querySelectorAll('#history .item').length === 1", timeout: 10)
        try await expectPage(try await value("document.querySelector('#history .item .loras').textContent"), as: String.self, "LoRA: outline 0.6")

        // The slider moves the number; a weight the server refuses comes back as its message.
        _ = try await value("(() => { const s = document.querySelector('#lora-list .lora-slider'); s.value = '1.5'; s.dispatchEvent(new Event('input')); })()")
        try await expectPage(try await value("document.querySelector('#lora-list .lora-number').value"), as: String.self, "1.5")
        try await setField("#lora-list .lora-number", "11")
        try await browser.click(selector: "#generate")
        try await browser.waitFor("!document.getElementById('error').hidden", timeout: 10)
        let error = try await value("document.getElementById('error').textContent") as? String ?? ""
        XCTAssertTrue(error.contains("loras[0].weight must be between -10 and 10, got 11"), error)

        // Take the LoRA away, pick the other one; reuse brings back the entry's LoRA and weight only.
        try await browser.click(selector: "#lora-list .lora-remove")
        try await expectPage(try await value("document.querySelectorAll('#lora-list .lora-row').length"), as: Int.self, 0)
        try await browser.click(selector: "#lora-chips .chip[data-name='second']")
        try await browser.click(selector: "#history .item button")
        let rows = try await value("[...document.querySelectorAll('#lora-list .lora-row')].map((r) => [r.dataset.name, r.querySelector('.lora-number').value, r.querySelector('.lora-slider').value])") as? [[String]]
        XCTAssertEqual(rows, [["outline", "0.6", "0.6"]])
        let active = try await value("[...document.querySelectorAll('#lora-chips .chip.active')].map((b) => b.dataset.name)") as? [String]
        XCTAssertEqual(active, ["outline"])
        try await expectPage(try await value("document.getElementById('prompt').value"), as: String.self, "a red circle, tiny outline")
        _ = try await value("window.scrollTo(0, 0)")
        let shot = try await browser.screenshot()
        let dir = ProcessInfo.processInfo.environment["MAJICFLUX_SCREENSHOT_DIR"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("majicflux-browser-test").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try shot.write(to: URL(fileURLWithPath: dir + "/console-loras.png"))
        print("browser test screenshot: \(dir)/console-loras.png")
    }

    private func expectPage<T: Equatable>(_ value: Any?, as: T.Type, _ expected: T, line: UInt = #line) async throws {
        XCTAssertEqual(value as? T, expected, line: line)
    }

    private func drive(_ browser: ChromeDevTools, _ console: TestConsole) async throws {
        try await browser.attachToPage()
        try await browser.call("Emulation.setDeviceMetricsOverride", ["width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": false])
        try await browser.call("Page.enable")
        try await browser.call("Runtime.enable")
        try await browser.call("Page.navigate", ["url": console.base + "/"])
        try await browser.waitFor("document.readyState === 'complete' && document.title === 'Flux 离线图像生成控制台'", timeout: 20)
        try await browser.waitFor("document.getElementById('model-status').classList.contains('ready')", timeout: 30)

        // A small, quick picture (the default model's native size): the size typed by hand, steps on the slider.
        for (field, value) in [("width", "128"), ("height", "128")] {
            try await browser.click(selector: "#\(field)")
            _ = try await browser.evaluate("document.getElementById('\(field)').select()")
            try await browser.type(value)
        }
        _ = try await browser.evaluate("(() => { const s = document.getElementById('steps'); s.value = 20; s.dispatchEvent(new Event('input')); })()")
        try await browser.click(selector: "#prompt")
        try await browser.type("a red circle on the left on a white background")
        // Under the prompt: the tokens each encoder reads, as the server counts them.
        let counted = try await console.post("/api/prompt-length", json: ["prompt": "a red circle on the left on a white background"]).json
        let t5 = try XCTUnwrap(counted["t5_tokens"] as? Int), t5Limit = try XCTUnwrap(counted["t5_limit"] as? Int)
        let clip = try XCTUnwrap(counted["clip_tokens"] as? Int)
        try await browser.waitFor("document.getElementById('prompt-tokens').textContent.startsWith('T5 \(t5)/\(t5Limit) · CLIP \(clip)/77')", timeout: 10)
        let served = try await console.get("/api/status").json["defaults"] as? [String: Any]
        XCTAssertEqual(t5Limit, served?["max_sequence_length"] as? Int, "the count is at the served model's T5 length")
        try await expectPage(try await browser.evaluate("document.getElementById('max-seq').value"), as: String.self, "\(t5Limit)")
        try await expectPage(try await browser.evaluate("document.getElementById('prompt-tokens').classList.contains('over')"), as: Bool.self, false)
        // A style preset adds its phrase to the prompt; a second click takes it away.
        try await browser.click(selector: "#style-chips .chip:nth-child(2)")   // watercolor
        let styled = try await browser.evaluate("document.getElementById('prompt').value") as? String
        XCTAssertEqual(styled, "a red circle on the left on a white background, watercolor painting, soft washes of color, visible paper texture")
        try await expectPage(try await browser.evaluate("document.querySelector('#style-chips .chip:nth-child(2)').classList.contains('active')"), as: Bool.self, true)
        try await browser.click(selector: "#style-chips .chip:nth-child(2)")
        try await expectPage(try await browser.evaluate("document.getElementById('prompt').value"), as: String.self, "a red circle on the left on a white background")
        try await expectPage(try await browser.evaluate("document.getElementById('seed').value"), as: String.self, "-1")

        try await browser.click(selector: "#generate")
        try await browser.waitFor("document.getElementById('result-image').dataset.final === '1'", timeout: 60)

        let shown = try await browser.evaluate("""
            (() => { const i = document.getElementById('result-image');
                     return [i.naturalWidth, i.naturalHeight, i.hidden ? 1 : 0, i.getAttribute('src')]; })()
            """) as? [Any] ?? []
        XCTAssertEqual(shown.prefix(3).compactMap { $0 as? Int }, [128, 128, 0], "the picture is shown: \(shown)")
        let src = try XCTUnwrap(shown.last as? String)
        XCTAssertTrue(src.hasPrefix("/images/") && src.hasSuffix(".png"), src)
        let status = try await browser.evaluate("document.getElementById('job-status').textContent") as? String ?? ""
        XCTAssertTrue(status.contains("实际种子 (actual seed)"), status)
        let download = try await browser.evaluate("document.getElementById('download').getAttribute('href')") as? String
        XCTAssertEqual(download, src)
        try await expectPage(try await browser.evaluate("document.getElementById('error').hidden"), as: Bool.self, true)
        try await browser.waitFor("document.querySelectorAll('#history .item').length === 1", timeout: 10)

        // The seed the page showed is the one in the PNG the server kept.
        let seed = try XCTUnwrap(status.split(separator: " ").last.map(String.init))
        let png = try PNG.decode(Array(try await console.get(src).body))
        XCTAssertTrue(png.text.first { $0.key == "parameters" }?.value.contains("Seed: \(seed),") ?? false)

        // A bad value typed into the page comes back as the server's message, shown on the page.
        try await browser.click(selector: "#seed")
        _ = try await browser.evaluate("document.getElementById('seed').select()")
        try await browser.type("abc")
        try await browser.click(selector: "#generate")
        try await browser.waitFor("!document.getElementById('error').hidden", timeout: 10)
        let error = try await browser.evaluate("document.getElementById('error').textContent") as? String ?? ""
        XCTAssertTrue(error.contains("seed must be an integer"), error)
        // Reuse the history's parameters with one click: the seed field gets the picture's seed back,
        // and the T5 length its value.
        _ = try await browser.evaluate("document.getElementById('max-seq').value = '100'")
        try await browser.click(selector: "#history .item button")
        try await expectPage(try await browser.evaluate("document.getElementById('seed').value"), as: String.self, seed)
        try await expectPage(try await browser.evaluate("document.getElementById('max-seq').value"), as: String.self, "\(t5Limit)")
        try await expectPage(try await browser.evaluate("document.getElementById('steps').value"), as: String.self, "20")
        _ = try await browser.evaluate("document.getElementById('error').hidden = true; window.scrollTo(0, 0)")

        let shot = try await browser.screenshot()
        let decoded = try PNG.decode(Array(shot))
        XCTAssertEqual(decoded.image.width, 1280)
        let dir = ProcessInfo.processInfo.environment["MAJICFLUX_SCREENSHOT_DIR"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("majicflux-browser-test").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/console.png"
        try shot.write(to: URL(fileURLWithPath: path))
        print("browser test screenshot: \(path)")

        // A longer run: the live preview and the step count appear while it denoises; Cancel stops it.
        for (field, value) in [("width", "512"), ("height", "512")] {
            try await browser.click(selector: "#\(field)")
            _ = try await browser.evaluate("document.getElementById('\(field)').select()")
            try await browser.type(value)
        }
        _ = try await browser.evaluate("(() => { const s = document.getElementById('steps'); s.max = 100; s.value = 100; s.dispatchEvent(new Event('input')); })()")
        try await browser.click(selector: "#dice")
        try await expectPage(try await browser.evaluate("document.getElementById('seed').value"), as: String.self, "-1")
        try await browser.click(selector: "#generate")
        try await browser.waitFor("""
            (() => { const i = document.getElementById('result-image');
                     return !i.hidden && i.classList.contains('preview') && i.src.startsWith('data:image/png;base64,'); })()
            """, timeout: 20)
        let progress = try await browser.evaluate("document.getElementById('progress-text').textContent") as? String ?? ""
        XCTAssertNotNil(progress.range(of: #"步骤 \(Step\) \d+/100 · 剩余 \(left\) "#, options: .regularExpression), progress)
        try await expectPage(try await browser.evaluate("document.getElementById('cancel').disabled"), as: Bool.self, false)
        // While it denoises the page still counts: a negative prompt past T5's length turns its line red.
        let long = String(repeating: "blurry, low quality, ", count: 12)
        _ = try await browser.evaluate("(() => { const n = document.getElementById('negative'); n.value = \(ChromeDevTools.quoted(long)); n.dispatchEvent(new Event('input')); })()")
        try await browser.waitFor("document.getElementById('negative-tokens').classList.contains('over')", timeout: 10)
        let longCount = try await console.post("/api/prompt-length", json: ["prompt": long]).json
        let longTokens = try XCTUnwrap(longCount["t5_tokens"] as? Int)
        let line = try await browser.evaluate("document.getElementById('negative-tokens').textContent") as? String ?? ""
        XCTAssertTrue(line.hasPrefix("T5 \(longTokens)/\(t5Limit) ") && line.contains("have no effect"), line)
        XCTAssertTrue(line.contains(#"raise "T5 tokens read" in Advanced settings"#), line)
        // Raising the T5 length in the advanced settings to the prompt's length: nothing is cut.
        XCTAssertTrue(longTokens <= 512, "the test prompt must fit T5's longest: \(longTokens)")
        _ = try await browser.evaluate("(() => { const n = document.getElementById('max-seq'); n.value = '\(longTokens)'; n.dispatchEvent(new Event('input')); })()")
        try await browser.waitFor("document.getElementById('negative-tokens').textContent.startsWith('T5 \(longTokens)/\(longTokens) ')", timeout: 10)
        try await expectPage(try await browser.evaluate("document.getElementById('negative-tokens').classList.contains('over')"), as: Bool.self, false)
        let during = try await browser.screenshot()
        try during.write(to: URL(fileURLWithPath: dir + "/console-progress.png"))
        // A second job while the first runs: the page shows its place in the queue; Cancel removes it.
        try await browser.click(selector: "#generate")
        try await browser.waitFor("document.getElementById('job-status').textContent.includes('排队中 (queued) · 前面还有 1 个任务 (position 1)')", timeout: 10)
        try await browser.click(selector: "#cancel")
        try await browser.waitFor("document.getElementById('job-status').textContent.includes('已取消 (cancelled)')", timeout: 20)
        // The first one is cancelled through the API.
        let active = try await console.get("/api/jobs").json["jobs"] as? [[String: Any]]
        let running = try XCTUnwrap(active?.first?["id"] as? String)
        let cancelled = try await console.post("/api/jobs/\(running)/cancel", raw: "")
        XCTAssertEqual(cancelled.status, 200)
        _ = try await console.waitForJob(running) { $0["status"] as? String == "cancelled" }
        try await expectPage(try await browser.evaluate("document.querySelectorAll('#history .item').length"), as: Int.self, 1)
    }
}
