import Foundation
import MajicFluxApp
import Models
import XCTest

/// A model whose config files are valid JSON but not what they should be never stops the console:
/// the model ends `failed` with the reason, jobs fail with it, and the server keeps answering.
final class ModelFailureTests: XCTestCase {
    private var consoles: [TestConsole] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
    }

    /// A copy of the tiny model (symbolic links) whose `file` (e.g. "scheduler/scheduler_config.json") holds `json`.
    private func model(replacing file: String, with json: String) throws -> String {
        let folder = TestConsole.freshOutputDirectory() + "/model"
        let fm = FileManager.default
        let (part, name) = (String(file.split(separator: "/")[0]), String(file.split(separator: "/")[1]))
        try fm.createDirectory(atPath: folder + "/" + part, withIntermediateDirectories: true)
        for entry in try fm.contentsOfDirectory(atPath: TestConsole.tinyModel) where entry != part {
            try fm.createSymbolicLink(atPath: folder + "/" + entry, withDestinationPath: TestConsole.tinyModel + "/" + entry)
        }
        for entry in try fm.contentsOfDirectory(atPath: TestConsole.tinyModel + "/" + part) where entry != name {
            try fm.createSymbolicLink(atPath: "\(folder)/\(part)/\(entry)", withDestinationPath: "\(TestConsole.tinyModel)/\(part)/\(entry)")
        }
        try Data(json.utf8).write(to: URL(fileURLWithPath: "\(folder)/\(file)"))
        return folder
    }

    /// Polls the status until the model is no longer loading; returns its `model` part.
    private func settledModel(_ console: TestConsole) async throws -> [String: Any] {
        for _ in 0..<1000 {
            let model = try await console.get("/api/status").json["model"] as? [String: Any] ?? [:]
            if model["state"] as? String != "loading" { return model }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        throw TestFailure("the model stayed loading")
    }

    /// Configs read when the pipeline is made (scheduler) and when the weights load (transformer,
    /// T5): each ends as the `failed` state naming the file, never as a server that will not start.
    func testBrokenConfigEndsAsFailedState() async throws {
        let cases = [("scheduler/scheduler_config.json", #"{"shift": "three"}"#),
                     ("transformer/config.json", #"{"num_layers": "one"}"#),
                     ("text_encoder_2/config.json", #"{"d_model": [1]}"#)]
        for (file, json) in cases {
            var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
            c.files = try FluxModelFiles.resolve(modelDir: try model(replacing: file, with: json))
            let console = try await TestConsole.start(configuration: c, waitForModel: false)
            consoles.append(console)
            let model = try await settledModel(console)
            XCTAssertEqual(model["state"] as? String, "failed", "\(file): \(model)")
            let message = model["message"] as? String ?? ""
            XCTAssertTrue(message.contains("could not be loaded") && message.contains(file), "\(file): \(message)")
            if file.hasPrefix("scheduler/") {  // no pipeline, so no tokenizers to count with: 503, not a crash
                let counted = try await console.post("/api/prompt-length", json: ["prompt": "x"])
                XCTAssertEqual(counted.status, 503, counted.text)
                XCTAssertTrue((counted.json["error"] as? String ?? "").contains("tokenizers could not be read"), counted.text)
            }
            let job = try await console.submit(["prompt": "x", "steps": 1, "width": 32, "height": 32])
            let end = try await console.events(job["id"] as! String).last?.data
            XCTAssertEqual(end?["status"] as? String, "failed", file)
            XCTAssertTrue((end?["error"] as? String ?? "").contains(file), "\(file): \(end ?? [:])")
            let page = try await console.get("/")
            XCTAssertEqual(page.status, 200, file)
        }
    }

    /// `majicflux serve` itself: a broken config met by the memory check does not end the command;
    /// the console starts and shows the model `failed`.
    func testServeCommandStaysUpWithBrokenConfig() async throws {
        let broken = try model(replacing: "transformer/config.json", with: #"{"num_layers": "one"}"#)
        let (p, log) = try TestConsole.launch(try TestConsole.executable(), ["serve", "--model", broken, "--port", "0"])
        defer { if p.isRunning { p.terminate() } }
        let console = try await TestConsole.remote(process: p, log: log)
        let model = try await settledModel(console)
        XCTAssertEqual(model["state"] as? String, "failed", "\(model)")
        XCTAssertTrue((model["message"] as? String ?? "").contains("transformer/config.json"), "\(model)")
        XCTAssertTrue(p.isRunning)
        p.stop("serve with a broken config")
        XCTAssertEqual(p.terminationStatus, 0)
    }
}
