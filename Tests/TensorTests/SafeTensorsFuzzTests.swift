import Foundation
import XCTest
import Tensor

/// SplitMix64: a small deterministic generator so every run applies the same mutations.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

final class SafeTensorsFuzzTests: XCTestCase {
    /// Applies 3000 deterministic mutations to the header and length prefix of a real fixture. Each
    /// mutated file must either fail to open with a TensorError, or open and let every tensor be read
    /// in full (a checksum over every byte and a decode of every float) without leaving the file.
    func testMutatedHeadersNeverCrashOrReadOutOfBounds() throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: safetensorsFixtures() + "/all_dtypes.safetensors")))
        let headerEnd = 8 + (0..<8).reduce(0) { $0 | Int(original[$1]) << (8 * $1) }
        // Thousands of small files: use tmpfs where there is one (the disk made this test 5x slower).
        let dir = FileManager.default.fileExists(atPath: "/dev/shm")
            ? "/dev/shm/majicflux-st-fuzz-\(UUID().uuidString)" : makeTemporaryFolder("st-fuzz")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(state: 0x5AFE_7E45)
        var opened = 0, rejected = 0, kinds: [String: Int] = [:]
        for iteration in 0..<3000 {
            let bytes = mutate(original, headerEnd: headerEnd, &rng)
            let path = dir + "/m\(iteration).safetensors"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            defer { unlink(path) }
            do {
                let file = try SafeTensorsFile(path: path)
                assertDisjoint(file.tensorInfos, path)
                for info in file.tensorInfos {
                    XCTAssertLessThanOrEqual(file.fileOffset(of: info) + info.byteCount, bytes.count)
                    let t = try file.tensor(named: info.name)
                    XCTAssertEqual(t.storage.byteCount, info.byteCount)
                    let view = UnsafeRawBufferPointer(start: t.storage.pointer, count: t.storage.byteCount)
                    let start = file.fileOffset(of: info)
                    var sum: UInt64 = 0, want: UInt64 = 0
                    for b in view { sum = sum &* 31 &+ UInt64(b) }
                    for b in bytes[start..<(start + info.byteCount)] { want = want &* 31 &+ UInt64(b) }
                    XCTAssertEqual(sum, want, "tensor \(info.name) holds exactly its bytes of the file")
                    if t.dtype.isFloatingPoint { XCTAssertEqual(t.floats().count, info.count) }
                }
                opened += 1
            } catch let e as TensorError {
                rejected += 1
                kinds[errorKind(e), default: 0] += 1
                XCTAssertTrue("\(e)".contains("m\(iteration).safetensors"), "\(e)")
            }
        }
        print("fuzz: \(opened) mutated files opened and read in full, \(rejected) rejected \(kinds)")
        XCTAssertGreaterThan(opened, 50, "some mutations keep the file valid (reads exercised)")
        XCTAssertGreaterThan(rejected, 1500, "most mutations are caught")
    }

    /// No two tensors of an opened file share a byte.
    private func assertDisjoint(_ infos: [SafeTensorsTensorInfo], _ path: String, line: UInt = #line) {
        let ranges = infos.map(\.dataOffsets).filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.lowerBound < a.upperBound {
            XCTFail("\(path) opened with overlapping data_offsets \(a) and \(b)", line: line)
        }
    }

    /// 500 headers rewritten so that one tensor's range aliases, overlaps or sits inside another's
    /// (dtype and shape adjusted so the byte count still agrees): every one must be refused as corrupt,
    /// naming the file, whichever reader opens it.
    func testAliasedAndOverlappingRangesAreAlwaysRejected() throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: safetensorsFixtures() + "/all_dtypes.safetensors")))
        let headerLength = (0..<8).reduce(0) { $0 | Int(original[$1]) << (8 * $1) }
        let data = Array(original[(8 + headerLength)...])
        let header = try JSONSerialization.jsonObject(with: Data(original[8..<(8 + headerLength)])) as! [String: Any]
        let names = header.keys.filter { $0 != "__metadata__" }.sorted()
            .filter { let o = (header[$0] as! [String: Any])["data_offsets"] as! [Int]; return o[1] - o[0] >= 2 }
        let dir = makeTemporaryFolder("st-alias")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(state: 0xA11A5)
        for iteration in 0..<500 {
            var h = header
            let a = names[rng.below(names.count)]
            var b = names[rng.below(names.count)]
            if b == a { b = names[(names.firstIndex(of: a)! + 1) % names.count] }
            let ao = (h[a] as! [String: Any])["data_offsets"] as! [Int]
            let begin: Int, length: Int
            switch rng.below(3) {
            case 0: (begin, length) = (ao[0], ao[1] - ao[0])                  // the same bytes
            case 1: begin = ao[0] + 1 + rng.below(ao[1] - ao[0] - 1)          // starts inside
                length = 1 + rng.below(max(1, data.count - begin))
            default: begin = max(0, ao[0] - 1 - rng.below(4))                 // ends inside
                length = ao[0] + 1 + rng.below(ao[1] - ao[0]) - begin
            }
            guard begin + length <= data.count else { continue }
            h[b] = ["dtype": "U8", "shape": [length], "data_offsets": [begin, begin + length]]
            let json = try JSONSerialization.data(withJSONObject: h)
            let prefix = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * UInt64($0))) }
            let path = dir + "/alias\(iteration).safetensors"
            try Data(prefix + [UInt8](json) + data).write(to: URL(fileURLWithPath: path))
            for open in [{ _ = try SafeTensorsFile(path: path) }, { _ = try SafeTensorsCheckpoint(path: path) }] as [() throws -> Void] {
                do {
                    try open()
                    XCTFail("\(path): '\(b)' at [\(begin), \(begin + length)] shares bytes with '\(a)' \(ao) but opened")
                } catch {
                    XCTAssertEqual(errorKind(error), "corrupt", "\(error)")
                    XCTAssertTrue("\(error)".contains("alias\(iteration).safetensors"), "\(error)")
                }
            }
            unlink(path)
        }
    }

    private func mutate(_ original: [UInt8], headerEnd: Int, _ rng: inout SplitMix64) -> [UInt8] {
        var b = original
        let digits = (8..<headerEnd).filter { b[$0] >= 0x30 && b[$0] <= 0x39 }
        func setLength(_ n: UInt64) { for i in 0..<8 { b[i] = UInt8(truncatingIfNeeded: n >> (8 * UInt64(i))) } }
        switch rng.below(8) {
        case 0:  // flip bits in 1-4 random bytes of prefix + header
            for _ in 0...rng.below(4) { b[rng.below(headerEnd)] ^= UInt8(1 << rng.below(8)) }
        case 1:  // truncate anywhere
            b.removeLast(rng.below(b.count) + 1)
        case 2:  // truncate inside the data section only
            b.removeLast(rng.below(b.count - headerEnd) + 1)
        case 3:  // change 1-3 digits (shapes, data_offsets, the metadata's none)
            for _ in 0...rng.below(3) { b[digits[rng.below(digits.count)]] = UInt8(0x30 + rng.below(10)) }
        case 4:  // replace a digit with a sign, a dot, an exponent or a huge number
            let at = digits[rng.below(digits.count)]
            let junk: [[UInt8]] = [Array("-".utf8), Array(".5".utf8), Array("e9".utf8), Array("99999999999999999999".utf8), Array("4611686018427387904".utf8)]
            b.replaceSubrange(at...at, with: junk[rng.below(junk.count)])
        case 5:  // length prefix off by a little
            setLength(UInt64(max(0, headerEnd - 8 + rng.below(33) - 16)))
        case 6:  // length prefix replaced by a random value of random width
            setLength(rng.next() >> UInt64(rng.below(64)))
        default:  // swap two numbers of the header (e.g. an offset with a dimension)
            let a = digits[rng.below(digits.count)], c = digits[rng.below(digits.count)]
            let (x, y) = (min(a, c), max(a, c))
            func run(_ i: Int) -> Range<Int> {
                var lo = i, hi = i + 1
                while lo > 8, b[lo - 1] >= 0x30 && b[lo - 1] <= 0x39 { lo -= 1 }
                while hi < headerEnd, b[hi] >= 0x30 && b[hi] <= 0x39 { hi += 1 }
                return lo..<hi
            }
            let rx = run(x), ry = run(y)
            if rx.upperBound <= ry.lowerBound {
                let sx = Array(b[rx]), sy = Array(b[ry])
                b.replaceSubrange(ry, with: sx)
                b.replaceSubrange(rx, with: sy)
            }
        }
        return b
    }
}
