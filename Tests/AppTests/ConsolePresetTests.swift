import Foundation
import MajicFluxApp
import Models
import Tensor
import XCTest

/// The HTTP API's defaults are the served model's preset: `/api/status` shows them (the page starts
/// from them), a job that leaves a setting out gets it, and `serve`'s own defaults override them.
final class ConsolePresetTests: XCTestCase {
    private var consoles: [TestConsole] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles = []
    }

    private func start(_ edit: (inout ServerConfiguration) throws -> Void = { _ in }, waitForModel: Bool = true) async throws -> TestConsole {
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        try edit(&c)
        let console = try await TestConsole.start(configuration: c, waitForModel: waitForModel)
        consoles.append(console)
        return console
    }

    private func defaults(_ console: TestConsole) async throws -> [String: Any] {
        let status = try await console.get("/api/status").json
        return try XCTUnwrap(status["defaults"] as? [String: Any])
    }

    /// A tiny FLUX.1-dev folder: 20 steps, guidance 3.5, its sample_size 64; a job with only a
    /// prompt gets exactly those.
    func testStatusShowsTheModelPresetAndJobsGetIt() async throws {
        let dev = try PresetModelCopy(schnell: false)
        let console = try await start { $0.files = try FluxModelFiles.resolve(modelDir: dev.dir) }
        let d = try await defaults(console)
        XCTAssertEqual(d["preset"] as? String, "FLUX.1-dev")
        XCTAssertEqual(d["steps"] as? Int, 20)
        XCTAssertEqual(d["guidance"] as? Double, 3.5)
        XCTAssertEqual(d["uses_guidance"] as? Bool, true)
        XCTAssertEqual(d["schedule"] as? String, "model")
        XCTAssertEqual(d["width"] as? Int, 64)
        XCTAssertEqual(d["max_sequence_length"] as? Int, 64, "the server's --max-sequence-length over the model's 512")
        let job = try await console.submit(["prompt": "a red circle", "seed": 1])
        let p = try XCTUnwrap(job["parameters"] as? [String: Any])
        XCTAssertEqual(p["steps"] as? Int, 20)
        XCTAssertEqual(p["guidance"] as? Double, 3.5)
        XCTAssertEqual(p["width"] as? Int, 64)
        XCTAssertEqual(p["max_sequence_length"] as? Int, 64)
        XCTAssertEqual(p["schedule"] as? String, "model")
        if let id = job["id"] as? String { _ = try await console.send("DELETE", "/api/jobs/\(id)") }
    }

    /// `serve --schedule diffsynth` is the default of jobs that name no schedule, and the status says so.
    func testServerScheduleOverridesTheModels() async throws {
        let console = try await start { $0.defaultSchedule = .diffSynth(shift: 3) }
        let d = try await defaults(console)
        XCTAssertEqual(d["schedule"] as? String, "diffsynth")
        XCTAssertEqual(d["shift"] as? Double, 3)
        let job = try await console.submit(["prompt": "x", "steps": 1, "width": 32, "height": 32])
        XCTAssertEqual((job["parameters"] as? [String: Any])?["schedule"] as? String, "diffsynth")
        if let id = job["id"] as? String { _ = try await console.send("DELETE", "/api/jobs/\(id)") }
    }

    /// A schnell model served: its own steps and T5 length, guidance unused; a job asking for
    /// guidance is refused with the reason, one without it runs with 4 steps.
    func testSchnellServedWithItsPreset() async throws {
        let schnell = try PresetModelCopy(schnell: true)
        let console = try await start { c in
            c.files = try FluxModelFiles.resolve(modelDir: schnell.dir)
            c.defaultMaxSequenceLength = nil
        }
        let d = try await defaults(console)
        XCTAssertEqual(d["preset"] as? String, "FLUX.1-schnell")
        XCTAssertEqual(d["steps"] as? Int, 4)
        XCTAssertEqual(d["uses_guidance"] as? Bool, false)
        XCTAssertEqual(d["guidance"] as? Double, 0)
        XCTAssertEqual(d["max_sequence_length"] as? Int, 256)
        let refused = try await console.post("/api/jobs", json: ["prompt": "x", "guidance": 3.5])
        XCTAssertEqual(refused.status, 400, refused.text)
        XCTAssertTrue((refused.json["error"] as? String ?? "").contains("guidance does not apply: FLUX.1-schnell"), refused.text)
        let job = try await console.submit(["prompt": "a red circle", "seed": 2, "guidance": 0])
        let id = try XCTUnwrap(job["id"] as? String)
        let done = try await console.waitForJob(id, timeout: 120) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(done["status"] as? String, "done", "\(done)")
        XCTAssertEqual((done["parameters"] as? [String: Any])?["steps"] as? Int, 4)
    }

    /// `serve --vram-budget` (and the other model options of `ServerConfiguration`) reach the served
    /// pipeline: they were once accepted and silently dropped on the way.
    func testVRAMBudgetAndModelOptionsReachThePipeline() async throws {
        let console = try await start({ c in
            c.vramBudget = 6 << 30
            c.vaeTilingMode = .on
            c.precision = .int8
        }, waitForModel: false)
        let pipeline = try XCTUnwrap(console.server?.pipelineSettings)
        XCTAssertEqual(pipeline.vramBudget, 6 << 30)
        XCTAssertEqual(pipeline.vaeTilingMode, .on)
        XCTAssertEqual(pipeline.precision, .int8)
        XCTAssertTrue(pipeline.keepLoaded, "a server keeps its model")
        let plain = try await start()
        XCTAssertNil(try XCTUnwrap(plain.server?.pipelineSettings).vramBudget)
    }

    /// The page starts from FLUX.1-dev's settings (no literal left in the page) and takes the model's.
    func testPageStartsFromThePresetAndReadsTheModels() async throws {
        let console = try await start()
        let page = try await console.get("/").text
        XCTAssertTrue(page.contains(#"id="guidance" type="number" min="0" max="100" step="0.1" value="3.5""#), "FLUX.1-dev's guidance")
        XCTAssertTrue(page.contains(#"value="20">"#), "FLUX.1-dev's steps")
        XCTAssertFalse(page.contains("/*STEPS*/") || page.contains("/*GUIDANCE*/") || page.contains("/*SIZE*/"))
        XCTAssertTrue(page.contains("d.uses_guidance === false"), "the page disables guidance for models without it")
    }
}
