#if canImport(Glibc)
import Glibc
#endif
import Tensor

/// Moving a mapped checkpoint tensor to the GPU: the direct path (`FileUploading`: pread into two
/// pinned half-buffers, copies overlapped with reads) against the host-array path it replaced, on a
/// ~1 GB bf16 tensor whose size is not a multiple of the buffer; the bytes must come back identical.
enum UploadCheck {
    static func run() throws -> Bool {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        let path = "/tmp/cuda-check-upload.safetensors"
        defer { unlink(path) }
        let n = 512 * 1024 * 1024 + 12345   // bf16 values: 1 GiB + 24690 bytes
        var r = HostRandom(seed: 5)
        let host = Tensor((0..<(1 << 20)).map { _ in r.normal() }, shape: [1 << 20]).to(.bf16)
        // tile the random MiB to the full size without holding 1 GB of floats
        var bytes = [UInt8](repeating: 0, count: n * 2)
        let chunk = host.hostBytes()
        for i in stride(from: 0, to: bytes.count, by: chunk.count) {
            let m = Swift.min(chunk.count, bytes.count - i)
            bytes.withUnsafeMutableBytes { dst in chunk.withUnsafeBytes { dst.baseAddress!.advanced(by: i).copyMemory(from: $0.baseAddress!, byteCount: m) } }
        }
        let t = Tensor.fromHost(bytes, shape: [n * 2], dtype: .u8).reinterpreted(as: .bf16, shape: [n])
        try SafeTensorsWriter.write([("w", t)], to: path)
        let file = try SafeTensorsFile(path: path)
        let view = try file.tensor(named: "w")
        // warm the page cache the same way for both paths
        _ = view.hostBytes()
        var t0 = now()
        let direct = view.moved(to: gpu)
        gpu.synchronize()
        let directS = now() - t0
        t0 = now()
        let old = Tensor.fromHost(view.hostBytes(), shape: [n * 2], dtype: .u8, backend: gpu)
        gpu.synchronize()
        let oldS = now() - t0
        let same = direct.hostBytes() == bytes && old.hostBytes() == bytes
        let gb = Double(n * 2) / 1e9
        print("upload \(fmt(gb, 3)) GB from a mapped file: direct (pread + pinned double buffer) \(fmt(directS, 3)) s = \(fmt(gb / directS, 1)) GB/s; "
              + "via a host array \(fmt(oldS, 3)) s = \(fmt(gb / oldS, 1)) GB/s; bytes identical: \(same)")
        return same
    }
}
