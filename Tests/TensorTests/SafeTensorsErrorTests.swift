import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest
import Tensor

/// The kind of a TensorError, for assertions.
func errorKind(_ error: Error) -> String {
    guard let e = error as? TensorError else { return "not a TensorError: \(error)" }
    switch e {
    case .io: return "io"
    case .corrupt: return "corrupt"
    case .unknownDType: return "unknownDType"
    case .missingTensor: return "missingTensor"
    case .shapeMismatch: return "shapeMismatch"
    case .invalidArgument: return "invalidArgument"
    }
}

/// Asserts `body` throws a TensorError of `kind` whose message names `file` and contains `text`.
func assertThrows(_ kind: String, naming file: String, containing text: String = "",
                  _ body: () throws -> Void, line: UInt = #line) {
    do {
        try body()
        XCTFail("expected a \(kind) error", line: line)
    } catch {
        XCTAssertEqual(errorKind(error), kind, "\(error)", line: line)
        XCTAssertTrue("\(error)".contains(file), "message does not name \(file): \(error)", line: line)
        XCTAssertTrue(text.isEmpty || "\(error)".contains(text), "message lacks '\(text)': \(error)", line: line)
    }
}

/// An error handed from another thread.
// unchecked: `error` is written on the worker before it signals a semaphore and read only after the wait returns.
final class ErrorBox: @unchecked Sendable {
    var error: Error?
}

final class SafeTensorsErrorTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTemporaryFolder("st-errors") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Writes `bytes` to a file named `name` and returns its path.
    func file(_ name: String, _ bytes: [UInt8]) -> String {
        let path = dir + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// A file whose length prefix is `length` (default: the header's size), header `json`, then `data` zero bytes.
    func file(_ name: String, header json: String, length: UInt64? = nil, data: Int = 0) -> String {
        let h = Array(json.utf8)
        let n = length ?? UInt64(h.count)
        let prefix = (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) }
        return file(name, prefix + h + [UInt8](repeating: 0, count: data))
    }

    /// Asserts opening a one-tensor header fails with `kind`, naming the file.
    func assertBadHeader(_ json: String, _ kind: String = "corrupt", data: Int = 64, containing text: String = "", line: UInt = #line) {
        let path = file("bad-\(line).safetensors", header: json, data: data)
        assertThrows(kind, naming: "bad-\(line).safetensors", containing: text, { _ = try SafeTensorsFile(path: path) }, line: line)
    }

    func testShortAndEmptyFiles() {
        for n in [0, 1, 7] {
            let path = file("short\(n).safetensors", [UInt8](repeating: 0, count: n))
            assertThrows("corrupt", naming: "short\(n).safetensors", containing: "shorter than") { _ = try SafeTensorsFile(path: path) }
        }
    }

    /// Files of other formats read as safetensors say what they are (a PyTorch zip or pickle, GGUF, a
    /// picture, text) instead of "header length 578712552184433488": users took that for a broken
    /// download. Their first bytes as torch.save, pickle and gguf write them.
    func testOtherFormatsAreNamed() {
        let cases: [(String, [UInt8], String)] = [
            ("model.ckpt", [0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0x08, 0x08] + Array("archive/data.pkl".utf8), "PyTorch checkpoint"),
            ("old.pt", [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8], "Python pickle"),
            ("dit.safetensors", Array("GGUF".utf8) + [3, 0, 0, 0, 0, 0, 0, 0, 0, 0], "GGUF file"),
            ("page.safetensors", Array("<!DOCTYPE html><html>".utf8), "error page"),
            ("pic.safetensors", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13], "a picture"),
        ]
        for (name, bytes, text) in cases {
            let path = file(name, bytes)
            assertThrows("corrupt", naming: name, containing: "not a safetensors file: ") { _ = try SafeTensorsFile(path: path) }
            assertThrows("corrupt", naming: name, containing: text) { _ = try SafeTensorsFile(path: path) }
        }
    }

    func testAbsurdHeaderLengths() {
        let overFile = file("over.safetensors", header: "{}", length: 3)
        assertThrows("corrupt", naming: "over.safetensors", containing: "exceeds") { _ = try SafeTensorsFile(path: overFile) }
        for (i, n) in [UInt64(100_000_001), 1 << 40, UInt64.max].enumerated() {
            let path = file("huge\(i).safetensors", header: "{}", length: n)
            assertThrows("corrupt", naming: "huge\(i).safetensors", containing: "limit") { _ = try SafeTensorsFile(path: path) }
        }
        // A length shorter than the JSON cuts it: invalid JSON.
        let cut = file("cut.safetensors", header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, length: 10)
        assertThrows("corrupt", naming: "cut.safetensors", containing: "not valid JSON") { _ = try SafeTensorsFile(path: cut) }
    }

    func testHeaderNotJSONOrNotAnObject() {
        assertBadHeader("{abc", containing: "not valid JSON")
        assertBadHeader(#"{"a": 1,}"#, containing: "not valid JSON")
        assertBadHeader("\u{FF}{}", containing: "not valid JSON")
        assertBadHeader("[1, 2]", containing: "not a JSON object")
        assertBadHeader("\"text\"", containing: "not a JSON object")
        assertBadHeader(String(repeating: "[", count: 10_000), containing: "nesting")
    }

    func testWrongFieldTypes() {
        assertBadHeader(#"{"a": 5}"#, containing: "not an object")
        assertBadHeader(#"{"a": {"shape": [1], "data_offsets": [0, 4]}}"#, containing: "dtype")
        assertBadHeader(#"{"a": {"dtype": 5, "shape": [1], "data_offsets": [0, 4]}}"#, containing: "dtype")
        assertBadHeader(#"{"a": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}}"#, containing: "shape")
        assertBadHeader(#"{"a": {"dtype": "F32", "data_offsets": [0, 4]}}"#, containing: "shape")
        assertBadHeader(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": "0"}}"#, containing: "data_offsets")
        assertBadHeader(#"{"__metadata__": [1], "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}"#, containing: "__metadata__")
        assertBadHeader(#"{"__metadata__": {"k": 1}}"#, containing: "not a string")
    }

    func testUnknownDType() {
        for name in ["F64", "Q4_0", "f32", ""] {
            assertBadHeader(#"{"a": {"dtype": "\#(name)", "shape": [1], "data_offsets": [0, 4]}}"#, "unknownDType", containing: "'\(name)'")
        }
        // safetensors' own types this program does not read are named as such (they said "unknown").
        for name in ["F64", "I16"] {
            assertBadHeader(#"{"a": {"dtype": "\#(name)", "shape": [1], "data_offsets": [0, 8]}}"#, "unknownDType", containing: "is a safetensors type this program does not read")
        }
        assertBadHeader(#"{"a": {"dtype": "Q4_0", "shape": [1], "data_offsets": [0, 4]}}"#, "unknownDType", containing: "unknown dtype 'Q4_0'")
    }

    func testBadShapes() {
        for shape in ["[-1, 2]", "[1.5]", "[2.0]", "[1e1]", "[\"2\"]", "[null]", "[[2]]", "[99999999999999999999]",
                      "[4611686018427387904, 4]", "[3037000500, 3037000500, 2]"] {
            assertBadHeader(#"{"a": {"dtype": "F32", "shape": \#(shape), "data_offsets": [0, 4]}}"#, containing: "shape")
        }
    }

    func testBadDataOffsets() {
        func offsets(_ o: String) -> String { #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": \#(o)}}"# }
        assertBadHeader(offsets("[0]"), containing: "two integers")
        assertBadHeader(offsets("[0, 8, 16]"), containing: "two integers")
        assertBadHeader(offsets("[0, 8.0]"), containing: "two integers")
        assertBadHeader(offsets("[8, 0]"), containing: "ascending")
        assertBadHeader(offsets("[-8, 0]"), containing: "ascending")
        assertBadHeader(offsets("[0, 8]"), data: 7, containing: "past the 7-byte data section")
        assertBadHeader(offsets("[60, 68]"), data: 64, containing: "past")
        assertBadHeader(offsets("[9223372036854775800, 9223372036854775807]"), containing: "past")
    }

    /// Two names for the same bytes, or ranges that cut into each other, are refused (the reference
    /// implementation refuses them too); adjacent ranges and zero-byte tensors are fine.
    func testOverlappingOrAliasedDataOffsets() throws {
        func two(_ b: String) -> String {
            #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": \#(b)}"#
        }
        assertBadHeader(two(#"{"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}"#), containing: "are the same bytes")
        assertBadHeader(two(#"{"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}"#), containing: "'a'")
        assertBadHeader(two(#"{"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}"#), containing: "overlap")
        assertBadHeader(two(#"{"dtype": "U8", "shape": [8], "data_offsets": [4, 12]}"#), containing: "overlap")
        assertBadHeader(two(#"{"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}"#), containing: "overlap")
        // A range inside an earlier, longer one that a shorter one sits between.
        assertBadHeader(#"{"a": {"dtype": "U8", "shape": [16], "data_offsets": [0, 16]}, "b": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}, "c": {"dtype": "U8", "shape": [2], "data_offsets": [8, 10]}}"#,
                        containing: "overlap")
        let ok = file("adjacent.safetensors", header: two(#"{"dtype": "U8", "shape": [4], "data_offsets": [8, 12]}, "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}"#), data: 12)
        XCTAssertEqual(try SafeTensorsFile(path: ok).names, ["a", "e", "b"])
    }

    /// A FIFO (or other non-regular file) given as a checkpoint is refused at once: opening one for
    /// reading would block until some process writes to it.
    func testFIFOIsRefusedWithoutBlocking() throws {
        let fifo = dir + "/pipe.safetensors"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let index = dir + "/pipe.safetensors.index.json"
        XCTAssertEqual(mkfifo(index, 0o600), 0)
        let opens: [(String, @Sendable () throws -> Void)] = [
            (fifo, { @Sendable in _ = try SafeTensorsFile(path: fifo) }),
            (fifo, { @Sendable in _ = try SafeTensorsCheckpoint(path: fifo) }),
            (index, { @Sendable in _ = try SafeTensorsCheckpoint(path: index) })]
        for (path, open) in opens {
            let done = DispatchSemaphore(value: 0)
            let box = ErrorBox()
            DispatchQueue.global().async {
                do { try open() } catch { box.error = error }
                done.signal()
            }
            if done.wait(timeout: .now() + 5) == .timedOut {
                // Unblock the reader so the process can go on: a writer that opens and closes.
                let w = Glibc.open(path, O_WRONLY | O_NONBLOCK)
                if w >= 0 { close(w) }
                _ = done.wait(timeout: .now() + 5)
                XCTFail("opening the FIFO \(path) blocked")
                continue
            }
            let message = box.error.map { "\($0)" } ?? "no error"
            XCTAssertEqual(box.error.map(errorKind), "io", message)
            XCTAssertTrue(message.contains("a FIFO") && message.contains(path), message)
        }
    }

    func testByteSizeDisagreesWithShape() {
        assertBadHeader(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}"#, containing: "needs 8")
        assertBadHeader(#"{"a": {"dtype": "BF16", "shape": [], "data_offsets": [0, 4]}}"#, containing: "needs 2")
        assertBadHeader(#"{"a": {"dtype": "I64", "shape": [0], "data_offsets": [0, 8]}}"#, containing: "needs 0")
    }

    func testTruncatedFile() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: safetensorsFixtures() + "/all_dtypes.safetensors"))
        let path = file("truncated.safetensors", Array(original.dropLast(5)))
        assertThrows("corrupt", naming: "truncated.safetensors", containing: "truncated") { _ = try SafeTensorsFile(path: path) }
    }

    func testMissingFilesAndNames() throws {
        assertThrows("io", naming: "nothere.safetensors") { _ = try SafeTensorsFile(path: self.dir + "/nothere.safetensors") }
        assertThrows("io", naming: dir, containing: "not a regular file") { _ = try SafeTensorsFile(path: self.dir) }
        let st = try SafeTensorsFile(path: safetensorsFixtures() + "/all_dtypes.safetensors")
        assertThrows("missingTensor", naming: "all_dtypes.safetensors", containing: "'nope'") { _ = try st.tensor(named: "nope") }
        assertThrows("missingTensor", naming: "all_dtypes.safetensors") { _ = try st.tensor(named: "nope", as: .f32) }
    }

    /// Copies the 2-shard fixture into the temporary folder, optionally replacing the index text.
    func shardedCopy(index: String? = nil, dropping shard: String? = nil) throws -> String {
        let src = safetensorsFixtures() + "/sharded"
        for name in try FileManager.default.contentsOfDirectory(atPath: src) where name != shard {
            try FileManager.default.copyItem(atPath: src + "/" + name, toPath: dir + "/" + name)
        }
        if let index { _ = FileManager.default.createFile(atPath: dir + "/model.safetensors.index.json", contents: Data(index.utf8)) }
        return dir + "/model.safetensors.index.json"
    }

    func testMissingShardFile() throws {
        let index = try shardedCopy(dropping: "model-00002-of-00002.safetensors")
        assertThrows("io", naming: "model-00002-of-00002.safetensors", containing: "does not exist") {
            _ = try SafeTensorsCheckpoint(path: index)
        }
    }

    func testNameMappedToShardThatLacksIt() throws {
        let index = try shardedCopy(index: #"""
            {"weight_map": {"layer.0.bias": "model-00001-of-00002.safetensors",
                            "ghost": "model-00002-of-00002.safetensors"}}
            """#)
        let ckpt = try SafeTensorsCheckpoint(path: index)
        XCTAssertEqual(try ckpt.tensor(named: "layer.0.bias").shape, [8])
        assertThrows("corrupt", naming: "model.safetensors.index.json", containing: "'ghost'") { _ = try ckpt.tensor(named: "ghost") }
        assertThrows("corrupt", naming: "model.safetensors.index.json", containing: "'ghost'") { try ckpt.verify() }
        assertThrows("missingTensor", naming: "model.safetensors.index.json", containing: "'layer.1.bias'") {
            _ = try ckpt.tensor(named: "layer.1.bias")
        }
    }

    func testMalformedIndexes() throws {
        for (i, text) in ["{", "[]", #"{"metadata": {}}"#, #"{"weight_map": []}"#, #"{"weight_map": {"a": 3}}"#,
                          #"{"weight_map": {"a": "/etc/passwd"}}"#, #"{"weight_map": {}, "metadata": 3}"#].enumerated() {
            let path = dir + "/bad\(i).safetensors.index.json"
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            assertThrows("corrupt", naming: "bad\(i).safetensors.index.json") { _ = try SafeTensorsCheckpoint(path: path) }
        }
    }

    func testAmbiguousOrEmptyFolders() throws {
        assertThrows("io", naming: dir, containing: "no .safetensors") { _ = try SafeTensorsCheckpoint(path: self.dir) }
        for name in ["a.safetensors", "b.safetensors"] {
            try FileManager.default.copyItem(atPath: safetensorsFixtures() + "/all_dtypes.safetensors", toPath: dir + "/" + name)
        }
        assertThrows("io", naming: dir, containing: "several .safetensors") { _ = try SafeTensorsCheckpoint(path: self.dir) }
        for name in ["a.safetensors.index.json", "b.safetensors.index.json"] {
            _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(#"{"weight_map": {}}"#.utf8))
        }
        assertThrows("io", naming: dir, containing: "several indexes") { _ = try SafeTensorsCheckpoint(path: self.dir) }
        assertThrows("io", naming: "missing-folder") { _ = try SafeTensorsCheckpoint(path: self.dir + "/missing-folder") }
    }
}
