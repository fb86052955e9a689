import Foundation
import Models
import Tensor
import XCTest

/// `majicflux generate` option by option: settings left out come from the model's preset, every
/// option given reaches the picture (its PNG records the request), and options that cannot apply
/// are refused with a message before any weights load.
final class CommandLineOptionTests: XCTestCase {
    private var folders: [String] = []

    override func tearDownWithError() throws { for f in folders { try? FileManager.default.removeItem(atPath: f) } }

    /// Runs the executable in a fresh folder to the end; its exit status, stderr and the folder.
    private func run(_ arguments: [String], limit: Double = 120) throws -> (status: Int32, log: String, folder: String) {
        let result = try TestConsole.runToEnd(arguments, limit: limit)
        folders.append(result.folder)
        return result
    }

    /// The request recorded in a picture's `majicflux` text chunk, and its infotext.
    private func recorded(_ png: String) throws -> (request: [String: Any], infotext: String) {
        let text = try PNG.read(png).text
        let json = try XCTUnwrap(text.first { $0.key == "majicflux" }?.value)
        let request = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        return (request, text.first { $0.key == "parameters" }?.value ?? "")
    }

    private func generate(_ model: String, _ options: [String]) throws -> (status: Int32, log: String, folder: String) {
        try run(["generate", "--model", model, "--device", "cpu", "--prompt", "a red circle", "--output", "out.png"] + options)
    }

    /// `--version` prints the release on stdout and exits 0, as command-line tools do.
    func testVersionFlag() throws {
        let p = Process()
        p.executableURL = try TestConsole.executable()
        p.arguments = ["--version"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(text.trimmingCharacters(in: .whitespacesAndNewlines), "majicflux \(MajicFluxVersion.current)")
    }

    /// No settings given: the tiny FLUX.1-dev folder's preset (20 steps, its sample_size 64, 3.5,
    /// 512 T5 tokens, the model's schedule).
    func testUnsetSettingsComeFromTheModelPreset() throws {
        let dev = try PresetModelCopy(schnell: false)
        let (status, log, folder) = try generate(dev.dir, ["--seed", "5"])
        XCTAssertEqual(status, 0, log)
        XCTAssertTrue(log.contains("64x64, 20 steps") && log.contains("FLUX.1-dev defaults"), log)
        let r = try recorded(folder + "/out.png").request
        XCTAssertEqual(r["steps"] as? Int, 20)
        XCTAssertEqual(r["width"] as? Int, 64)
        XCTAssertEqual(r["height"] as? Int, 64)
        XCTAssertEqual(r["guidance"] as? Double, 3.5)
        XCTAssertEqual(r["max_sequence_length"] as? Int, 512)
        XCTAssertEqual(r["schedule"] as? String, "model")
        XCTAssertEqual(r["seed"] as? Int, 5)
    }

    /// Every generation setting given on the command line is the one used; a width alone also sets
    /// the height (square), as the help says.
    func testEveryGenerationOptionReachesThePicture() throws {
        let (status, log, folder) = try generate(TestConsole.tinyModel, [
            "--seed", "7", "--steps", "2", "--width", "48", "--guidance", "2.5", "--cfg-scale", "1.5",
            "--negative-prompt", "blurry", "--schedule", "diffsynth", "--max-sequence-length", "16", "--vae-tiling", "off"])
        XCTAssertEqual(status, 0, log)
        let (r, infotext) = try recorded(folder + "/out.png")
        XCTAssertEqual(r["steps"] as? Int, 2)
        XCTAssertEqual(r["width"] as? Int, 48)
        XCTAssertEqual(r["height"] as? Int, 48, "--width alone: a square picture")
        XCTAssertEqual(r["guidance"] as? Double, 2.5)
        XCTAssertEqual(r["true_cfg_scale"] as? Double, 1.5)
        XCTAssertEqual(r["negative_prompt"] as? String, "blurry")
        XCTAssertEqual(r["schedule"] as? String, "diffsynth")
        XCTAssertEqual(r["shift"] as? Double, 3)
        XCTAssertEqual(r["max_sequence_length"] as? Int, 16)
        XCTAssertEqual(r["seed"] as? Int, 7)
        XCTAssertTrue(infotext.contains("Negative prompt: blurry"), infotext)
        XCTAssertEqual(try PNG.read(folder + "/out.png").image.width, 48)
        let tall = try generate(TestConsole.tinyModel, ["--seed", "7", "--steps", "1", "--height", "64"])
        XCTAssertEqual(tall.status, 0, tall.log)
        XCTAssertEqual(try recorded(tall.folder + "/out.png").request["width"] as? Int, 64, "--height alone: a square picture")
    }

    /// A schnell folder (no guidance embedder) gets schnell's settings without being told: 4 steps,
    /// 256 T5 tokens, guidance 0; `--guidance` is refused there, since the model would ignore it.
    func testSchnellGetsItsPresetAndRefusesGuidance() throws {
        let schnell = try PresetModelCopy(schnell: true, sampleSize: 64)
        let (status, log, folder) = try generate(schnell.dir, ["--seed", "3"])
        XCTAssertEqual(status, 0, log)
        XCTAssertTrue(log.contains("4 steps") && log.contains("FLUX.1-schnell defaults"), log)
        let r = try recorded(folder + "/out.png").request
        XCTAssertEqual(r["steps"] as? Int, 4)
        XCTAssertEqual(r["max_sequence_length"] as? Int, 256)
        XCTAssertEqual(r["guidance"] as? Double, 0)
        let guided = try generate(schnell.dir, ["--seed", "3", "--guidance", "3.5"])
        XCTAssertNotEqual(guided.status, 0)
        XCTAssertTrue(guided.log.contains("--guidance does not apply: FLUX.1-schnell has no guidance embedder"), guided.log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: guided.folder + "/out.png"))
    }

    /// Options that cannot apply, and values the shared limits refuse, end the run with one message
    /// naming the option, before any picture is made.
    func testOptionsThatCannotApplyAreRefusedWithAMessage() throws {
        let cases: [([String], String)] = [
            (["--negative-prompt", "blurry"], "--negative-prompt is used only with true CFG"),
            (["--negative-prompt", "blurry", "--cfg-scale", "1"], "--negative-prompt is used only with true CFG"),
            (["--width", "20"], "--width must be a positive multiple of 16, got 20"),
            (["--guidance", "101"], "--guidance must be between 0 and 100, got 101"),
            (["--cfg-scale", "0.5"], "--cfg-scale must be between 1 and 100, got 0.5"),
            (["--max-sequence-length", "600"], "--max-sequence-length must be between 1 and 512, got 600"),
            (["--prompt", "a\u{1}b"], "--prompt contains the control character U+0001"),
        ]
        for (options, message) in cases {
            let (status, log, folder) = try generate(TestConsole.tinyModel, ["--steps", "1"] + options)
            XCTAssertNotEqual(status, 0, "\(options): \(log)")
            XCTAssertTrue(log.contains(message), "\(options): \(log)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/out.png"), "\(options)")
        }
    }

    /// A prompt longer than T5 reads gets a note naming the limit and the option; a short one none.
    func testAPromptLongerThanT5ReadsIsNoted() throws {
        let long = String(repeating: "a red circle on a blue square, ", count: 10)
        let (status, log, _) = try run(["generate", "--model", TestConsole.tinyModel, "--device", "cpu", "--prompt", long,
                                        "--steps", "1", "--width", "32", "--max-sequence-length", "16", "--output", "out.png"])
        XCTAssertEqual(status, 0, log)
        XCTAssertTrue(log.contains("note: the prompt is ") && log.contains("T5 reads 16 (--max-sequence-length, at most 512)"), log)
        let short = try generate(TestConsole.tinyModel, ["--seed", "1", "--steps", "1", "--width", "32", "--max-sequence-length", "16"])
        XCTAssertEqual(short.status, 0, short.log)
        XCTAssertFalse(short.log.contains("T5 reads"), short.log)
    }

    /// `quantize --overflow` only matters for unscaled e4m3fn; with any other format or scale it is
    /// refused rather than silently ignored.
    func testQuantizeOverflowOnlyWhereItApplies() throws {
        for options in [["--format", "int8"], ["--format", "fp8-e4m3fn", "--scale", "channel"], ["--format", "fp8-e5m2", "--scale", "none"]] {
            let (status, log, _) = try run(["quantize", "in.safetensors", "out.safetensors", "--overflow", "nan"] + options)
            XCTAssertNotEqual(status, 0, "\(options)")
            XCTAssertTrue(log.contains("--overflow applies only to --format fp8-e4m3fn with --scale none"), "\(options): \(log)")
            XCTAssertTrue(log.contains("Usage: majicflux quantize"), "the option error comes with quantize's usage: \(log)")
        }
        for (options, message) in [(["--scale", "block:0"], "scale 'block:0'"), (["--format", "gguf-q9"], "--format gguf-TYPE takes one of"),
                                    (["--format", "gguf-q8_0", "--scale", "channel"], "--scale does not apply to GGUF formats"),
                                    (["--format", "gguf-q4_k"], "--format gguf-q4_k writes a GGUF file: name OUTPUT *.gguf (got out.safetensors)")] {
            let (status, log, _) = try run(["quantize", "in.safetensors", "out.safetensors"] + options)
            XCTAssertNotEqual(status, 0, "\(options)")
            XCTAssertTrue(log.contains(message) && log.contains("Usage: majicflux quantize"), "\(options): \(log)")
        }
        let (status, log, _) = try run(["quantize", "in.safetensors", "out.safetensors", "--overflow", "nan", "--scale", "none"])
        XCTAssertNotEqual(status, 0)
        XCTAssertFalse(log.contains("--overflow"), "accepted; only the missing input is reported: \(log)")
        // A safetensors format into a .gguf name is refused too (it used to write safetensors bytes there).
        let named = try run(["quantize", "in.safetensors", "out.GGUF", "--format", "int8"])
        XCTAssertNotEqual(named.status, 0)
        XCTAssertTrue(named.log.contains("writes a safetensors file: name OUTPUT *.safetensors") && named.log.contains("or choose a gguf-* format")
                      && named.log.contains("Usage: majicflux quantize"), named.log)
        // Any other name too: loaders choose the reader by the extension (out.bin was written as safetensors).
        let bin = try run(["quantize", "in.safetensors", "out.bin", "--format", "int8"])
        XCTAssertNotEqual(bin.status, 0)
        XCTAssertTrue(bin.log.contains("name OUTPUT *.safetensors (got out.bin)"), bin.log)
    }

    /// `--dit`, `--text-encoder`, `--text-encoder-2` and `--vae` are used: with those parts moved out
    /// of the model folder, only the options can find them.
    func testModelPartOptionsAreUsed() throws {
        let model = try PresetModelCopy(schnell: false)
        let parts = model.dir + "-parts"
        folders.append(parts)
        let fm = FileManager.default
        try fm.createDirectory(atPath: parts, withIntermediateDirectories: true)
        for (from, to) in [("text_encoder", "clip"), ("text_encoder_2", "t5"), ("vae", "vae"),
                           ("transformer/diffusion_pytorch_model.safetensors", "dit.safetensors")] {
            try fm.moveItem(atPath: model.dir + "/" + from, toPath: parts + "/" + to)
        }
        let base = ["--seed", "2", "--steps", "1", "--width", "32"]
        let missing = try generate(model.dir, base)
        XCTAssertNotEqual(missing.status, 0, "the parts are gone from the folder: \(missing.log)")
        let (status, log, folder) = try generate(model.dir, base + [
            "--dit", parts + "/dit.safetensors", "--text-encoder", parts + "/clip",
            "--text-encoder-2", parts + "/t5", "--vae", parts + "/vae"])
        XCTAssertEqual(status, 0, log)
        XCTAssertEqual(try PNG.read(folder + "/out.png").image.width, 32)
    }

    /// `--precision` changes how the DiT's weights are held, so int8 paints (slightly) other pixels
    /// than bf16 from the same request.
    func testPrecisionOptionIsUsed() throws {
        let base = ["--seed", "4", "--steps", "2", "--width", "32"]
        let bf16 = try generate(TestConsole.tinyModel, base + ["--precision", "bf16"])
        let int8 = try generate(TestConsole.tinyModel, base + ["--precision", "int8"])
        XCTAssertEqual(bf16.status, 0, bf16.log)
        XCTAssertEqual(int8.status, 0, int8.log)
        let a = try PNG.read(bf16.folder + "/out.png"), b = try PNG.read(int8.folder + "/out.png")
        XCTAssertEqual(a.text.first { $0.key == "majicflux" }?.value, b.text.first { $0.key == "majicflux" }?.value, "same request")
        XCTAssertNotEqual(a.image.pixels, b.image.pixels, "int8 weights give other pixels")
    }

    /// `serve`'s own options on the command line: `--max-pixels`, `--max-sequence-length` and
    /// `--schedule` are what `/api/status` reports and jobs get; `--output-dir` holds the pictures.
    func testServeOptionsAreUsed() async throws {
        let (p, log) = try TestConsole.launch(try TestConsole.executable(), [
            "serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--port", "0", "--output-dir", "pictures",
            "--max-pixels", "4096", "--max-sequence-length", "8", "--schedule", "diffsynth"])
        folders.append((log as NSString).deletingLastPathComponent)
        defer { if p.isRunning { p.terminate() } }
        let console = try await TestConsole.remote(process: p, log: log)
        try await console.waitUntilReady()
        let status = try await console.get("/api/status").json
        XCTAssertEqual((status["limits"] as? [String: Any])?["max_pixels"] as? Int, 4096)
        let d = status["defaults"] as? [String: Any]
        XCTAssertEqual(d?["max_sequence_length"] as? Int, 8)
        XCTAssertEqual(d?["schedule"] as? String, "diffsynth")
        let big = try await console.post("/api/jobs", json: ["prompt": "x", "width": 80, "height": 64])
        XCTAssertEqual(big.status, 400)
        XCTAssertTrue((big.json["error"] as? String ?? "").contains("above this server's limit of 4096 (--max-pixels)"), big.text)
        let job = try await console.submit(["prompt": "x", "width": 64, "height": 64, "steps": 1, "seed": 1])
        let parameters = job["parameters"] as? [String: Any]
        XCTAssertEqual(parameters?["max_sequence_length"] as? Int, 8)
        XCTAssertEqual(parameters?["schedule"] as? String, "diffsynth")
        let id = try XCTUnwrap(job["id"] as? String)
        let done = try await console.waitForJob(id, timeout: 60) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(done["status"] as? String, "done", "\(done)")
        let file = try XCTUnwrap((done["history"] as? [String: Any])?["file"] as? String)
        let folder = (log as NSString).deletingLastPathComponent
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/pictures/" + file), "--output-dir pictures")
    }

    /// `quantize --format`, `--scale`, `--all-linear` and `--quiet` each change what is written or printed.
    func testQuantizeOptionsAreUsed() throws {
        let dit = TestConsole.tinyModel + "/transformer/diffusion_pytorch_model.safetensors"
        func quantize(_ options: [String]) throws -> (printed: String, out: SafeTensorsCheckpoint) {
            let folder = TestConsole.freshOutputDirectory()
            folders.append(folder)
            let log = folder + "/stdout.txt"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let p = Process()
            p.executableURL = try TestConsole.executable()
            p.arguments = ["quantize", dit, folder + "/out.safetensors"] + options
            p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            p.standardError = p.standardOutput
            try p.run()
            p.waitForExit("majicflux quantize \(options)", log: log)
            let printed = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            XCTAssertEqual(p.terminationStatus, 0, printed)
            return (printed, try SafeTensorsCheckpoint(path: folder + "/out.safetensors"))
        }
        func count(_ c: SafeTensorsCheckpoint, _ dtype: DType) -> Int { c.names.filter { (try? c.info(named: $0).dtype) == dtype }.count }
        func scaleShapes(_ c: SafeTensorsCheckpoint) -> Set<[Int]> {
            Set(c.names.filter { $0.hasSuffix(".weight_scale") }.compactMap { try? c.info(named: $0).shape })
        }
        let blocks = try quantize(["--format", "int8", "--scale", "channel"])
        // The tiny DiT is a diffusers file: written under BFL names, q/k/v fused into one quantized qkv.
        XCTAssertEqual(try? blocks.out.info(named: "double_blocks.0.img_attn.qkv.weight").dtype, .i8)
        XCTAssertNotNil(try? blocks.out.info(named: "double_blocks.0.img_attn.qkv.weight_scale"))
        XCTAssertFalse(blocks.out.names.contains { $0.hasPrefix("transformer_blocks.") })
        XCTAssertTrue(blocks.printed.contains("gets BFL names"), blocks.printed)
        let all = try quantize(["--format", "int8", "--scale", "channel", "--all-linear", "--quiet"])
        XCTAssertGreaterThan(count(blocks.out, .i8), 0)
        XCTAssertGreaterThan(count(all.out, .i8), count(blocks.out, .i8), "--all-linear also quantizes the embedders and the final layer")
        XCTAssertTrue(scaleShapes(blocks.out).allSatisfy { $0.count == 2 && $0[1] == 1 }, "--scale channel: one scale per row")
        let tensorScaled = try quantize(["--format", "int8", "--scale", "tensor"])
        XCTAssertEqual(scaleShapes(tensorScaled.out), [[]], "--scale tensor: one scale per layer")
        let fp8 = try quantize(["--format", "fp8-e4m3fn", "--scale", "channel"])
        XCTAssertEqual(count(fp8.out, .i8), 0)
        XCTAssertEqual(count(fp8.out, .f8e4m3fn), count(blocks.out, .i8), "--format decides the stored type")
        XCTAssertTrue(blocks.printed.contains("MB in->out"), "the per-layer table: \(blocks.printed)")
        XCTAssertFalse(all.printed.contains("MB in->out"), "--quiet prints only the summary: \(all.printed)")
        XCTAssertTrue(all.printed.contains("wrote "), all.printed)
        // The tiny DiT's rows (32 values) hold no q4_k block (256): said, not passed off as a quantized file.
        for (type, warns) in [("gguf-q4_k", true), ("gguf-q8_0", false)] {
            let r = try TestConsole.runToEnd(["quantize", dit, "out.gguf", "--format", type, "--quiet"])
            folders.append(r.folder)
            XCTAssertEqual(r.status, 0, r.log)
            XCTAssertEqual(r.log.contains("warning: nothing will be quantized"), warns, "\(type): \(r.log)")
        }
    }

    /// `--device cuda` on a machine without a usable GPU is refused with the reason, not run on the CPU.
    func testDeviceCUDAWithoutAGPUIsRefused() throws {
        if CUDABackend.unavailableReason() == nil { throw XCTSkip("a CUDA GPU is present: --device cuda runs") }
        let (status, log, folder) = try run(["generate", "--model", TestConsole.tinyModel, "--prompt", "x", "--output", "out.png",
                                             "--steps", "1", "--width", "32", "--device", "cuda:1"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(log.contains("--device cuda:1 (CUDA): "), "the device named whole: \(log)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/out.png"))
    }
}
