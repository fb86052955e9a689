import Dispatch

/// Reads a file range through staging slots with several threads at once, handing each filled slot
/// on in file order: the host side of a GPU's file upload (`CUDABackend`'s `FileUploading`), kept
/// free of device calls so the CPU tests run it with a copy that completes late, as a GPU's does.
///
/// The range is cut into chunks of at most `slotBytes` (smaller ranges into `readers` equal chunks,
/// so a tensor of a few MB still reads in parallel). Chunks go in waves of `readers`: each wave waits
/// for its slots to be free (`awaitSlot`: the copy that last read a slot has finished), reads its
/// chunks with one thread each (`pread` from the page cache: one thread moves ~5-10 GB/s), then
/// hands them on in file order (`send`: queue the copy, and mark when it has read the slot). Waves
/// take turns between two sets of `readers` slots, so one wave's copies run while the next reads.
/// The turn carries over from call to call (`wave`): a caller whose copies outlive the call (a GPU
/// stream) reads the next range into the other set while the last copies of this one run, and
/// `awaitSlot` waits on the marks the earlier call left.
public struct StagedFileReader: Sendable {
    /// Threads reading at once (at least 1).
    public let readers: Int
    /// The size of one slot in bytes (at least 1).
    public let slotBytes: Int
    /// Slots the caller provides: two sets of `readers`.
    public var slotCount: Int { 2 * readers }
    /// Chunks are not cut smaller than this (per-read overhead), unless the range is.
    public static let minimumChunk = 1 << 20

    public init(readers: Int, slotBytes: Int) {
        self.readers = Swift.max(1, readers)
        self.slotBytes = Swift.max(1, slotBytes)
    }

    /// The chunk size for a range of `count` bytes: `slotBytes`, or less so that a range of fewer
    /// than `readers` slots still gives every reader a share (not below `minimumChunk`; 4 KiB
    /// multiples, page-aligned reads).
    public func chunkBytes(count: Int) -> Int {
        let share = (count + readers - 1) / readers
        let rounded = (share + 4095) / 4096 * 4096
        return Swift.max(1, Swift.min(slotBytes, Swift.max(rounded, Swift.min(Self.minimumChunk, slotBytes))))
    }

    /// Copies `count` bytes of `file` at `fileOffset` through `slots` (`slotCount` buffers of
    /// `slotBytes` each). For every chunk, in file order: `send(slot, buffer, offset in the range,
    /// bytes)`. Before a slot is filled: `awaitSlot(slot)`. `awaitSlot` and `send` run on the calling
    /// thread, the reads on `readers` threads. `wave` counts the waves run with these slots (even:
    /// the first set next, odd: the second); keep it between calls. False when a read failed (the
    /// range is outside the file, an I/O error): the chunks before it were sent, none after.
    public func copy(from file: MappedFile, fileOffset: Int, count: Int, slots: [UnsafeMutableRawPointer], wave: inout Int,
                     awaitSlot: (Int) -> Void, send: (Int, UnsafeRawPointer, Int, Int) -> Void) -> Bool {
        precondition(slots.count >= slotCount, "StagedFileReader needs \(slotCount) slots, got \(slots.count)")
        guard count > 0 else { return true }
        guard fileOffset >= 0, fileOffset + count <= file.byteCount else { return false }
        let chunk = chunkBytes(count: count)
        let chunks = (count + chunk - 1) / chunk
        var done = 0  // chunks sent
        while done < chunks {
            let first = done, n = Swift.min(readers, chunks - done)
            let base = (wave % 2) * readers
            for j in 0..<n { awaitSlot(base + j) }
            let ok = ReadResults(n)
            let pointers = UncheckedSendable(slots)
            DispatchQueue.concurrentPerform(iterations: n) { j in
                let start = (first + j) * chunk
                let bytes = Swift.min(chunk, count - start)
                ok.set(j, file.read(into: pointers.value[base + j], fileOffset: fileOffset + start, count: bytes))
            }
            for j in 0..<n {
                guard ok.get(j) else { return false }
                let start = (first + j) * chunk
                send(base + j, UnsafeRawPointer(slots[base + j]), start, Swift.min(chunk, count - start))
            }
            wave += 1
            done += n
        }
        return true
    }
}

/// Per-reader success flags, written by the reader threads (each its own index) and read after
/// `concurrentPerform` returns (which orders the writes before the reads).
// unchecked: each index is written by one thread only, and read only after all writers finished.
private final class ReadResults: @unchecked Sendable {
    private let flags: UnsafeMutablePointer<Bool>
    init(_ n: Int) {
        flags = .allocate(capacity: n)
        flags.initialize(repeating: false, count: n)
    }
    deinit { flags.deallocate() }
    func set(_ i: Int, _ v: Bool) { flags[i] = v }
    func get(_ i: Int) -> Bool { flags[i] }
}
