import Foundation
import XCTest
import Tensor

/// `StagedFileReader`, the host side of the GPU's file upload, with a stand-in for the device: a
/// "copy" that runs late (when its slot is waited for, or at the end), as a GPU's queued copy does.
/// A slot refilled before its copy ran would give wrong bytes.
final class StagedFileReaderTests: XCTestCase {
    static let slot = 64 << 10
    var path = ""
    var file: MappedFile!
    var bytes: [UInt8] = []

    override func setUpWithError() throws {
        path = NSTemporaryDirectory() + "staged-read-\(getpid())-\(UUID().uuidString).bin"
        var r = UInt64(0x9E37_79B9_7F4A_7C15)
        bytes = (0..<(40 * Self.slot + 123)).map { _ in
            r ^= r << 13; r ^= r >> 7; r ^= r << 17
            return UInt8(truncatingIfNeeded: r)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        file = try MappedFile(path: path)
    }

    override func tearDown() {
        file = nil
        unlink(path)
    }

    /// Copies `count` bytes at `offset` with a late-running copy; returns the result, the sends and
    /// whether the reader reported success.
    func run(_ reader: StagedFileReader, offset: Int, count: Int) -> (ok: Bool, out: [UInt8], sends: [(slot: Int, offset: Int, n: Int)]) {
        let slots = (0..<reader.slotCount).map { _ in UnsafeMutableRawPointer.allocate(byteCount: reader.slotBytes, alignment: 4096) }
        defer { slots.forEach { $0.deallocate() } }
        var out = [UInt8](repeating: 0, count: count)
        var pending: [Int: (offset: Int, n: Int)] = [:]
        var sends: [(slot: Int, offset: Int, n: Int)] = []
        func complete(_ slot: Int) {
            guard let p = pending.removeValue(forKey: slot) else { return }
            out.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: p.offset).copyMemory(from: slots[slot], byteCount: p.n) }
        }
        let ok = reader.copy(from: file, fileOffset: offset, count: count, slots: slots, awaitSlot: complete) { slot, buffer, at, n in
            XCTAssertEqual(buffer, UnsafeRawPointer(slots[slot]))
            XCTAssertNil(pending[slot], "slot \(slot) sent again before it was waited for")
            pending[slot] = (at, n)
            sends.append((slot, at, n))
        }
        for slot in pending.keys.sorted() { complete(slot) }  // the stream runs its last copies
        return (ok, out, sends)
    }

    func testBytesAreIdenticalAroundTheSlotBoundaries() {
        let s = Self.slot
        for readers in [1, 2, 4, 3] {
            let reader = StagedFileReader(readers: readers, slotBytes: s)
            XCTAssertEqual(reader.slotCount, 2 * readers)
            for count in [1, 4095, s - 1, s, s + 1, 2 * s, 4 * s, 4 * s + 1, 8 * s + 17, 9 * s - 1, 40 * s + 123] {
                for offset in [0, 13] where offset + count <= bytes.count {
                    let (ok, out, sends) = run(reader, offset: offset, count: count)
                    let what = "\(readers) readers, \(count) bytes at \(offset)"
                    XCTAssertTrue(ok, what)
                    XCTAssertTrue(out == Array(bytes[offset..<(offset + count)]), what)
                    // In file order, back to back, none larger than a slot.
                    var next = 0
                    for send in sends {
                        XCTAssertEqual(send.offset, next, what)
                        XCTAssertLessThanOrEqual(send.n, s, what)
                        XCTAssertGreaterThan(send.n, 0, what)
                        next += send.n
                    }
                    XCTAssertEqual(next, count, what)
                    // Waves alternate between the two sets of slots.
                    for (i, send) in sends.enumerated() {
                        XCTAssertEqual(send.slot, (i / readers) % 2 * readers + i % readers, what)
                    }
                }
            }
        }
    }

    func testSmallRangesAreSharedAmongTheReaders() {
        let reader = StagedFileReader(readers: 4, slotBytes: 32 << 20)
        XCTAssertEqual(reader.chunkBytes(count: 1 << 30), 32 << 20, "big ranges: whole slots")
        XCTAssertEqual(reader.chunkBytes(count: 18 << 20), (18 << 20) / 4, "an 18 MiB tensor: four readers")
        XCTAssertEqual(reader.chunkBytes(count: (18 << 20) + 1), (18 << 20) / 4 + 4096, "rounded up to 4 KiB")
        XCTAssertEqual(reader.chunkBytes(count: 2 << 20), 1 << 20, "not below 1 MiB")
        XCTAssertEqual(reader.chunkBytes(count: 100), 1 << 20)
        XCTAssertEqual(StagedFileReader(readers: 4, slotBytes: 4096).chunkBytes(count: 1 << 20), 4096, "never above a slot")
        XCTAssertEqual(StagedFileReader(readers: 0, slotBytes: 0).readers, 1)
    }

    func testARangeOutsideTheFileFailsAndNothingIsSent() {
        let reader = StagedFileReader(readers: 2, slotBytes: Self.slot)
        for (offset, count) in [(bytes.count - 10, 11), (-1, 5), (bytes.count, 1)] {
            let (ok, _, sends) = run(reader, offset: offset, count: count)
            XCTAssertFalse(ok)
            XCTAssertTrue(sends.isEmpty)
        }
        let (ok, _, sends) = run(reader, offset: 5, count: 0)
        XCTAssertTrue(ok && sends.isEmpty, "nothing to copy")
    }
}
