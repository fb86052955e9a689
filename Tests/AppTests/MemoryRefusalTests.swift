import XCTest
import Foundation
import Models
@testable import MajicFluxApp

/// `generate` and `serve` refuse politely, before loading any weights, when the memory estimate does
/// not fit (here an injected `--memory-available`), and `--skip-memory-check` overrides the check.
final class MemoryRefusalTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    private func executable() throws -> URL {
        let products = (Bundle.main.executableURL ?? Bundle.main.bundleURL).deletingLastPathComponent()
        let binary = products.appendingPathComponent("majicflux")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("the majicflux executable is not built beside the tests (\(binary.path))")
        }
        return binary
    }

    /// Runs the executable to the end (20 s at most); returns its exit status and stderr.
    private func run(_ arguments: [String]) throws -> (Int32, String, String) {
        let folder = NSTemporaryDirectory() + "/majicflux-memory-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let log = folder + "/stderr.txt"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = try executable()
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: folder)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if p.isRunning { p.terminate(); XCTFail("majicflux \(arguments) kept running") }
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "", folder)
    }

    func testGenerateRefusesBeforeLoadingAndCanBeOverridden() throws {
        let model = Self.root + "/Models/default"
        guard FileManager.default.fileExists(atPath: model) else { throw XCTSkip("Models/default is not in this checkout") }
        let base = ["generate", "--model", model, "--prompt", "a red circle", "--width", "128", "--height", "128",
                    "--steps", "1", "--seed", "1", "--output", "out.png"]
        let (status, err, folder) = try run(base + ["--memory-available", "0.05"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("not enough memory for --precision bf16"), err)
        XCTAssertTrue(err.contains("--skip-memory-check"), err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/out.png"))

        let (ok, log, folder2) = try run(base + ["--memory-available", "0.05", "--skip-memory-check"])
        XCTAssertEqual(ok, 0, log)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder2 + "/out.png"), log)
    }

    func testServeRefusesBeforeListening() throws {
        let model = Self.root + "/Models/default"
        guard FileManager.default.fileExists(atPath: model) else { throw XCTSkip("Models/default is not in this checkout") }
        let (status, err, _) = try run(["serve", "--model", model, "--port", "0", "--memory-available", "0.05"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("not enough memory"), err)
        XCTAssertFalse(err.contains("http://127.0.0.1"), "must refuse before serving: \(err)")
    }

    /// `--vram-budget` is for GPUs: refused with `--device cpu`, refused below 1 GiB, and ignored with a
    /// notice when `--device auto` finds no GPU (this test machine has none, or then it is a GPU run).
    func testVRAMBudgetIsCheckedBeforeLoading() throws {
        let model = Self.root + "/Models/default"
        guard FileManager.default.fileExists(atPath: model) else { throw XCTSkip("Models/default is not in this checkout") }
        let base = ["generate", "--model", model, "--prompt", "a red circle", "--steps", "1", "--seed", "1", "--output", "out.png"]
        let (cpu, cpuErr, _) = try run(base + ["--device", "cpu", "--vram-budget", "6"])
        XCTAssertNotEqual(cpu, 0)
        XCTAssertTrue(cpuErr.contains("--vram-budget limits GPU memory"), cpuErr)
        let (tiny, tinyErr, _) = try run(base + ["--device", "cpu", "--vram-budget", "0.5"])
        XCTAssertNotEqual(tiny, 0)
        XCTAssertTrue(tinyErr.contains("at least 1"), tinyErr)
        // Refused while the command line is parsed: with the command's own usage, before anything runs.
        for command in [["generate", "--prompt", "x"], ["serve", "--port", "0"], ["worker", "--queue", "postgres://u@127.0.0.1:1/db"]] {
            let (status, err, _) = try run(command + ["--model", model, "--vram-budget", "-1"])
            XCTAssertNotEqual(status, 0)
            XCTAssertTrue(err.contains("at least 1") && err.contains("Usage: majicflux \(command[0])"), err)
        }
        let (auto, autoErr, folder) = try run(base + ["--device", "auto", "--vram-budget", "6"])
        XCTAssertEqual(auto, 0, autoErr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/out.png"), autoErr)
        if autoErr.contains("on cpu") { XCTAssertTrue(autoErr.contains("--vram-budget ignored"), autoErr) }
    }

    /// `--attention fp8` runs on a Hopper GPU's fp8 tensor cores: refused with `--device cpu` (and for
    /// `serve`) before any weights load, a nonsense value refused by the parser, and ignored with a
    /// notice when `--device auto` finds no GPU; `auto` (the default) picks fp8 only for fp8 weights.
    func testFP8AttentionIsCheckedBeforeLoading() throws {
        let model = Self.root + "/Models/default"
        guard FileManager.default.fileExists(atPath: model) else { throw XCTSkip("Models/default is not in this checkout") }
        let base = ["generate", "--model", model, "--prompt", "a red circle", "--steps", "1", "--seed", "1", "--output", "out.png"]
        let (cpu, cpuErr, cpuFolder) = try run(base + ["--device", "cpu", "--attention", "fp8"])
        XCTAssertNotEqual(cpu, 0)
        XCTAssertTrue(cpuErr.contains("--attention fp8 runs on a Hopper GPU"), cpuErr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cpuFolder + "/out.png"))
        let (serve, serveErr, _) = try run(["serve", "--model", model, "--port", "0", "--device", "cpu", "--attention", "fp8"])
        XCTAssertNotEqual(serve, 0)
        XCTAssertTrue(serveErr.contains("--attention fp8 runs on a Hopper GPU"), serveErr)
        XCTAssertFalse(serveErr.contains("http://127.0.0.1"), "must refuse before serving: \(serveErr)")
        let (bad, badErr, _) = try run(base + ["--device", "cpu", "--attention", "fp4"])
        XCTAssertNotEqual(bad, 0)
        XCTAssertTrue(badErr.contains("attention"), badErr)
        // `auto`, the default, applies anywhere: fp8 only with fp8 weights on a GPU that has the kernel.
        XCTAssertEqual(try run(base + ["--device", "cpu", "--attention", "auto"]).0, 0)
        XCTAssertEqual([AttentionPrecision.auto.usesFP8(precision: .fp8, kernelAvailable: true),
                        AttentionPrecision.auto.usesFP8(precision: .bf16, kernelAvailable: true),
                        AttentionPrecision.auto.usesFP8(precision: .fp8, kernelAvailable: false),
                        AttentionPrecision.bf16.usesFP8(precision: .fp8, kernelAvailable: true),
                        AttentionPrecision.fp8.usesFP8(precision: .bf16, kernelAvailable: true)],
                       [true, false, false, false, true])
        let (auto, autoErr, folder) = try run(base + ["--device", "auto", "--attention", "fp8"])
        if autoErr.contains("on cpu") || !autoErr.contains("cuda") {
            XCTAssertEqual(auto, 0, autoErr)
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/out.png"), autoErr)
            XCTAssertTrue(autoErr.contains("--attention fp8 ignored"), autoErr)
        }
    }
}
