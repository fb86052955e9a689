import XCTest
import Foundation
import Tensor

/// The `majicflux` executable as a user runs it: bad `generate` options and destinations are reported
/// in one line before any model loads, and `quantize` never replaces its input, refuses FIFOs, and
/// leaves no partial file when stopped by a signal.
final class CommandLineSafetyTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "majicflux-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func executable() throws -> URL {
        let products = (Bundle.main.executableURL ?? Bundle.main.bundleURL).deletingLastPathComponent()
        let binary = products.appendingPathComponent("majicflux")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("the majicflux executable is not built beside the tests (\(binary.path))")
        }
        return binary
    }

    /// Starts the executable in `dir` with stderr and stdout to files.
    private func start(_ arguments: [String]) throws -> (Process, String) {
        let log = dir + "/log-\(UUID().uuidString).txt"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = try executable()
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardError = handle
        p.standardOutput = handle
        try p.run()
        return (p, log)
    }

    /// Runs the executable to the end (`limit` seconds at most); returns its exit status and output.
    private func run(_ arguments: [String], limit: Double = 30) throws -> (Int32, String) {
        let (p, log) = try start(arguments)
        let deadline = Date().addingTimeInterval(limit)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if p.isRunning { p.terminate(); XCTFail("majicflux \(arguments) still running after \(limit) s") }
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    /// A safetensors file of `count` bf16 [rows, 4096] Linear weights, sparse on disk (all zeros).
    private func sparseInput(_ path: String, count: Int, rows: Int) throws {
        let entries = (0..<count).map { SafeTensorsWriter.Entry(name: "layer\($0).weight", dtype: .bf16, shape: [rows, 4096]) }
        let header = SafeTensorsWriter.headerBytes(entries, metadata: [:])
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(header)))
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.truncate(atOffset: UInt64(header.count + count * rows * 4096 * 2))
        try h.close()
    }

    func testNegativeNumbersReachValidation() throws {
        let base = ["generate", "--prompt", "a cat", "--output", dir + "/missing/x.png"]
        let (steps, stepsLog) = try run(base + ["--steps", "-1"])
        XCTAssertNotEqual(steps, 0)
        XCTAssertTrue(stepsLog.contains("--steps must be between 1 and 100, got -1"), stepsLog)
        let (many, manyLog) = try run(base + ["--steps", "101"])
        XCTAssertNotEqual(many, 0)
        XCTAssertTrue(manyLog.contains("--steps must be between 1 and 100, got 101"), manyLog)
        // -1 is a seed ("random"): parsing goes on to the next check, the output folder.
        let (seed, seedLog) = try run(base + ["--seed", "-1"])
        XCTAssertNotEqual(seed, 0)
        XCTAssertFalse(seedLog.contains("Missing value"), seedLog)
        XCTAssertTrue(seedLog.contains("does not exist"), seedLog)
        let (bad, badLog) = try run(base + ["--seed", "-2"])
        XCTAssertNotEqual(bad, 0)
        XCTAssertTrue(badLog.contains("--seed must be -1 (random) or an integer 0 … 18446744073709551615, got -2"), badLog)
        // The HTTP API's seeds go to 2^64-1: the command line takes them too (it stopped at 2^63-1).
        let (top, topLog) = try run(base + ["--seed", "18446744073709551615"])
        XCTAssertNotEqual(top, 0)
        XCTAssertTrue(topLog.contains("does not exist"), "the seed passed, the output folder is next: \(topLog)")
        let (over, overLog) = try run(base + ["--seed", "18446744073709551616"])
        XCTAssertNotEqual(over, 0)
        XCTAssertTrue(overLog.contains("--seed must be -1 (random) or an integer 0 … 18446744073709551615, got 18446744073709551616"), overLog)
        let (batch, batchLog) = try run(base + ["--seed", "18446744073709551615", "--batch", "2"])
        XCTAssertNotEqual(batch, 0)
        XCTAssertTrue(batchLog.contains("the last picture's seed would pass 18446744073709551615"), batchLog)
    }

    func testUnwritableOutputIsReportedBeforeGenerating() throws {
        try FileManager.default.createDirectory(atPath: dir + "/pictures", withIntermediateDirectories: false)
        // /proc: access() says writable (to root), creating a file fails; it failed after the generation.
        let procOK = FileManager.default.fileExists(atPath: "/proc/self")
        for (output, reason) in [(dir + "/pictures", "is a folder"), (dir + "/missing/x.png", "does not exist")]
            + (procOK ? [("/proc/x.png", "cannot")] : []) {
            let start = Date()
            let (status, log) = try run(["generate", "--prompt", "a cat", "--steps", "1", "--output", output])
            XCTAssertNotEqual(status, 0)
            XCTAssertTrue(log.contains("--output \(output)") && log.contains(reason), log)
            XCTAssertFalse(log.contains("NSCocoaErrorDomain") || log.contains("encoding prompt"), log)
            XCTAssertEqual(log.split(separator: "\n").count, 1, "one line: \(log)")
            XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        }
    }

    /// `generate --output` naming a file the run reads (the input picture, a LoRA, a file of the model
    /// folder), a name whose extension chooses no format, a seed a batch would carry past the largest,
    /// or a batch picture's path that is a folder: refused in one line before any work, inputs intact.
    func testGenerateRefusesOutputsThatWouldDestroyItsInputsOrHaveNoFormat() throws {
        let model = try XCTUnwrap(TestConsole.defaultModel, "the default model")
        let copy = dir + "/model"
        try FileManager.default.copyItem(atPath: model, toPath: copy)
        let weights = copy + "/transformer/diffusion_pytorch_model.safetensors"
        let photo = dir + "/photo.png"
        try Data(try TestPictures.png(try TestPictures.image(width: 32, height: 32))).write(to: URL(fileURLWithPath: photo))
        let lora = copy + "/loras/night.safetensors"
        let base = ["generate", "--model", copy, "--prompt", "a cat", "--steps", "1", "--seed", "1"]
        let sample = copy + "/samples/sample1.png"
        let before = try [weights, photo, lora, sample].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        for (extra, reason) in [(["--output", weights], "name the picture .png"),
                                (["--output", sample], "inside the input folder"),
                                (["--image", photo, "--output", photo], "is the input file"),
                                (["--lora", lora, "--output", lora], "name the picture .png"),
                                (["--output", "x.gif"], "name the picture .png, .jpg, .jpeg or .webp"),
                                (["--output", "x"], "name the picture .png"),
                                (["--seed", "18446744073709551615", "--batch", "2", "--output", "x.png"], "largest seed")] {
            let (status, log) = try run(base + extra)
            XCTAssertNotEqual(status, 0, "\(extra): \(log)")
            XCTAssertTrue(log.contains(reason), "\(extra): \(log)")
            XCTAssertFalse(log.contains("encoding prompt"), "refused before any work: \(log)")
        }
        XCTAssertEqual(try [weights, photo, lora, sample].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }, before, "inputs unchanged")
        // Every picture of a batch is checked before the run, not only the first.
        try FileManager.default.createDirectory(atPath: dir + "/x-seed6.png", withIntermediateDirectories: false)
        let (status, log) = try run(base + ["--seed", "5", "--batch", "2", "--output", "x.png"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(log.contains("x-seed6.png") && log.contains("is a folder"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x-seed5.png"), "no half batch written")
    }

    /// Inputs that are not what the option takes get a reason that says so: a device as a picture
    /// (not "permission"), `--precision gguf` without a GGUF DiT (it would quietly be bf16), a GGUF
    /// file given to quantize (not "corrupt file"), and an unknown format lists the GGUF ones too.
    func testMisfitInputsAreNamedForWhatTheyAre() throws {
        let gen = ["generate", "--prompt", "a cat", "--steps", "1", "--output", "x.png"]
        for (extra, reason) in [(["--image", "/dev/zero"], "not a regular file (a character device)"),
                                (["--precision", "gguf"], "--precision gguf keeps the blocks of a .gguf DiT")] {
            let (status, log) = try run(gen + extra)
            XCTAssertNotEqual(status, 0, "\(extra): \(log)")
            XCTAssertTrue(log.contains(reason), "\(extra): \(log)")
        }
        let gguf = dir + "/dit.gguf"
        try Data("GGUF".utf8 + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 16)).write(to: URL(fileURLWithPath: gguf))
        let (status, log) = try run(["quantize", gguf, dir + "/out.safetensors", "--format", "int8", "--scale", "channel"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(log.contains("is a GGUF file") && !log.contains("corrupt"), log)
        let (fmt, fmtLog) = try run(["quantize", gguf, dir + "/out.safetensors", "--format", "fp8"])
        XCTAssertNotEqual(fmt, 0)
        XCTAssertTrue(fmtLog.contains("gguf-q8_0") && fmtLog.contains("fp8-e4m3fn"), fmtLog)
    }

    /// What `quantize` writes, `generate` loads: a DiT with every Linear in int4 (the embedders too,
    /// whose packed widths once made the config inference read half the input channels; int4 now
    /// defaults to block scales) and a VAE with its Linears in int8 or int4 (read dequantized). A VAE
    /// config that does not belong to the weights is named before any step runs.
    func testQuantizedFilesLoadAndAWrongVAEConfigIsNamedEarly() throws {
        let model = try XCTUnwrap(TestConsole.defaultModel, "the default model")
        let gen = ["generate", "--prompt", "a red circle", "--steps", "2", "--seed", "1", "--device", "cpu"]
        let (q, qLog) = try run(["quantize", model + "/transformer", "dit4.safetensors", "--all-linear", "--format", "int4", "--quiet"])
        XCTAssertEqual(q, 0, qLog)
        let dit = try SafeTensorsCheckpoint(path: dir + "/dit4.safetensors")
        XCTAssertEqual(try dit.info(named: "img_in.weight").dtype, .u8, "the embedder is packed too")
        XCTAssertEqual(try dit.info(named: "double_blocks.0.img_mlp.0.weight_scale").shape.count, 2, "int4 defaults to block scales")
        XCTAssertNotEqual(try dit.info(named: "double_blocks.0.img_mlp.0.weight_scale").shape, [], "not one scale per tensor")
        let (g, gLog) = try run(gen + ["--dit", "dit4.safetensors", "--output", "d.png"], limit: 120)
        XCTAssertEqual(g, 0, gLog)
        for format in ["int8", "int4"] {
            let (qv, qvLog) = try run(["quantize", model + "/vae", "vae-\(format).safetensors", "--all-linear", "--format", format, "--quiet"])
            XCTAssertEqual(qv, 0, qvLog)
            let (gv, gvLog) = try run(gen + ["--vae", "vae-\(format).safetensors", "--output", "v-\(format).png"], limit: 120)
            XCTAssertEqual(gv, 0, "\(format): \(gvLog)")
        }
        let copy = dir + "/model"
        try FileManager.default.copyItem(atPath: model, toPath: copy)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: copy + "/vae/config.json"))
        let (bad, badLog) = try run(gen + ["--model", copy, "--width", "64", "--height", "64", "--output", "b.png"], limit: 120)
        XCTAssertNotEqual(bad, 0)
        XCTAssertTrue(badLog.contains("block_out_channels") && badLog.contains("does not match the weights"), badLog)
        XCTAssertFalse(badLog.contains("times:") || badLog.contains("encoding prompt"), "found before the text encoders and the steps: \(badLog)")
    }

    func testQuantizeRefusesToOverwriteItsInput() throws {
        let input = dir + "/in.safetensors"
        try sparseInput(input, count: 1, rows: 64)
        let original = try Data(contentsOf: URL(fileURLWithPath: input))
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.safetensors", withDestinationPath: input)
        for output in [input, "in.safetensors", dir + "/link.safetensors"] {
            let (status, log) = try run(["quantize", input, output, "--all-linear"])
            XCTAssertNotEqual(status, 0, log)
            XCTAssertTrue(log.contains("is the input file"), log)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: input)), original)
        }
        let (folder, folderLog) = try run(["quantize", input, dir, "--all-linear"])
        XCTAssertNotEqual(folder, 0)
        XCTAssertTrue(folderLog.contains("is a folder"), folderLog)
        XCTAssertFalse(folderLog.contains("quantized"), "refused before converting: \(folderLog)")
    }

    func testQuantizeRefusesAFIFOInsteadOfBlocking() throws {
        let fifo = dir + "/pipe.safetensors"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let (status, log) = try run(["quantize", fifo, dir + "/out.safetensors"], limit: 10)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(log.contains("a FIFO"), log)
    }

    /// SIGTERM and SIGINT during a conversion remove `<out>.partial-<pid>`; a partial file left by a
    /// process that is gone (SIGKILL cannot be caught) is removed by the next run.
    func testQuantizeLeavesNoPartialFileWhenStopped() throws {
        let input = dir + "/big.safetensors"
        try sparseInput(input, count: 16, rows: 4096)  // 512 MiB of zeros, sparse on disk
        for sig in [SIGTERM, SIGINT] {
            let output = dir + "/out.safetensors"
            let (p, log) = try start(["quantize", input, output, "--all-linear", "--quiet"])
            let partial = "\(output).partial-\(p.processIdentifier)"
            let deadline = Date().addingTimeInterval(30)
            while p.isRunning && !FileManager.default.fileExists(atPath: partial) && Date() < deadline { usleep(1000) }
            XCTAssertTrue(p.isRunning, "the conversion ended before the signal: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            kill(p.processIdentifier, sig)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .uncaughtSignal)
            XCTAssertEqual(p.terminationStatus, sig, "ends by the signal, as without the handler")
            XCTAssertFalse(FileManager.default.fileExists(atPath: partial), "signal \(sig) left \(partial)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: output))
        }
        // A stale partial file of a dead process: removed (and said so) by the next run.
        let small = dir + "/small.safetensors", output = dir + "/small-out.safetensors"
        try sparseInput(small, count: 1, rows: 64)
        let pidMax = Int32((try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 4_194_304
        let stale = "\(output).partial-\(pidMax + 1)"
        XCTAssertTrue(FileManager.default.createFile(atPath: stale, contents: Data(count: 1000)))
        let (status, log) = try run(["quantize", small, output, "--all-linear", "--quiet"])
        XCTAssertEqual(status, 0, log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale), log)
        XCTAssertTrue(log.contains("removed \(stale)"), log)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output))
    }
}
