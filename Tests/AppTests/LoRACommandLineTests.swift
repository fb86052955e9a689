import Foundation
import Tensor
import XCTest

/// `majicflux generate --lora PATH[:WEIGHT]` and `--lora-fuse`, and `serve`'s LoRA folder, run as the
/// built executable: weights and paths as written, what the picture records, and every bad argument
/// refused with a message before any model weights load.
final class LoRACommandLineTests: XCTestCase {
    private var folders: [String] = []

    override func tearDownWithError() throws { for f in folders { try? FileManager.default.removeItem(atPath: f) } }

    private func run(_ arguments: [String], limit: Double = 120) throws -> (status: Int32, log: String, folder: String) {
        let result = try TestConsole.runToEnd(arguments, limit: limit)
        folders.append(result.folder)
        return result
    }

    private func generate(_ options: [String], model: String = TestConsole.tinyModel) throws -> (status: Int32, log: String, folder: String) {
        try run(["generate", "--model", model, "--device", "cpu", "--prompt", "a red circle", "--output", "out.png",
                 "--seed", "5", "--steps", "2", "--width", "32"] + options)
    }

    /// The LoRA folder, with `outline.safetensors` and `v1:final/outline.safetensors` (a ':' in the path).
    private func loras() throws -> String {
        let dir = try TinyLoRA.folderWithOutline()
        folders.append(dir)
        try FileManager.default.createDirectory(atPath: dir + "/v1:final", withIntermediateDirectories: true)
        try TinyLoRA.write(to: dir + "/v1:final/outline.safetensors", seed: 11)
        try TinyLoRA.write(to: dir + "/second.safetensors", rank: 2, seed: 21)
        return dir
    }

    private func recorded(_ png: String) throws -> (infotext: String, loras: [String], pixels: [UInt8]) {
        let (image, text) = try PNG.read(png)
        let json = try XCTUnwrap(text.first { $0.key == "majicflux" }?.value)
        let request = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        // Weights as the Float used (the chunk holds its double: 0.699999988079071), written as A1111 does.
        let loras = (request["loras"] as? [[String: Any]] ?? []).map { l -> String in
            let w = Float(l["weight"] as? Double ?? .nan)
            return "\(l["name"] ?? "?"):" + (w == w.rounded() ? String(Int(w)) : "\(w)")
        }
        return (text.first { $0.key == "parameters" }?.value ?? "", loras, image.pixels)
    }

    /// `PATH`, `PATH:WEIGHT`, a path holding ':' with and without a weight, several LoRAs at once: the
    /// picture records each as given (`<lora:name:weight>`, its hash) and the LoRA changes it.
    func testLoRAArgumentsReachThePicture() throws {
        let dir = try loras()
        let base = try generate([])
        XCTAssertEqual(base.status, 0, base.log)
        let plain = try recorded(base.folder + "/out.png")

        let half = try generate(["--lora", dir + "/outline.safetensors:0.5"])
        XCTAssertEqual(half.status, 0, half.log)
        XCTAssertTrue(half.log.contains("LoRA outline \"Tiny Outline\": rank 4, kohya keys, DiT+CLIP at weight 0.5"), half.log)
        let h = try recorded(half.folder + "/out.png")
        XCTAssertTrue(h.infotext.hasPrefix("a red circle <lora:outline:0.5>\n"), h.infotext)
        XCTAssertTrue(h.infotext.contains("Lora hashes: \"outline: \(try TinyLoRA.shortHash(dir + "/outline.safetensors"))\""), h.infotext)
        XCTAssertEqual(h.loras, ["outline:0.5"])
        XCTAssertTrue(h.pixels != plain.pixels, "the LoRA changes the picture")

        let full = try generate(["--lora", dir + "/outline.safetensors"])
        XCTAssertEqual(full.status, 0, full.log)
        XCTAssertEqual(try recorded(full.folder + "/out.png").loras, ["outline:1"], "no weight: 1")

        // Only a trailing ':number' is a weight.
        let colonPath = dir + "/v1:final/outline.safetensors"
        for (argument, weight) in [(colonPath, "1"), (colonPath + ":0.7", "0.7"), (colonPath + ":-1.5", "-1.5")] {
            let r = try generate(["--lora", argument])
            XCTAssertEqual(r.status, 0, "\(argument): \(r.log)")
            XCTAssertEqual(try recorded(r.folder + "/out.png").loras, ["outline:\(weight)"], argument)
        }

        let two = try generate(["--lora", dir + "/outline.safetensors:0.5", "--lora", dir + "/second.safetensors:0.25"])
        XCTAssertEqual(two.status, 0, two.log)
        let t = try recorded(two.folder + "/out.png")
        XCTAssertTrue(t.infotext.hasPrefix("a red circle <lora:outline:0.5> <lora:second:0.25>\n"), t.infotext)
        XCTAssertTrue(t.infotext.contains("Lora hashes: \"outline: "), t.infotext)
        XCTAssertTrue(t.infotext.contains(", second: \(try TinyLoRA.shortHash(dir + "/second.safetensors"))\""), t.infotext)
        XCTAssertTrue(t.pixels != h.pixels, "the second LoRA adds to the first")
    }

    /// `--lora-fuse` merges the LoRA into the DiT's (bf16) weights and reports the worst layer's
    /// rounding error; the picture stays close to the unfused one.
    func testLoRAFuseReportsTheFusionError() throws {
        let dir = try loras()
        let base = try generate([])
        let unfused = try generate(["--lora", dir + "/outline.safetensors:0.8"])
        let fused = try generate(["--lora", dir + "/outline.safetensors:0.8", "--lora-fuse"])
        XCTAssertEqual(fused.status, 0, fused.log)
        let line = try XCTUnwrap(fused.log.range(of: #"LoRAs fused into 16 layers: worst relative error [0-9.]+e[-+][0-9]+ at [a-z_.0-9]+, mean [0-9.]+e[-+][0-9]+"#, options: .regularExpression), fused.log)
        let worst = try XCTUnwrap(Double(fused.log[line].components(separatedBy: "worst relative error ")[1].split(separator: " ")[0]))
        XCTAssertGreaterThan(worst, 0, "bf16 weights round the merged sum")
        XCTAssertLessThan(worst, 0.05)
        XCTAssertFalse(unfused.log.contains("fused"), unfused.log)
        let a = try recorded(unfused.folder + "/out.png"), b = try recorded(fused.folder + "/out.png")
        let plain = try recorded(base.folder + "/out.png")
        XCTAssertEqual(b.loras, ["outline:0.8"])
        func psnr(_ x: [UInt8], _ y: [UInt8]) -> Double {
            var sum = 0
            for (p, q) in zip(x, y) { let d = Int(p) - Int(q); sum += d * d }
            let mse = Double(sum) / Double(x.count)
            return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
        }
        XCTAssertGreaterThan(psnr(a.pixels, b.pixels), 30, "fused paints what unfused does, up to rounding")
        XCTAssertGreaterThan(psnr(a.pixels, b.pixels), psnr(plain.pixels, b.pixels) + 5, "and it is the LoRA's picture, not the base")
    }

    /// Bad `--lora` arguments end the run with one message naming the argument, before the model loads
    /// (the model folder given here does not even exist) and without a picture.
    func testBadLoRAArgumentsAreRefusedBeforeTheModelLoads() throws {
        let dir = try loras()
        let lora = dir + "/outline.safetensors"
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: dir + "/garbage.safetensors"))
        try TinyLoRA.writeUnmapped(to: dir + "/unmapped.safetensors")
        let missingModel = dir + "/no-such-model"
        let cases: [([String], String)] = [
            (["--lora", lora + ":11"], "--lora \(lora):11: the weight must be between -10 and 10, got 11"),
            (["--lora", lora + ":-12.5"], "the weight must be between -10 and 10, got -12.5"),
            (["--lora", lora + ":nan"], "the weight must be a finite number between -10 and 10, got nan"),
            (["--lora", lora + ":inf"], "the weight must be a finite number"),
            (["--lora", lora + ":"], "nothing after the ':'; give a weight (PATH:0.8) or leave the ':' out"),
            (["--lora", ":0.5"], "no such file :0.5"),
            (["--lora", lora + ":abc"], "no such file \(lora):abc (the weight after the last ':' must be a number, e.g. \(lora):0.8)"),
            (["--lora", dir + "/missing.safetensors"], "--lora \(dir)/missing.safetensors: no such file"),
            (["--lora", dir], "is a folder; give a LoRA .safetensors file"),
            (["--lora", dir + "/garbage.safetensors"], "garbage.safetensors is not a readable LoRA .safetensors file"),
            (["--lora", dir + "/unmapped.safetensors:0.5"], "LoRA unmapped: 2 key(s) match no layer"),
            (["--lora", lora, "--lora", dir + "/missing.safetensors"], "missing.safetensors: no such file"),
            (["--lora-fuse"], "--lora-fuse merges LoRAs into the model: give them with --lora PATH[:WEIGHT]"),
        ]
        for (options, message) in cases {
            let r = try generate(options, model: missingModel)
            XCTAssertNotEqual(r.status, 0, "\(options): \(r.log)")
            XCTAssertTrue(r.log.contains(message), "\(options): \(r.log)")
            XCTAssertFalse(r.log.contains("no-such-model"), "\(options): the LoRA is checked before the model: \(r.log)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: r.folder + "/out.png"), "\(options)")
        }
        // The help states the form and the weight range.
        let p = Process()
        p.executableURL = try TestConsole.executable()
        p.arguments = ["generate", "--help"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let help = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(whereSeparator: \.isWhitespace).joined(separator: " ")
        p.waitUntilExit()
        XCTAssertTrue(help.contains("--lora <PATH[:WEIGHT]>") && help.contains("(default 1, from -10 to 10)") && help.contains("--lora-fuse"), help)
    }

    /// `serve` offers the model folder's `loras/` without being told; `--lora-dir` names another
    /// folder, and one that does not exist is refused.
    func testServeListsTheModelFoldersLoRAsByDefault() async throws {
        let model = try PresetModelCopy(schnell: false)
        try FileManager.default.createDirectory(atPath: model.dir + "/loras", withIntermediateDirectories: true)
        try TinyLoRA.write(to: model.dir + "/loras/shipped.safetensors", metadata: TinyLoRA.outlineMetadata)
        let (p, log) = try TestConsole.launch(try TestConsole.executable(), ["serve", "--model", model.dir, "--device", "cpu", "--port", "0"])
        folders.append((log as NSString).deletingLastPathComponent)
        defer { if p.isRunning { p.terminate() } }
        let console = try await TestConsole.remote(process: p, log: log)
        let listing = try await console.get("/api/loras").json
        XCTAssertEqual((listing["loras"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["shipped"])
        XCTAssertEqual(listing["directory"] as? String, model.dir + "/loras")
        var said = ""
        for _ in 0..<100 where !said.contains("LoRAs: 1 in") {
            said = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        XCTAssertTrue(said.contains("LoRAs: 1 in \(model.dir)/loras/"), said)
        p.terminate()

        let other = try TinyLoRA.folderWithOutline()
        folders.append(other)
        let (q, qlog) = try TestConsole.launch(try TestConsole.executable(), ["serve", "--model", model.dir, "--device", "cpu", "--port", "0", "--lora-dir", other])
        folders.append((qlog as NSString).deletingLastPathComponent)
        defer { if q.isRunning { q.terminate() } }
        let second = try await TestConsole.remote(process: q, log: qlog)
        let names = (try await second.get("/api/loras").json["loras"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        XCTAssertEqual(names, ["outline"])
        q.terminate()

        let missing = try run(["serve", "--model", model.dir, "--device", "cpu", "--port", "0", "--lora-dir", other + "/nope"], limit: 30)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.log.contains("--lora-dir \(other)/nope: no such folder"), missing.log)
    }
}
