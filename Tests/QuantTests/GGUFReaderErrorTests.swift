import Foundation
import XCTest
import Quant
import Tensor

/// Hand-built GGUF bytes, so a test can write any count, length, type or offset, true or not.
struct GGUFBytes {
    var bytes: [UInt8] = Array("GGUF".utf8)
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String, length: UInt64? = nil) { u64(length ?? UInt64(s.utf8.count)); bytes += s.utf8 }
    /// A tensor info: name, dimensions (ggml order), type, offset.
    mutating func tensor(_ name: String, _ dims: [UInt64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(dims.count))
        for d in dims { u64(d) }
        u32(type)
        u64(offset)
    }
    mutating func pad(to alignment: Int = 32) { bytes += [UInt8](repeating: 0, count: (alignment - bytes.count % alignment) % alignment) }

    /// A valid file: version 3, one metadata string, tensors "a" (F32 [8]) and "b" (Q8_0 [32, 2]).
    static func valid() -> GGUFBytes {
        var g = GGUFBytes()
        g.u32(3); g.u64(2); g.u64(1)
        g.string("general.architecture"); g.u32(8); g.string("flux")
        g.tensor("a", [8], type: 0, offset: 0)
        g.tensor("b", [32, 2], type: 8, offset: 32)
        g.pad()
        g.bytes += (0..<8).flatMap { i in withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { Array($0) } }
        g.pad()
        for _ in 0..<2 { g.bytes += [0x00, 0x3C] + (0..<32).map { UInt8($0) } }  // d = 1.0, q = 0...31
        return g
    }
}

final class GGUFReaderErrorTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/majicflux-gguf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ bytes: [UInt8], _ name: String = "t.gguf") throws -> String {
        let p = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// Opening `bytes` fails with a TensorError naming the file and containing `words`.
    func assertRefused(_ bytes: [UInt8], _ words: String, line: UInt = #line) throws {
        let p = try write(bytes, "case\(line).gguf")
        XCTAssertThrowsError(try GGUFFile(path: p), line: line) { e in
            XCTAssertTrue(e is TensorError, "\(e)", line: line)
            XCTAssertTrue("\(e)".contains("case\(line).gguf"), "names the file: \(e)", line: line)
            XCTAssertTrue("\(e)".contains(words), "'\(words)' in: \(e)", line: line)
        }
    }

    func testValidHandBuiltFileReads() throws {
        let f = try GGUFFile(path: try write(GGUFBytes.valid().bytes))
        XCTAssertEqual(f.architecture, "flux")
        XCTAssertEqual(try f.tensor(named: "a").floats(), (0..<8).map(Float.init))
        XCTAssertEqual(try f.tensor(named: "b").shape, [2, 32])
        XCTAssertEqual(try f.tensor(named: "b").floats(), (0..<64).map { Float($0 % 32) })
    }

    func testCorruptFilesGiveClearErrors() throws {
        let good = GGUFBytes.valid().bytes
        try assertRefused([], "too short")
        try assertRefused(Array("GGML".utf8) + good.dropFirst(4), "not a GGUF file")
        var v1 = GGUFBytes(); v1.u32(1); v1.u64(0); v1.u64(0)
        try assertRefused(v1.bytes, "version 1")
        var be = GGUFBytes(); be.u32(0x0300_0000); be.u64(0); be.u64(0)
        try assertRefused(be.bytes, "big-endian")
        for cut in [5, 12, 30, 60, 100] { try assertRefused(Array(good.prefix(cut)), "truncated") }
        // Data cut off: the header is whole, the second tensor's bytes are not.
        try assertRefused(Array(good.prefix(good.count - 10)), "extends past")

        var lyingCount = GGUFBytes(); lyingCount.u32(3); lyingCount.u64(1 << 60); lyingCount.u64(0)
        try assertRefused(lyingCount.bytes, "tensor count")
        var lyingKV = GGUFBytes(); lyingKV.u32(3); lyingKV.u64(0); lyingKV.u64(UInt64.max)
        try assertRefused(lyingKV.bytes, "metadata count")
        var lyingString = GGUFBytes(); lyingString.u32(3); lyingString.u64(0); lyingString.u64(1)
        lyingString.string("general.name", length: 1 << 62)
        try assertRefused(lyingString.bytes, "claims")
        var lyingArray = GGUFBytes(); lyingArray.u32(3); lyingArray.u64(0); lyingArray.u64(1)
        lyingArray.string("tokens"); lyingArray.u32(9); lyingArray.u32(8); lyingArray.u64(1 << 40)
        try assertRefused(lyingArray.bytes + [UInt8](repeating: 0, count: 64), "element count")
        var badValueType = GGUFBytes(); badValueType.u32(3); badValueType.u64(0); badValueType.u64(1)
        badValueType.string("k"); badValueType.u32(13)
        try assertRefused(badValueType.bytes + [0, 0, 0, 0], "unknown value type 13")
        var badUTF8 = GGUFBytes(); badUTF8.u32(3); badUTF8.u64(0); badUTF8.u64(1)
        badUTF8.u64(2); badUTF8.bytes += [0xC3, 0x28]; badUTF8.u32(4); badUTF8.u32(0)
        try assertRefused(badUTF8.bytes, "UTF-8")
        var twice = GGUFBytes(); twice.u32(3); twice.u64(0); twice.u64(2)
        for _ in 0..<2 { twice.string("k"); twice.u32(4); twice.u32(1) }
        try assertRefused(twice.bytes, "appears twice")
        var deep = GGUFBytes(); deep.u32(3); deep.u64(0); deep.u64(1); deep.string("k"); deep.u32(9)
        for _ in 0..<6 { deep.u32(9); deep.u64(1) }
        try assertRefused(deep.bytes + [UInt8](repeating: 0, count: 64), "nested")

        func file(alignment: UInt32? = nil, _ tensors: (inout GGUFBytes) -> Void, count: UInt64, data: Int = 256) -> [UInt8] {
            var g = GGUFBytes(); g.u32(3); g.u64(count); g.u64(alignment == nil ? 0 : 1)
            if let a = alignment { g.string("general.alignment"); g.u32(4); g.u32(a) }
            tensors(&g)
            g.pad(to: Int(alignment.map { $0 & ($0 &- 1) == 0 && $0 > 0 ? $0 : 32 } ?? 32))
            return g.bytes + [UInt8](repeating: 0, count: data)
        }
        try assertRefused(file({ $0.tensor("x", [32], type: 99, offset: 0) }, count: 1), "unknown ggml tensor type 99")
        try assertRefused(file({ $0.tensor("x", [30], type: 8, offset: 0) }, count: 1), "not whole Q8_0 blocks")
        try assertRefused(file({ $0.tensor("x", [1 << 40, 1 << 40], type: 0, offset: 0) }, count: 1), "too many")
        try assertRefused(file({ $0.tensor("x", [1, 1, 1, 1, 1], type: 0, offset: 0) }, count: 1), "5 dimensions")
        try assertRefused(file({ $0.tensor("x", [UInt64.max], type: 0, offset: 0) }, count: 1), "out of range")
        try assertRefused(file({ $0.tensor("x", [8], type: 0, offset: 4) }, count: 1), "not a multiple of the alignment")
        try assertRefused(file({ $0.tensor("x", [8], type: 0, offset: 1 << 40) }, count: 1), "extends past")
        try assertRefused(file({ $0.tensor("x", [64], type: 0, offset: 0); $0.tensor("y", [8], type: 0, offset: 32) }, count: 2), "overlap")
        try assertRefused(file({ $0.tensor("x", [8], type: 0, offset: 0); $0.tensor("x", [8], type: 0, offset: 32) }, count: 2), "appears twice")
        try assertRefused(file(alignment: 48, { $0.tensor("x", [8], type: 0, offset: 0) }, count: 1), "power of two")
        try assertRefused(file(alignment: 0, { $0.tensor("x", [8], type: 0, offset: 0) }, count: 1), "power of two")

        // A known type this library cannot read opens, and reading names the type.
        let iq = try write(file({ $0.tensor("x", [256], type: 16, offset: 0) }, count: 1), "iq.gguf")
        let f = try GGUFFile(path: iq)
        XCTAssertThrowsError(try f.tensor(named: "x")) { XCTAssertTrue("\($0)".contains("IQ2_XXS") && "\($0)".contains("iq.gguf"), "\($0)") }
        // Alignment from general.alignment is honoured.
        let aligned = try GGUFFile(path: try write(file(alignment: 64, { $0.tensor("x", [8], type: 0, offset: 64) }, count: 1), "a64.gguf"))
        XCTAssertEqual(aligned.header.alignment, 64)
        XCTAssertEqual(aligned.header.dataStart % 64, 0)
    }

    /// Writes metadata of every value type (arrays, nested arrays, empty strings) with GGUFWriter and
    /// reads it back unchanged.
    func testWriterMetadataRoundTrip() throws {
        let values: [(String, GGUFValue)] = [
            ("general.architecture", .string("flux")), ("u8", .uint8(200)), ("i8", .int8(-5)), ("u16", .uint16(65000)),
            ("i16", .int16(-30000)), ("u32", .uint32(4_000_000_000)), ("i32", .int32(-2_000_000_000)),
            ("f32", .float32(1.5)), ("bool", .bool(true)), ("empty", .string("")), ("utf8", .string("一只红色的圆")),
            ("u64", .uint64(UInt64.max)), ("i64", .int64(Int64.min)), ("f64", .float64(-2.25)),
            ("ints", .array(GGUFArray([.int32(1), .int32(-2), .int32(3)], elementType: .int32))),
            ("strings", .array(GGUFArray([.string("a"), .string(""), .string("ccc")], elementType: .string))),
            ("nested", .array(GGUFArray([.array(GGUFArray([.uint8(1)], elementType: .uint8)),
                                         .array(GGUFArray([], elementType: .uint8))], elementType: .array))),
            ("general.alignment", .uint32(64)),
        ]
        let path = dir + "/meta.gguf"
        let w = try GGUFWriter(path: path, metadata: values, entries: [.init(name: "t", type: .q8_0, shape: [2, 64])])
        var blocks = [UInt8](repeating: 0, count: 4 * 34)
        for b in 0..<4 { blocks[b * 34 + 1] = 0x3C; for j in 0..<32 { blocks[b * 34 + 2 + j] = UInt8(bitPattern: Int8(j - 16)) } }
        try blocks.withUnsafeBytes { try w.append($0, named: "t") }
        try w.finish()
        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.header.metadata.map(\.key), values.map(\.0))
        for (k, v) in values { XCTAssertEqual(f.metadata(k), v, k) }
        XCTAssertEqual(f.header.alignment, 64)
        XCTAssertEqual(try f.tensor(named: "t").floats(), (0..<128).map { Float($0 % 32 - 16) })
        XCTAssertEqual(f.metadata("strings")?.array?.strings, ["a", "", "ccc"])
        XCTAssertEqual(f.metadata("ints")?.array?.integers, [1, -2, 3])
        // Unfinished writers leave no file.
        let partial = dir + "/partial.gguf"
        do {
            let w2 = try GGUFWriter(path: partial, metadata: [], entries: [.init(name: "t", type: .f32, shape: [4])])
            XCTAssertThrowsError(try w2.finish())
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial))
        XCTAssertThrowsError(try GGUFWriter(path: dir + "/x.gguf", metadata: [], entries: [.init(name: "t", type: .q4_0, shape: [3, 40])]))
    }
}
