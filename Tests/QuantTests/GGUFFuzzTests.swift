import Foundation
import XCTest
import Quant
import Tensor

/// Mutated GGUF files, in the manner of SafeTensorsFuzzTests: each must either be refused with a
/// TensorError naming the file, or open with every tensor inside the file, and then every tensor
/// reads (dequantizes) in full or is refused by type, without a crash or a read out of bounds.
final class GGUFFuzzTests: XCTestCase {
    /// A small file of every readable type, written by our writer (the Python-written fixture is
    /// fuzzed below as well).
    func smallFile() throws -> [UInt8] {
        let dir = NSTemporaryDirectory() + "/majicflux-gguf-fuzz-src-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/s.gguf"
        let types: [GGMLType] = [.f32, .f16, .q8_0, .q4_K, .q6_K]
        let entries = types.map { GGUFWriter.Entry(name: "t.\($0.name)", type: $0, shape: [1, 256]) }
        let w = try GGUFWriter(path: path, metadata: [("general.architecture", .string("flux")),
                                                      ("list", .array(GGUFArray([.string("ab"), .string("c")], elementType: .string)))],
                               entries: entries)
        var rng = SplitMix(seed: 3)
        for e in entries {
            var b = (0..<(e.byteCount ?? 0)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            for i in stride(from: 1, to: b.count, by: 2) { b[i] &= 0x3B }
            try b.withUnsafeBytes { try w.append($0, named: e.name) }
        }
        try w.finish()
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// One mutation of the header part (`headerEnd` bytes) of `original`.
    func mutate(_ original: [UInt8], headerEnd: Int, _ rng: inout SplitMix) -> [UInt8] {
        var b = original
        let headerEnd = min(headerEnd, b.count)
        guard headerEnd > 8 else { return b }
        switch rng.below(6) {
        case 0:  // flip random bytes in the header
            for _ in 0...rng.below(4) { b[rng.below(headerEnd)] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
        case 1:  // a random u64 somewhere in the header (a count, length, dimension or offset)
            let at = rng.below(headerEnd - 8)
            let v: UInt64 = [0, 1, 31, 32, 255, 1 << 31, 1 << 40, UInt64.max, UInt64.max / 2, rng.next()][rng.below(10)]
            withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { b[at + i] = $0[i] } }
        case 2:  // a random u32 (a type, a dimension count, the version)
            let at = rng.below(headerEnd - 4)
            let v: UInt32 = [0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 16, 30, 99, UInt32.max][rng.below(14)]
            withUnsafeBytes(of: v.littleEndian) { for i in 0..<4 { b[at + i] = $0[i] } }
        case 3:  // truncate anywhere
            b = Array(b.prefix(rng.below(b.count)))
        case 4:  // delete or insert bytes in the header
            let at = rng.below(headerEnd)
            if rng.below(2) == 0 { b.removeSubrange(at..<min(b.count, at + 1 + rng.below(8))) } else {
                b.insert(contentsOf: (0...rng.below(8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            }
        default:  // several of the above
            b = mutate(mutate(b, headerEnd: headerEnd, &rng), headerEnd: headerEnd, &rng)
        }
        return b
    }

    func fuzz(_ original: [UInt8], iterations: Int, seed: UInt64, label: String) throws -> (opened: Int, rejected: Int) {
        let headerEnd = try {
            let dir = NSTemporaryDirectory() + "/majicflux-gguf-h-\(UUID().uuidString).gguf"
            try Data(original).write(to: URL(fileURLWithPath: dir))
            defer { unlink(dir) }
            return try GGUFFile(path: dir).header.dataStart
        }()
        let dir = FileManager.default.fileExists(atPath: "/dev/shm")
            ? "/dev/shm/majicflux-gguf-fuzz-\(UUID().uuidString)" : NSTemporaryDirectory() + "/majicflux-gguf-fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix(seed: seed)
        var opened = 0, rejected = 0, readsRefused = 0
        for iteration in 0..<iterations {
            let bytes = mutate(original, headerEnd: headerEnd, &rng)
            let path = dir + "/m\(iteration).gguf"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            defer { unlink(path) }
            do {
                let f = try GGUFFile(path: path)
                var ranges: [Range<Int>] = []
                for info in f.tensorInfos {
                    let start = f.fileOffset(of: info)
                    XCTAssertLessThanOrEqual(start + info.byteCount, bytes.count, "\(label) m\(iteration) \(info.name)")
                    if info.byteCount > 0 { ranges.append(start..<(start + info.byteCount)) }
                    do {
                        let t = try f.tensor(named: info.name)
                        XCTAssertEqual(t.shape, info.shape)
                        if t.dtype.isFloatingPoint { XCTAssertEqual(t.to(.f32).floats().count, info.count) }
                    } catch let e as TensorError {
                        readsRefused += 1
                        XCTAssertTrue("\(e)".contains("m\(iteration).gguf"), "\(e)")
                    }
                }
                ranges.sort { $0.lowerBound < $1.lowerBound }
                for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertLessThanOrEqual(a.upperBound, b.lowerBound, "\(label) m\(iteration) overlap") }
                opened += 1
            } catch let e as TensorError {
                rejected += 1
                XCTAssertTrue("\(e)".contains("m\(iteration).gguf"), "\(e)")
            }
        }
        print("GGUF fuzz (\(label)): \(opened) mutated files opened and read (\(readsRefused) tensors refused by type), \(rejected) rejected")
        return (opened, rejected)
    }

    func testMutatedFilesNeverCrashOrReadOutOfBounds() throws {
        let small = try fuzz(try smallFile(), iterations: 6000, seed: 0x6609_0F, label: "writer file")
        XCTAssertGreaterThan(small.opened, 150, "some mutations keep the file valid (reads exercised)")
        XCTAssertGreaterThan(small.rejected, 3000, "most mutations are caught")
        let python = [UInt8](try Data(contentsOf: URL(fileURLWithPath: GGUFBlockTests.blocksPath)))
        let big = try fuzz(python, iterations: 1000, seed: 0x6609_1F, label: "gguf-py file")
        XCTAssertGreaterThan(big.opened, 20)
        XCTAssertGreaterThan(big.rejected, 400)
    }
}
