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

    /// The device stand-in: the slots, and copies that run only when their slot is waited for (or
    /// at `finish()`), kept across calls as a stream keeps them.
    final class LateDevice {
        let reader: StagedFileReader
        let slots: [UnsafeMutableRawPointer]
        var wave = 0
        var pending: [Int: (destination: UnsafeMutableRawPointer, n: Int)] = [:]
        var sends: [(slot: Int, offset: Int, n: Int)] = []

        init(_ reader: StagedFileReader) {
            self.reader = reader
            slots = (0..<reader.slotCount).map { _ in UnsafeMutableRawPointer.allocate(byteCount: reader.slotBytes, alignment: 4096) }
        }

        deinit { slots.forEach { $0.deallocate() } }

        func complete(_ slot: Int) {
            guard let p = pending.removeValue(forKey: slot) else { return }
            p.destination.copyMemory(from: slots[slot], byteCount: p.n)
        }

        /// The stream runs its last copies.
        func finish() { for slot in pending.keys.sorted() { complete(slot) } }

        /// One call: `count` bytes at `offset` towards `out` (copied when the copies run).
        func copy(_ file: MappedFile, offset: Int, count: Int, into out: UnsafeMutableRawPointer) -> Bool {
            sends = []
            return reader.copy(from: file, fileOffset: offset, count: count, slots: slots, wave: &wave, awaitSlot: complete) { slot, buffer, at, n in
                XCTAssertEqual(buffer, UnsafeRawPointer(self.slots[slot]))
                XCTAssertNil(self.pending[slot], "slot \(slot) sent again before it was waited for")
                self.pending[slot] = (out + at, n)
                self.sends.append((slot, at, n))
            }
        }
    }

    func testBytesAreIdenticalAroundTheSlotBoundaries() {
        let s = Self.slot
        for readers in [1, 2, 4, 3] {
            let reader = StagedFileReader(readers: readers, slotBytes: s)
            XCTAssertEqual(reader.slotCount, 2 * readers)
            for count in [1, 4095, s - 1, s, s + 1, 2 * s, 4 * s, 4 * s + 1, 8 * s + 17, 9 * s - 1, 40 * s + 123] {
                for (offset, startWave) in [(0, 0), (13, 1)] where offset + count <= bytes.count {
                    let device = LateDevice(reader)
                    device.wave = startWave
                    var out = [UInt8](repeating: 0, count: count)
                    let ok = out.withUnsafeMutableBytes { o in
                        defer { device.finish() }
                        return device.copy(file, offset: offset, count: count, into: o.baseAddress!)
                    }
                    let what = "\(readers) readers, \(count) bytes at \(offset)"
                    XCTAssertTrue(ok, what)
                    XCTAssertTrue(out == Array(bytes[offset..<(offset + count)]), what)
                    // In file order, back to back, none larger than a slot.
                    var next = 0
                    for send in device.sends {
                        XCTAssertEqual(send.offset, next, what)
                        XCTAssertLessThanOrEqual(send.n, s, what)
                        XCTAssertGreaterThan(send.n, 0, what)
                        next += send.n
                    }
                    XCTAssertEqual(next, count, what)
                    // Waves alternate between the two sets of slots, from the set `wave` names.
                    for (i, send) in device.sends.enumerated() {
                        XCTAssertEqual(send.slot, (startWave + i / readers) % 2 * readers + i % readers, what)
                    }
                    XCTAssertEqual(device.wave, startWave + (device.sends.count + readers - 1) / readers, what)
                }
            }
        }
    }

    func testRangesInARowOverlapAndStayExact() {
        // Tensors uploaded one after another with no wait between: each call's first wave fills the
        // set its predecessor's last wave did not, and late copies of one range never meet the next.
        let s = Self.slot
        let reader = StagedFileReader(readers: 4, slotBytes: s)
        let device = LateDevice(reader)
        let ranges = [(0, 3 * s), (3 * s, s + 5), (4 * s + 5, 9 * s), (13 * s + 5, 1 << 20), (17 * s, 2 * s), (19 * s, 40)]
        // Raw buffers: the late copies write into them after each call has returned.
        let outs = ranges.map { UnsafeMutableRawBufferPointer.allocate(byteCount: $0.1, alignment: 16) }
        defer { outs.forEach { $0.deallocate() } }
        var lastSet: Int?
        for (k, (offset, count)) in ranges.enumerated() {
            XCTAssertTrue(device.copy(file, offset: offset, count: count, into: outs[k].baseAddress!))
            if let lastSet { XCTAssertNotEqual(device.sends.first!.slot / 4, lastSet, "range \(k) starts on the set still copying") }
            lastSet = device.sends.last!.slot / 4
        }
        device.finish()
        for (k, (offset, count)) in ranges.enumerated() {
            XCTAssertTrue(Array(outs[k]) == Array(bytes[offset..<(offset + count)]), "range \(k)")
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
        let device = LateDevice(StagedFileReader(readers: 2, slotBytes: Self.slot))
        var out = [UInt8](repeating: 0, count: 16)
        for (offset, count) in [(bytes.count - 10, 11), (-1, 5), (bytes.count, 1)] {
            let ok = out.withUnsafeMutableBytes { device.copy(file, offset: offset, count: count, into: $0.baseAddress!) }
            XCTAssertFalse(ok)
            XCTAssertTrue(device.sends.isEmpty)
        }
        let ok = out.withUnsafeMutableBytes { device.copy(file, offset: 5, count: 0, into: $0.baseAddress!) }
        XCTAssertTrue(ok && device.sends.isEmpty, "nothing to copy")
        XCTAssertEqual(device.wave, 0)
    }
}
