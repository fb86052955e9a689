import Foundation
import XCTest
import Models
import Tensor

/// A private copy of the tiny FLUX.1-dev style folder (Fixtures/tiny-flux) that a test may break:
/// edit config values as JSON text, rewrite safetensors headers, replace files by FIFOs.
final class TinyModelCopy {
    static let source = Bundle.module.resourcePath! + "/Fixtures/tiny-flux"
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.path + "/majicflux-tiny-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Self.source, toPath: dir)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func path(_ relative: String) -> String { dir + "/" + relative }

    func text(_ relative: String) throws -> String { try String(contentsOfFile: path(relative), encoding: .utf8) }

    func write(_ relative: String, _ text: String) throws {
        try text.write(toFile: path(relative), atomically: true, encoding: .utf8)
    }

    /// `original` with the value of top-level `key` replaced by the JSON text `literal` (the key is
    /// added when absent). Values are numbers, strings, null or flat arrays, as in these configs.
    static func setting(_ key: String, to literal: String, in original: String) -> String {
        let pattern = "(\"\(NSRegularExpression.escapedPattern(for: key))\"\\s*:\\s*)(\\[[^\\]]*\\]|\"[^\"]*\"|[-+0-9.eE]+|null|true|false)"
        let regex = try! NSRegularExpression(pattern: pattern)
        let range = NSRange(original.startIndex..., in: original)
        if regex.firstMatch(in: original, range: range) != nil {
            return regex.stringByReplacingMatches(in: original, range: range, withTemplate: "$1" + NSRegularExpression.escapedTemplate(for: literal))
        }
        let brace = original.firstIndex(of: "{")!
        return original.replacingCharacters(in: brace...brace, with: "{\"\(key)\": \(literal),")
    }

    /// Sets `key` of the JSON file `relative` to `literal`.
    func set(_ key: String, to literal: String, in relative: String) throws {
        try write(relative, Self.setting(key, to: literal, in: try text(relative)))
    }

    /// Rewrites the header of the safetensors file `relative` (data bytes unchanged).
    func editHeader(_ relative: String, _ edit: (inout [String: Any]) -> Void) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(relative))))
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        var header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
        edit(&header)
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header))
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        let prefix = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * UInt64($0))) }
        try Data(prefix + json + bytes[(8 + n)...]).write(to: URL(fileURLWithPath: path(relative)))
    }

    /// Replaces the file `relative` by a FIFO of the same name.
    func replaceByFIFO(_ relative: String) throws {
        try FileManager.default.removeItem(atPath: path(relative))
        XCTAssertEqual(mkfifo(path(relative), 0o600), 0)
    }

    /// Every stage of a 1-step 32x32 generation, as `majicflux generate` runs them: the memory
    /// estimate (reads the T5 and DiT configs and headers), the pipeline (scheduler and tokenizer
    /// configs), then CLIP, T5, DiT and VAE.
    func generate(_ pipeline: FluxPipeline? = nil) throws -> GeneratedImage {
        let files = try FluxModelFiles.resolve(modelDir: dir)
        _ = try files.estimateMemory(precision: .bf16, request: MemoryRequest(width: 32, height: 32, sequenceLength: 16))
        var request = GenerationRequest(prompt: "a red circle", seed: 3, steps: 1, width: 32, height: 32)
        request.maxSequenceLength = 16
        return try (pipeline ?? FluxPipeline(files: files)).generate(request)
    }
}

/// A result handed from another thread.
// unchecked: `result` is written by that thread before it signals the semaphore and read only after the wait returns.
final class ResultBox<T>: @unchecked Sendable { var result: Result<T, Error>? }

/// A non-Sendable value handed to another thread.
// unchecked: the handing thread waits for the receiving one (or gives up on it) and does not touch the value meanwhile.
struct UncheckedTransfer<T>: @unchecked Sendable { let value: T }

/// Runs `body` on another thread and fails when it does not return within `seconds` (a hang);
/// returns what it returned or threw.
func withDeadline<T>(_ seconds: Double, _ label: String, file: StaticString = #filePath, line: UInt = #line,
                     _ body: @escaping () throws -> T) -> Result<T, Error>? {
    let box = ResultBox<T>(), done = DispatchSemaphore(value: 0), work = UncheckedTransfer(value: body)
    DispatchQueue.global().async {
        box.result = Result { try work.value() }
        done.signal()
    }
    if done.wait(timeout: .now() + seconds) == .timedOut {
        XCTFail("\(label): still running after \(seconds) s (a hang)", file: file, line: line)
        return nil
    }
    return box.result
}
