import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Models
import Tensor
import XCTest

/// The JSON API of `majicflux serve`, through a real HTTP client against a running server with the
/// tiny model (tests/ModelsTests/Fixtures/tiny-flux).
final class ConsoleAPITests: XCTestCase {
    private var consoles: [TestConsole] = []

    private func start(outputDirectory: String = TestConsole.freshOutputDirectory()) async throws -> TestConsole {
        let c = try await TestConsole.start(outputDirectory: outputDirectory)
        consoles.append(c)
        return c
    }

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
    }

    /// Submit, follow the SSE stream to the end, fetch the PNG (decodes; carries the parameters),
    /// list the history; then restart the server on the same folder: nothing is lost.
    func testGenerateFollowFetchAndSurviveRestart() async throws {
        let console = try await start()
        // A long job holds the queue so that this test follows the next job from before its first step
        // (a 3-step tiny job can otherwise finish before the event stream is open).
        let blocker = try await console.submit(["prompt": "hold the queue", "seed": 1, "steps": 100,
                                                "width": 512, "height": 512])
        let blockerID = try XCTUnwrap(blocker["id"] as? String)
        let job = try await console.submit(["prompt": "a cat on a red sofa", "seed": 42, "steps": 3,
                                            "width": 64, "height": 48, "guidance": 3.5])
        let id = try XCTUnwrap(job["id"] as? String)
        XCTAssertEqual((job["parameters"] as? [String: Any])?["seed"] as? Int, 42)

        async let followed = console.events(id)
        try await Task.sleep(nanoseconds: 500_000_000)
        let cancelled = try await console.post("/api/jobs/\(blockerID)/cancel", raw: "")
        XCTAssertEqual(cancelled.status, 200, cancelled.text)
        let events = try await followed
        let progress = events.filter { $0.event == "progress" }.map { $0.data }
        let steps = progress.compactMap { $0["step"] as? Int }
        XCTAssertTrue(Set(steps).isSuperset(of: [0, 1, 2, 3]), "steps seen: \(steps)")
        XCTAssertEqual(progress.first { $0["status"] as? String == "running" }?["total_steps"] as? Int, 3)
        XCTAssertTrue(progress.contains { $0["stage"] as? String == "denoising" && $0["eta_seconds"] is Double },
                      "running snapshots carry the time left")
        let previews = events.filter { $0.event == "preview" }
        XCTAssertEqual(previews.count, 3, "one preview per finished step")
        let previewURL = try XCTUnwrap(previews.last?.data["image"] as? String)
        XCTAssertTrue(previewURL.hasPrefix("data:image/png;base64,"))
        let previewPNG = try PNG.decode(Array(Data(base64Encoded: String(previewURL.dropFirst(22)))!))
        XCTAssertEqual([previewPNG.image.width, previewPNG.image.height], [8, 6], "preview = latent grid (W/8 x H/8)")

        let end = try XCTUnwrap(events.last)
        XCTAssertEqual(end.event, "end")
        XCTAssertEqual(end.data["status"] as? String, "done", "\(end.data)")
        let url = try XCTUnwrap(end.data["image"] as? String)

        let png = try await console.get(url)
        XCTAssertEqual(png.status, 200)
        XCTAssertEqual(png.header("Content-Type"), "image/png")
        let decoded = try PNG.decode(Array(png.body))
        XCTAssertEqual([decoded.image.width, decoded.image.height], [64, 48])
        let parameters = try XCTUnwrap(decoded.text.first { $0.key == "parameters" }?.value)
        XCTAssertTrue(parameters.hasPrefix("a cat on a red sofa\n"), parameters)
        XCTAssertTrue(parameters.contains("Steps: 3") && parameters.contains("Seed: 42") && parameters.contains("Size: 64x48"), parameters)
        XCTAssertTrue(parameters.contains("Model: tiny-flux"), parameters)
        let request = try XCTUnwrap(decoded.text.first { $0.key == "majicflux" }?.value)
        XCTAssertTrue(request.contains("\"seed\": 42"), request)

        // A random seed (-1): the snapshot and the PNG tell the one actually used.
        let random = try await console.submit(["prompt": "a dog", "seed": -1, "steps": 1, "width": 32, "height": 32])
        let randomSeed = try XCTUnwrap((random["parameters"] as? [String: Any])?["seed"] as? Int)
        let randomEnd = try await console.events(random["id"] as! String).last!.data
        XCTAssertEqual((randomEnd["parameters"] as? [String: Any])?["seed"] as? Int, randomSeed)
        let randomPNG = try PNG.decode(Array(try await console.get(randomEnd["image"] as! String).body))
        XCTAssertTrue(randomPNG.text.first { $0.key == "parameters" }!.value.contains("Seed: \(randomSeed)"))

        let history = try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(history.count, 2)
        XCTAssertEqual(history.first?["id"] as? String, random["id"] as? String, "newest first")
        XCTAssertEqual(history.last?["url"] as? String, url)
        XCTAssertEqual((history.last?["parameters"] as? [String: Any])?["prompt"] as? String, "a cat on a red sofa")

        // Restart on the same output folder.
        await console.stop()
        let again = try await start(outputDirectory: console.outputDirectory)
        let historyAfter = try await again.get("/api/history").json["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(historyAfter.map { $0["url"] as? String }, history.map { $0["url"] as? String })
        let pngAfter = try await again.get(url)
        XCTAssertEqual(pngAfter.status, 200)
        XCTAssertEqual(pngAfter.body, png.body)
        let forgotten = try await again.get("/api/jobs/\(id)")
        XCTAssertEqual(forgotten.status, 404, "job ids do not outlive the server")
        // Even with the job database lost, the pictures' own parameters rebuild the history.
        await again.stop()
        try TestConsole.removeDatabase(in: console.outputDirectory)
        let rebuilt = try await start(outputDirectory: console.outputDirectory)
        let historyRebuilt = try await rebuilt.get("/api/history").json["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(historyRebuilt.map { $0["url"] as? String }, history.map { $0["url"] as? String })
        XCTAssertEqual(historyRebuilt.map { ($0["parameters"] as? [String: Any])?["seed"] as? Int }, [randomSeed, 42])
        XCTAssertEqual((historyRebuilt.last?["parameters"] as? [String: Any])?["prompt"] as? String, "a cat on a red sofa")
        await rebuilt.stop()
        let again2 = try await start(outputDirectory: console.outputDirectory)
        // The next picture does not overwrite an old one.
        let third = try await again2.submit(["prompt": "a bird", "seed": 7, "steps": 1, "width": 32, "height": 32])
        let thirdEnd = try await again2.events(third["id"] as! String).last!.data
        XCTAssertNotEqual(thirdEnd["image"] as? String, url)
        let historyLater = try await again2.get("/api/history").json
        XCTAssertEqual((historyLater["items"] as? [Any])?.count, 3)
    }

    /// One job at a time: later ones wait with their position; waiting and running jobs can be cancelled.
    func testQueuePositionsAndCancel() async throws {
        let console = try await start()
        let long = ["prompt": "a long job", "seed": 1, "steps": 100, "width": 512, "height": 512] as [String: Any]
        let a = try await console.submit(long)
        let b = try await console.submit(["prompt": "second", "seed": 2, "steps": 2, "width": 32, "height": 32])
        let c = try await console.submit(["prompt": "third", "seed": 3, "steps": 2, "width": 32, "height": 32])
        let (idA, idB, idC) = (a["id"] as! String, b["id"] as! String, c["id"] as! String)
        XCTAssertEqual(b["status"] as? String, "queued")
        XCTAssertEqual(b["position"] as? Int, 1, "one job ahead of the second")
        XCTAssertEqual(c["position"] as? Int, 2, "two jobs ahead of the third")

        // The first runs (and has made progress); the others still wait, in order.
        _ = try await console.waitForJob(idA) { $0["status"] as? String == "running" && ($0["step"] as? Int ?? 0) >= 1 }
        let jobs = try await console.get("/api/jobs").json["jobs"] as? [[String: Any]] ?? []
        XCTAssertEqual(jobs.map { $0["id"] as? String }, [idA, idB, idC])
        XCTAssertEqual(jobs.map { $0["position"] as? Int }, [nil, 1, 2])
        let status = try await console.get("/api/status").json
        XCTAssertEqual(status["running"] as? String, idA)
        XCTAssertEqual(status["waiting"] as? Int, 2)

        // Cancel a waiting job: it ends at once and the one behind moves up.
        let cancelledC = try await console.post("/api/jobs/\(idC)/cancel", raw: "")
        XCTAssertEqual(cancelledC.status, 200)
        XCTAssertEqual(cancelledC.json["status"] as? String, "cancelled")
        // Cancel the running job (DELETE works too): it stops at its next step.
        let cancelA = try await console.send("DELETE", "/api/jobs/\(idA)")
        XCTAssertEqual(cancelA.status, 200, cancelA.text)
        let endA = try await console.events(idA).last!
        XCTAssertEqual(endA.event, "end")
        XCTAssertEqual(endA.data["status"] as? String, "cancelled")
        XCTAssertLessThan(endA.data["step"] as? Int ?? 100, 100)
        // The second now runs to completion.
        let endB = try await console.events(idB).last!.data
        XCTAssertEqual(endB["status"] as? String, "done", "\(endB)")
        // Cancelling a finished job is a conflict, with a message.
        let late = try await console.post("/api/jobs/\(idB)/cancel", raw: "")
        XCTAssertEqual(late.status, 409)
        XCTAssertTrue((late.json["error"] as? String ?? "").contains("already finished"), late.text)
        let history = try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(history.map { $0["id"] as? String }, [idB], "cancelled jobs leave no picture")
    }

    /// Every kind of bad input gets a 4xx with a JSON message, and the server keeps serving.
    func testBadInputGets4xxWithMessage() async throws {
        let console = try await start()
        let ok: [String: Any] = ["prompt": "x", "steps": 2, "width": 32, "height": 32]
        func with(_ changes: [String: Any]) -> [String: Any] { ok.merging(changes) { $1 } }
        let cases: [(String, [String: Any], Int, String)] = [
            ("no prompt", ["steps": 2], 400, "prompt is missing"),
            ("empty prompt", with(["prompt": "  \n "]), 400, "prompt is empty"),
            ("prompt not text", with(["prompt": 5]), 400, "prompt must be a string"),
            ("steps 0", with(["steps": 0]), 400, "steps must be between 1 and 100"),
            ("steps 101", with(["steps": 101]), 400, "steps must be between 1 and 100"),
            ("steps text", with(["steps": "many"]), 400, "steps must be an integer"),
            ("width not /16", with(["width": 100]), 400, "width must be a positive multiple of 16"),
            ("height 0", with(["height": 0]), 400, "height must be a positive multiple of 16"),
            ("negative width", with(["width": -32]), 400, "width must be a positive multiple of 16"),
            ("over pixel limit", with(["width": 1024, "height": 512]), 400, "above this server's limit of 262144"),
            ("seed text", with(["seed": "abc"]), 400, "seed must be an integer"),
            ("shift with the model's schedule", with(["schedule": "model", "shift": 5]), 400, "shift applies with"),
            ("batch past the largest seed", with(["seed": "18446744073709551615", "batch_count": 2]), 400, "the last picture's seed would pass"),
            ("seed fraction", with(["seed": 1.5]), 400, "seed must be an integer"),
            ("seed negative", with(["seed": -7]), 400, "seed must be an integer"),
            ("seed object", with(["seed": ["x": 1]]), 400, "seed must be an integer"),
            ("guidance text", with(["guidance": "strong"]), 400, "guidance must be a number"),
            ("guidance range", with(["guidance": 1000]), 400, "guidance must be between 0 and 100"),
            ("cfg range", with(["true_cfg_scale": 0.5]), 400, "true_cfg_scale must be between 1 and 100"),
            ("schedule", with(["schedule": "karras"]), 400, "schedule must be"),
        ]
        for (name, body, status, message) in cases {
            let r = try await console.post("/api/jobs", json: body)
            XCTAssertEqual(r.status, status, "\(name): \(r.text)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains(message), "\(name): \(r.text)")
            XCTAssertEqual(r.json["status"] as? Int, status, name)
        }
        let raw: [(String, String, Int, String)] = [
            ("not JSON", "prompt=a cat", 400, "not valid JSON"),
            ("a list", "[1, 2]", 400, "must be a JSON object"),
            ("empty body", "", 400, "not valid JSON"),
            ("deep nesting", String(repeating: "[", count: 5000), 400, "not valid JSON"),
            ("oversized", "{\"prompt\": \"" + String(repeating: "a", count: 100_000) + "\"}", 413, "larger than this server's limit"),
        ]
        for (name, body, status, message) in raw {
            let r = try await console.post("/api/jobs", raw: body)
            XCTAssertEqual(r.status, status, "\(name): \(r.text)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains(message), "\(name): \(r.text)")
        }
        let form = try await console.send("POST", "/api/jobs", body: Data(#"{"prompt": "x"}"#.utf8), contentType: "text/plain")
        XCTAssertEqual(form.status, 415, form.text)
        XCTAssertTrue((form.json["error"] as? String ?? "").contains("Content-Type: application/json"), form.text)
        let missing: [(String, String)] = [("GET", "/api/jobs/0123456789abcdef"), ("GET", "/api/jobs/0123456789abcdef/events"),
                                           ("POST", "/api/jobs/0123456789abcdef/cancel"), ("DELETE", "/api/jobs/nothex!"),
                                           ("GET", "/api/jobs/" + String(repeating: "a", count: 300)),
                                           ("GET", "/api/nothing"), ("GET", "/images/00001-1.png"), ("PUT", "/api/jobs")]
        for (method, path) in missing {
            let r = try await console.send(method, path)
            XCTAssertTrue((400..<500).contains(r.status), "\(method) \(path): \(r.status)")
            XCTAssertFalse((r.json["error"] as? String ?? "").isEmpty, "\(method) \(path): \(r.text)")
        }
        let unknown = try await console.get("/api/jobs/0123456789abcdef").json
        XCTAssertTrue((unknown["error"] as? String ?? "").contains("unknown job id"))
        // Still alive and working.
        let alive = try await console.get("/api/status")
        XCTAssertEqual(alive.status, 200)
        let job = try await console.submit(with(["seed": "123"]))
        XCTAssertEqual((job["parameters"] as? [String: Any])?["seed"] as? Int, 123, "a seed of digits in a string is fine")
        let jobEvents = try await console.events(job["id"] as! String)
        XCTAssertEqual(jobEvents.last?.data["status"] as? String, "done")
    }

    /// Image URLs name only files the server listed; no encoding of `..` or of an absolute path escapes.
    /// HEAD answers as GET does, without the body: the page, the status, a picture (they were 404s).
    func testHeadAnswersAsGetWithoutTheBody() async throws {
        let console = try await start()
        for path in ["/", "/api/status", "/sdapi/v1/options"] {
            let get = try await console.get(path), head = try await console.send("HEAD", path)
            XCTAssertEqual(head.status, 200, path)
            XCTAssertTrue(head.body.isEmpty, path)
            XCTAssertEqual(head.headers["Content-Type"], get.headers["Content-Type"], path)
        }
        let page = try await console.send("HEAD", "/")
        let pageBody = try await console.get("/").body
        XCTAssertEqual(Int(page.headers["Content-Length"] ?? ""), pageBody.count, "the GET body's length")
        let missing = try await console.send("HEAD", "/no/such/page")
        XCTAssertEqual(missing.status, 404)
        XCTAssertTrue(missing.body.isEmpty)
        let post = try await console.send("HEAD", "/api/prompt-length")  // a POST-only path stays refused
        XCTAssertNotEqual(post.status, 200)
    }

    func testPathTraversalIsImpossible() async throws {
        let console = try await start()
        let job = try await console.submit(["prompt": "x", "steps": 1, "width": 32, "height": 32, "seed": 5])
        let jobEvents = try await console.events(job["id"] as! String)
        let image = try XCTUnwrap(jobEvents.last?.data["image"] as? String)
        XCTAssertEqual(try console.raw(image).status, 200, "the listed picture is served")
        // A secret beside and above the output folder.
        try "TOP-SECRET-BYTES".write(toFile: console.outputDirectory + "/secret.png", atomically: true, encoding: .utf8)
        try "TOP-SECRET-BYTES".write(toFile: console.outputDirectory + "/../majicflux-secret.png", atomically: true, encoding: .utf8)
        let attempts = [
            "/images/..%2F..%2Fetc%2Fpasswd", "/images/../../etc/passwd", "/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "/images/..%252F..%252Fetc%252Fpasswd", "/images/%2Fetc%2Fpasswd", "/images//etc/passwd",
            "/images/history.json", "/images/secret.png", "/images/..%2Fmajicflux-secret.png",
            "/images/../majicflux-secret.png", "/images/%00.png", "/images/" + image.dropFirst(8) + "%00.txt",
            "/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "http://127.0.0.1/../../etc/passwd",
            "/images/" + console.outputDirectory + "/history.json", "/images/" + console.outputDirectory.replacingOccurrences(of: "/", with: "%2F") + "%2Fsecret.png",
        ]
        for target in attempts {
            let r = try console.raw(target)
            XCTAssertTrue((400..<500).contains(r.status), "\(target): HTTP \(r.status)")
            XCTAssertFalse(r.body.contains("root:") || r.body.contains("TOP-SECRET") || r.body.contains("\"file\""), "\(target) leaked: \(r.body.prefix(120))")
        }
        let alive = try await console.get("/api/status")
        XCTAssertEqual(alive.status, 200)
    }

    /// A model that cannot load: the status says why, jobs fail with that message, the server stays up.
    func testModelThatFailsToLoadIsReportedNotFatal() async throws {
        let broken = TestConsole.freshOutputDirectory() + "/broken-model"
        try FileManager.default.createDirectory(atPath: broken + "/transformer", withIntermediateDirectories: true)
        for part in ["model_index.json", "scheduler", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "vae"] {
            try FileManager.default.createSymbolicLink(atPath: broken + "/" + part, withDestinationPath: TestConsole.tinyModel + "/" + part)
        }
        try FileManager.default.copyItem(atPath: TestConsole.tinyModel + "/transformer/config.json", toPath: broken + "/transformer/config.json")
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: broken + "/transformer/diffusion_pytorch_model.safetensors"))
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        c.files = try FluxModelFiles.resolve(modelDir: broken)
        let console = try await TestConsole.start(configuration: c, waitForModel: false)
        consoles.append(console)
        var model: [String: Any] = [:]
        for _ in 0..<600 {
            model = try await console.get("/api/status").json["model"] as? [String: Any] ?? [:]
            if model["state"] as? String != "loading" { break }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        XCTAssertEqual(model["state"] as? String, "failed")
        XCTAssertTrue((model["message"] as? String ?? "").contains("could not be loaded"), "\(model)")
        let job = try await console.submit(["prompt": "x", "steps": 1, "width": 32, "height": 32])
        let end = try await console.events(job["id"] as! String).last!.data
        XCTAssertEqual(end["status"] as? String, "failed")
        XCTAssertTrue((end["error"] as? String ?? "").contains("could not be loaded"), "\(end)")
        // The tokenizers were read: prompts are still counted.
        let counted = try await console.post("/api/prompt-length", json: ["prompt": "a cat"])
        XCTAssertEqual(counted.status, 200, counted.text)
        XCTAssertGreaterThan(counted.json["t5_tokens"] as? Int ?? 0, 1)
        let page = try await console.get("/")
        XCTAssertEqual(page.status, 200)
    }

    /// `majicflux serve` without --model serves the project's default model (Models/default), found
    /// from the executable's place in the checkout whatever the current folder; SIGTERM stops it cleanly.
    func testServeWithoutModelArgumentServesTheDefaultModel() async throws {
        guard TestConsole.defaultModel != nil else { throw XCTSkip("Models/default is not in this checkout") }
        let (p, log) = try TestConsole.launch(try TestConsole.executable(), ["serve", "--port", "0", "--output-dir", "pictures"])
        defer { if p.isRunning { p.terminate() } }
        let console = try await TestConsole.remote(process: p, log: log)
        try await console.waitUntilReady()
        let status = try await console.get("/api/status").json
        XCTAssertEqual((status["model"] as? [String: Any])?["name"] as? String, "default")
        let defaults = status["defaults"] as? [String: Any]
        XCTAssertEqual(defaults?["max_sequence_length"] as? Int, 32, "T5 length from the model's tokenizer")
        XCTAssertEqual(defaults?["width"] as? Int, 128, "picture size from the model's vae/config.json sample_size")
        XCTAssertEqual(defaults?["height"] as? Int, 128)
        // The style LoRA shipped beside the default model is offered out of the box (its loras/ folder).
        let loras = try await console.get("/api/loras").json["loras"] as? [[String: Any]] ?? []
        XCTAssertEqual(loras.map { $0["name"] as? String }, ["night"], "\(loras)")
        XCTAssertEqual(loras.first?["title"] as? String, "Night")

        // A job that gives only a prompt and a seed gets the model's own size and a real picture:
        // a red blob whose centre lies in the left third of a light picture.
        let job = try await console.submit(["prompt": "a red circle on the left on a white background", "seed": 1])
        let id = try XCTUnwrap(job["id"] as? String)
        let done = try await console.waitForJob(id, timeout: 120) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(done["status"] as? String, "done", "\(done)")
        let png = try PNG.decode(Array(try await console.get(try XCTUnwrap(done["image"] as? String)).body))
        XCTAssertEqual([png.image.width, png.image.height], [128, 128])
        let rgb = png.image.rgb().pixels
        var red = 0, sumX = 0
        for i in 0..<(128 * 128) where rgb[3 * i] > 150 && rgb[3 * i + 1] < 100 && rgb[3 * i + 2] < 100 { red += 1; sumX += i % 128 }
        XCTAssertGreaterThan(red, 300, "a red object of some size")
        XCTAssertLessThan(Double(sumX) / Double(max(red, 1)), 128.0 / 3, "on the left")
        p.stop("serve")
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertTrue(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("ssh -L"), "prints the SSH forwarding hint")
    }

    /// Without --model and with no default model to be found, `serve` says what to pass.
    func testServeWithNoModelAnywhereSaysWhatToPass() throws {
        // A copy of the executable outside the checkout, run in an empty folder: no Models/default above either.
        let alone = TestConsole.freshOutputDirectory() + "/majicflux"
        try FileManager.default.copyItem(atPath: try TestConsole.executable().path, toPath: alone)
        let (p, log) = try TestConsole.launch(URL(fileURLWithPath: alone), ["serve", "--port", "0"])
        let deadline = Date().addingTimeInterval(20)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if p.isRunning { p.terminate(); XCTFail("serve without a model kept running") }
        let message = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(message.contains("no model given: pass --model DIR"), message)
        XCTAssertTrue(message.contains("Models/default"), message)
        try? FileManager.default.removeItem(atPath: alone)
    }

    /// The page: the seed console's labels and controls, bilingual, with nothing loaded from outside.
    func testPageHasTheSeedConsoleControlsAndNoExternalResources() async throws {
        let console = try await start()
        let page = try await console.get("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.header("Content-Type")?.hasPrefix("text/html") ?? false)
        let html = page.text
        for label in ["<title>Flux 离线图像生成控制台</title>", "提示词 (Prompt)", "随机种子 (Seed)", "-1 = 随机 (random)",
                      "步数 (Steps)", "开始生成图像", "生成结果", "反向提示词 (Negative prompt)", "宽度 (Width)", "高度 (Height)",
                      "引导系数 (Guidance)", "风格预设 (Style presets)", "取消 (Cancel)", "历史记录 (History)", "下载 PNG (Download)",
                      "复用参数 (Reuse)", "正在加载模型… (loading model…)", "中国水墨 Chinese ink", "16:9"] {
            XCTAssertTrue(html.contains(label), "page lacks \(label)")
        }
        XCTAssertTrue(html.contains(#"<input id="steps" type="range" min="1" max="50" value="20">"#))
        XCTAssertTrue(html.contains(#"<input id="seed" type="text" inputmode="numeric" value="-1""#))
        for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "url(http", "cdn"] {
            XCTAssertFalse(html.lowercased().contains(external.lowercased()), "page loads something from outside: \(external)")
        }
        XCTAssertTrue(page.header("Content-Security-Policy")?.contains("default-src 'self'") ?? false)
        let status = try await console.get("/api/status").json
        XCTAssertEqual((status["model"] as? [String: Any])?["state"] as? String, "ready")
        XCTAssertEqual((status["limits"] as? [String: Any])?["max_pixels"] as? Int, 512 * 512)
    }
}
