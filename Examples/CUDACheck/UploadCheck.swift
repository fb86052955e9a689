#if canImport(Glibc)
import Glibc
#endif
import Tensor

/// Moving mapped checkpoint bytes to the GPU (`FileUploading`: `Configuration.uploadReaders` threads
/// `pread` into pinned slots, copies queued as slots fill, `StagedFileReader`):
/// - bytes identical for sizes around the slot boundaries (1 byte past a slot, exactly N slots, odd
///   sizes, odd file and device offsets) with 1, 2 and 4 readers;
/// - GB/s for 1, 2, 4 and 8 readers on one 1 GB tensor, and on 1 GB as 18 MiB tensors uploaded one
///   after another (the DiT's pattern: 3072 x 3072 bf16), against the host-array path.
enum UploadCheck {
    static func run() throws -> Bool {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        let original = gpu.configuration
        defer { gpu.configuration = original }
        let path = "/tmp/cuda-check-upload-\(getpid()).bin"
        defer { unlink(path) }
        let total = (1 << 30) + 24690  // 1 GiB and an odd tail
        try writeRandomFile(path, bytes: total)
        let file = try MappedFile(path: path)
        warm(file)
        let slot = original.uploadSlotBytes
        var ok = true

        // Exactness around the slot boundaries.
        let sizes = [(1 << 20) + 1, slot - 1, slot, slot + 1, 3 * slot + 12345, 4 * slot, 4 * slot + 1, 8 * slot, 8 * slot + 1, 9 * slot - 3]
        for readers in [1, 2, 4] {
            var c = original
            c.uploadReaders = readers
            gpu.configuration = c
            var bad: [String] = []
            for count in sizes {
                for (fileOffset, deviceOffset) in [(0, 0), (4097, 256), (13, 0)] where fileOffset + count <= total {
                    let storage = gpu.allocate(byteCount: count + deviceOffset)
                    guard gpu.upload(from: file, fileOffset: fileOffset, count: count, to: storage, byteOffset: deviceOffset) else {
                        bad.append("\(count)@\(fileOffset): refused"); continue
                    }
                    var back = [UInt8](repeating: 0, count: count)
                    back.withUnsafeMutableBytes { gpu.download(storage, byteOffset: deviceOffset, count: count, into: $0.baseAddress!) }
                    let same = back.withUnsafeBytes { memcmp($0.baseAddress!, file.base! + fileOffset, count) == 0 }
                    if !same { bad.append("\(count)@\(fileOffset)->\(deviceOffset)") }
                }
            }
            try gpu.throwIfFaulted()
            print("upload exactness, \(readers) reader\(readers == 1 ? "" : "s"), \(slot >> 20) MiB slots, \(sizes.count) sizes x 3 offsets: "
                  + (bad.isEmpty ? "bytes identical" : "MISMATCH \(bad)"))
            ok = ok && bad.isEmpty
        }

        // Speed: one 1 GB tensor, and 1 GB as 18 MiB tensors in a row.
        let gb = Double(1 << 30) / 1e9
        let tensor = 3072 * 3072 * 2, tensors = (1 << 30) / tensor
        let big = gpu.allocate(byteCount: 1 << 30)
        for readers in [1, 2, 4, 8] {
            var c = original
            c.uploadReaders = readers
            gpu.configuration = c
            _ = gpu.upload(from: file, fileOffset: 0, count: (1 << 20) + 1, to: big, byteOffset: 0)  // slots made outside the timing
            gpu.synchronize()
            var one = Double.infinity, many = Double.infinity
            for _ in 0..<2 {
                var t0 = now()
                _ = gpu.upload(from: file, fileOffset: 0, count: 1 << 30, to: big, byteOffset: 0)
                gpu.synchronize()
                one = Swift.min(one, now() - t0)
                t0 = now()
                for i in 0..<tensors {
                    _ = gpu.upload(from: file, fileOffset: i * tensor, count: tensor, to: big, byteOffset: i * tensor)
                }
                gpu.synchronize()
                many = Swift.min(many, now() - t0)
            }
            try gpu.throwIfFaulted()
            let manyGB = Double(tensors * tensor) / 1e9
            print("upload \(readers) reader\(readers == 1 ? "" : "s"): 1 GB tensor \(fmt(one, 3)) s = \(fmt(gb / one, 1)) GB/s; "
                  + "\(tensors) x 18 MiB tensors \(fmt(many, 3)) s = \(fmt(manyGB / many, 1)) GB/s")
        }
        gpu.configuration = original
        var t0 = now()
        let host = [UInt8](UnsafeRawBufferPointer(start: file.base!, count: 1 << 30))
        let copied = now() - t0
        t0 = now()
        host.withUnsafeBytes { gpu.upload($0.baseAddress!, count: 1 << 30, to: big, byteOffset: 0) }
        gpu.synchronize()
        let fromHost = now() - t0
        print("for comparison: the mapping copied to a host array \(fmt(copied, 3)) s, then uploaded \(fmt(fromHost, 3)) s "
              + "= \(fmt(gb / (copied + fromHost), 1)) GB/s in all")
        return ok
    }

    /// `bytes` bytes of seeded random data at `path`, written with `write(2)` in 16 MiB pieces.
    static func writeRandomFile(_ path: String, bytes: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TensorError.io(path: path, reason: "cannot create") }
        defer { close(fd) }
        var r = HostRandom(seed: 5)
        var piece = [UInt64](repeating: 0, count: (16 << 20) / 8)
        var done = 0
        while done < bytes {
            for i in piece.indices { piece[i] = r.next() }
            let n = Swift.min(piece.count * 8, bytes - done)
            let w = piece.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, n) }
            guard w == n else { throw TensorError.io(path: path, reason: "short write") }
            done += n
        }
    }

    /// Reads the whole file once, so every timing finds it in the page cache.
    static func warm(_ file: MappedFile) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var at = 0
        while at < file.byteCount {
            let n = Swift.min(64 << 20, file.byteCount - at)
            _ = file.read(into: buffer, fileOffset: at, count: n)
            at += n
        }
    }
}
