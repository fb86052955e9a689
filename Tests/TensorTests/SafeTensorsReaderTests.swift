import Foundation
import XCTest
import Tensor

/// Folder of the committed safetensors fixtures (written by Tools/make_safetensors_fixtures.py).
func safetensorsFixtures() -> String {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path + "/safetensors"
}

/// A fresh empty folder under the temporary directory.
func makeTemporaryFolder(_ label: String) -> String {
    let dir = FileManager.default.temporaryDirectory.path + "/majicflux-\(label)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Expected tensors as written by the fixture script: name -> (dtype, shape, bytes, values).
struct ExpectedTensor {
    let dtype: String
    let shape: [Int]
    let bytes: [UInt8]
    /// Floats (NaN for "nan", infinities for "inf"/"-inf") or integers as Double.
    let values: [Double]
}

/// Reads an `*.expected.json` with Foundation's JSONSerialization (independent of our parser).
func loadExpected(_ path: String) -> [String: ExpectedTensor] {
    let data = FileManager.default.contents(atPath: path)!
    let root = try! JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
    return root.mapValues { e in
        let hex = Array((e["hex"] as! String).utf8)
        let bytes = stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
        let values: [Double] = (e["values"] as! [Any]).map { v in
            if let s = v as? String { return s == "nan" ? .nan : (s == "inf" ? .infinity : -.infinity) }
            return (v as! NSNumber).doubleValue
        }
        return ExpectedTensor(dtype: e["dtype"] as! String, shape: e["shape"] as! [Int], bytes: bytes, values: values)
    }
}

/// Asserts that `t` matches `e` bit for bit and, decoded, value for value (exact; NaN matches NaN).
func assertMatches(_ t: Tensor, _ e: ExpectedTensor, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(t.dtype.safetensorsName, e.dtype, name, file: file, line: line)
    XCTAssertEqual(t.shape, e.shape, name, file: file, line: line)
    XCTAssertEqual(t.hostBytes(), e.bytes, "raw bytes of \(name)", file: file, line: line)
    if t.dtype.isFloatingPoint {
        let got = t.floats()
        XCTAssertEqual(got.count, e.values.count, name, file: file, line: line)
        // Every expected value is an f32 value printed exactly by Python; Foundation's Linux JSON number
        // parsing is not always correctly rounded to Double, so compare after rounding to Float (the raw
        // bytes above are compared exactly anyway).
        for (i, (g, w)) in zip(got, e.values).enumerated() where !(g.isNaN && w.isNaN) && g != Float(w) {
            XCTFail("\(name)[\(i)] = \(g), expected \(w)", file: file, line: line)
        }
    } else if t.dtype == .i64 {
        // Compare i64 through the raw bytes: Double cannot hold every Int64.
        let got = t.hostBytes().withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
        XCTAssertEqual(got.map { Double($0) }, e.values, name, file: file, line: line)
    } else {
        XCTAssertEqual(t.integers().map { Double($0) }, e.values, name, file: file, line: line)
    }
}

final class SafeTensorsReaderTests: XCTestCase {
    func testReadsEveryDTypeWrittenByPythonExactly() throws {
        let dir = safetensorsFixtures()
        let file = try SafeTensorsFile(path: dir + "/all_dtypes.safetensors")
        let expected = loadExpected(dir + "/all_dtypes.expected.json")
        XCTAssertEqual(Set(file.names), Set(expected.keys))
        XCTAssertEqual(Set(file.tensorInfos.map(\.dtype)), Set(DType.allCases), "fixture covers every dtype")
        for (name, e) in expected {
            assertMatches(try file.tensor(named: name), e, name)
        }
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "quote \" backslash \\ unicode \u{e9}\u{4e2d}\u{1F600}"])
    }

    func testNamesAreInFileOrderAndRangesTileTheDataSection() throws {
        let file = try SafeTensorsFile(path: safetensorsFixtures() + "/all_dtypes.safetensors")
        var end = 0
        for info in file.tensorInfos {
            XCTAssertEqual(info.dataOffsets.lowerBound, end, info.name)
            XCTAssertEqual(info.byteCount, info.count * info.dtype.byteSize)
            end = info.dataOffsets.upperBound
        }
        XCTAssertEqual(file.header.dataStart + end, file.mapping.byteCount)
        XCTAssertEqual(file.header.dataStart % 8, 0, "Python pads the header to a multiple of 8")
    }

    func testTensorsAreZeroCopyViewsThatKeepTheMappingAlive() throws {
        var file: SafeTensorsFile? = try SafeTensorsFile(path: safetensorsFixtures() + "/all_dtypes.safetensors")
        let t = try file!.tensor(named: "f32.randn")
        let base = UnsafeRawPointer(file!.mapping.base!)
        XCTAssertTrue(t.storage.owner === file!.mapping)
        XCTAssertEqual(UnsafeRawPointer(t.storage.pointer), base + file!.fileOffset(of: try file!.info(named: "f32.randn")))
        XCTAssertTrue(try file!.isZeroCopy("f32.randn"))
        XCTAssertEqual(t.device, .cpu)
        let before = t.floats()
        file = nil  // the tensor's storage still owns the mapping
        XCTAssertEqual(t.floats(), before)
        XCTAssertEqual(t.count, 24)
    }

    func testConvertedReadMatchesTorchConversion() throws {
        let dir = safetensorsFixtures()
        let file = try SafeTensorsFile(path: dir + "/all_dtypes.safetensors")
        let expected = loadExpected(dir + "/all_dtypes.expected.json")
        // Python stored randn in f32 and as torch's bf16/f16/e4m3 casts of it: our conversion must agree bit for bit.
        for (name, dtype) in [("bf16.randn", DType.bf16), ("f16.randn", .f16), ("f8_e4m3.randn", .f8e4m3fn)] {
            let t = try file.tensor(named: "f32.randn", as: dtype)
            XCTAssertEqual(t.dtype, dtype)
            XCTAssertEqual(t.hostBytes(), expected[name]!.bytes, name)
        }
        let up = try file.tensor(named: "bf16.randn", as: .f32)
        XCTAssertEqual(up.floats(), expected["bf16.randn"]!.values.map { Float($0) })
        let same = try file.tensor(named: "f32.randn", as: .f32)
        XCTAssertTrue(same.storage.owner === file.mapping, "no conversion needed: still the view")
    }

    func testShardedCheckpointThroughIndexAndFolder() throws {
        let dir = safetensorsFixtures()
        let expected = loadExpected(dir + "/sharded.expected.json")
        for path in [dir + "/sharded/model.safetensors.index.json", dir + "/sharded", dir + "/sharded/"] {
            let ckpt = try SafeTensorsCheckpoint(path: path)
            XCTAssertTrue(ckpt.isSharded)
            XCTAssertEqual(ckpt.names, expected.keys.sorted())
            XCTAssertEqual(ckpt.shardPaths.count, 2)
            XCTAssertEqual(ckpt.metadata["total_size"], .int(170))
            for (name, e) in expected { assertMatches(try ckpt.tensor(named: name), e, name) }
            XCTAssertEqual(try ckpt.tensor(named: "layer.0.weight", as: .f32).dtype, .f32)
            XCTAssertEqual(try ckpt.info(named: "positions").shape, [5])
            try ckpt.verify()
            XCTAssertFalse(ckpt.contains("nope"))
        }
    }

    func testShardsOpenLazily() throws {
        let ckpt = try SafeTensorsCheckpoint(path: safetensorsFixtures() + "/sharded")
        let first = try ckpt.file(containing: "layer.0.bias")
        XCTAssertTrue(first.path.hasSuffix("model-00001-of-00002.safetensors"))
        XCTAssertTrue(try ckpt.file(containing: "layer.1.weight") === first, "same shard object reused")
        XCTAssertFalse(try ckpt.file(containing: "positions") === first)
    }

    func testSingleFileCheckpointAndFolderWithOneFile() throws {
        let dir = safetensorsFixtures()
        let single = try SafeTensorsCheckpoint(path: dir + "/all_dtypes.safetensors")
        XCTAssertFalse(single.isSharded)
        XCTAssertEqual(single.metadata["format"], .string("pt"))
        XCTAssertEqual(try single.tensor(named: "i8.values").integers(), [0, 1, -1, 127, -128])

        let folder = makeTemporaryFolder("one-file")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: dir + "/all_dtypes.safetensors", toPath: folder + "/x.safetensors")
        let viaFolder = try SafeTensorsCheckpoint(path: folder)
        XCTAssertEqual(viaFolder.names, single.names)
    }

    func testUnalignedTensorIsReturnedAsAlignedCopy() throws {
        let dir = makeTemporaryFolder("unaligned")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/u.safetensors"
        // Declared order u8[3] then f32[2]: the f32 data start 3 bytes into the (8-aligned) data section.
        let w = try SafeTensorsWriter(path: path, entries: [.init(name: "b", dtype: .u8, shape: [3]),
                                                            .init(name: "f", dtype: .f32, shape: [2])])
        try w.append(Tensor(integers: [1, 2, 3], shape: [3], dtype: .u8), named: "b")
        try w.append(Tensor([1.5, -2.25], shape: [2]), named: "f")
        try w.finish()
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(try file.info(named: "f").dataOffsets, 3..<11)
        XCTAssertFalse(try file.isZeroCopy("f"))
        XCTAssertTrue(try file.isZeroCopy("b"))
        let f = try file.tensor(named: "f")
        XCTAssertNil(f.storage.owner, "a heap copy, not a view")
        XCTAssertEqual(Int(bitPattern: f.storage.pointer) % 4, 0)
        XCTAssertEqual(f.floats(), [1.5, -2.25])
        XCTAssertEqual(try file.tensor(named: "b").integers(), [1, 2, 3])
    }

    /// Opening must only map the file and parse the header. A 4 GiB sparse file (no data on disk)
    /// opens and yields views in well under the time reading 4 GiB would take.
    func testOpeningReadsNoTensorData() throws {
        let dir = makeTemporaryFolder("sparse")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/big.safetensors"
        let rows = 1 << 15, cols = 1 << 15   // 2^30 f32 = 4 GiB
        let header = SafeTensorsWriter.headerBytes([.init(name: "w", dtype: .f32, shape: [rows, cols])], metadata: [:])
        _ = FileManager.default.createFile(atPath: path, contents: Data(header))
        let handle = FileHandle(forWritingAtPath: path)!
        try handle.truncate(atOffset: UInt64(header.count + rows * cols * 4))
        try handle.close()

        let start = Date()
        let file = try SafeTensorsFile(path: path)
        let t = try file.tensor(named: "w")
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(t.shape, [rows, cols])
        XCTAssertTrue(t.storage.owner === file.mapping)
        XCTAssertLessThan(elapsed, 0.25, "open + view of a 4 GiB file took \(elapsed) s")
        print("open + view of a 4 GiB sparse safetensors file: \(String(format: "%.3f", elapsed * 1000)) ms")
    }
}
