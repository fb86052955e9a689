import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest
import Tensor
import Quant

/// Where `QuantizeConverter.write(to:)` may write: never over its own input (by name, through a
/// symbolic or hard link, or a shard or index of a sharded input), never onto a folder, and a missing
/// or read-only folder is reported before any work. The input is left byte for byte as it was.
final class QuantizeOutputTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "quant-output-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        chmod(dir + "/readonly", 0o755)
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func writeInput(_ path: String) throws {
        let src = QuantizeConverterTests.miniFlux()
        try SafeTensorsWriter.write(try src.tensorNames.map { ($0, try src.tensor(named: $0)) }, metadata: src.metadataStrings, to: path)
    }

    private func converter(_ input: String) throws -> QuantizeConverter {
        try QuantizeConverter(source: try SafeTensorsCheckpoint(path: input), policy: .fluxDiT(format: .fp8e4m3fn, granularity: .tensor))
    }

    /// Asserts writing to `output` fails before any work with a message containing `reason`, and that
    /// no file in the folder changed.
    private func assertRefused(_ input: String, _ output: String, _ reason: String, line: UInt = #line) throws {
        let before = try snapshot()
        let c = try converter(input)
        var layers = 0
        XCTAssertThrowsError(try c.write(to: output) { _ in layers += 1 }, line: line) { e in
            XCTAssertTrue("\(e)".contains(output) && "\(e)".contains(reason), "\(e)", line: line)
        }
        XCTAssertEqual(layers, 0, "no layer was converted", line: line)
        XCTAssertEqual(try snapshot(), before, "files unchanged, no partial file", line: line)
    }

    /// Every file under the folder with its bytes.
    private func snapshot() throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.subpathsOfDirectory(atPath: dir) {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &isDir), !isDir.boolValue {
                out[name] = FileManager.default.contents(atPath: dir + "/" + name)
            }
        }
        return out
    }

    func testOutputThatIsTheInputIsRefused() throws {
        let input = dir + "/in.safetensors"
        try writeInput(input)
        try assertRefused(input, input, "is the input file")
        try assertRefused(input, dir + "/./in.safetensors", "is the input file")
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.safetensors", withDestinationPath: input)
        try assertRefused(input, dir + "/link.safetensors", "is the input file")
        XCTAssertEqual(link(input, dir + "/hard.safetensors"), 0)
        try assertRefused(input, dir + "/hard.safetensors", "is the input file")
        // Opened through a link, the input is still the same file.
        try assertRefused(dir + "/link.safetensors", input, "is the input file")
    }

    func testOutputThatIsAShardOrTheIndexOfTheInputIsRefused() throws {
        let shards = dir + "/sharded"
        try FileManager.default.createDirectory(atPath: shards, withIntermediateDirectories: true)
        try writeInput(shards + "/a.safetensors")
        let names = try SafeTensorsFile(path: shards + "/a.safetensors").names
        let map = Dictionary(uniqueKeysWithValues: names.map { ($0, "a.safetensors") })
        let index = shards + "/model.safetensors.index.json"
        try JSONSerialization.data(withJSONObject: ["weight_map": map]).write(to: URL(fileURLWithPath: index))
        try assertRefused(index, shards + "/a.safetensors", "is the input file")
        try assertRefused(index, index, "is the input file")
        try assertRefused(shards, shards + "/a.safetensors", "is the input file")
    }

    func testBadDestinationsAreFoundBeforeConverting() throws {
        let input = dir + "/in.safetensors"
        try writeInput(input)
        try FileManager.default.createDirectory(atPath: dir + "/folder.safetensors", withIntermediateDirectories: false)
        try assertRefused(input, dir + "/folder.safetensors", "is a folder")
        try assertRefused(input, dir + "/missing/out.safetensors", "does not exist")
        if getuid() != 0 {  // root may write anywhere
            try FileManager.default.createDirectory(atPath: dir + "/readonly", withIntermediateDirectories: false)
            chmod(dir + "/readonly", 0o555)
            try assertRefused(input, dir + "/readonly/out.safetensors", "cannot write")
        }
        // A good destination still works, and replaces an older output.
        let out = dir + "/out.safetensors"
        XCTAssertTrue(FileManager.default.createFile(atPath: out, contents: Data([1])))
        try converter(input).write(to: out)
        XCTAssertEqual(try QuantizedCheckpoint(path: out).source.metadataStrings[QuantKeys.formatMetadata], "fp8-e4m3fn")
    }
}
