import Foundation
import Tensor

/// `cuda-check kernel-cache`: the compiled kernel module kept on disk (`CUDAKernelCache`), checked
/// the only way it is used: new processes (this program again, `kernel-cache-child FOLDER`), each
/// making the backend with the cache in a fresh folder and timing it:
/// 1. empty folder: NVRTC compiles, one file is written;
/// 2. the same folder: read from the file (faster), the file left as it was;
/// 3. the file with a flipped byte, 4. cut to 10 bytes: compiled again, the file rewritten;
/// 5. an intact file whose payload the driver refuses (`cuModuleLoadData`): compiled, rewritten;
/// 6. a folder that cannot be made: compiled, a one-line notice, the backend still works.
enum KernelCacheCheck {
    static func run() throws -> Bool {
        let root = NSTemporaryDirectory() + "cuda-check-kernel-cache-\(getpid())"
        let folder = root + "/cuda"
        defer { try? FileManager.default.removeItem(atPath: root) }
        var ok = true
        func check(_ what: String, _ condition: Bool) {
            print("  \(condition ? "ok" : "FAILED"): \(what)")
            ok = ok && condition
        }
        func files() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() }
        func bytes(_ name: String) -> Data { (try? Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))) ?? Data() }

        let compiled = try child(folder, "1. empty folder")
        check("the backend works", compiled.works)
        check("one file written", files().count == 1)
        guard let name = files().first else { return false }
        let good = bytes(name)
        print("    \(name): \(good.count) bytes")

        let cached = try child(folder, "2. cached")
        check("the backend works", cached.works)
        check("faster than compiling (\(fmt(cached.seconds, 3)) s vs \(fmt(compiled.seconds, 3)) s)", cached.seconds < compiled.seconds)
        check("the file left as it was", files() == [name] && bytes(name) == good)

        var flipped = good
        flipped[good.count / 2] ^= 0x55
        let damaged: [(String, Data)] = [
            ("3. a flipped byte", flipped),
            ("4. cut to 10 bytes", good.prefix(10)),
            ("5. intact header, a payload the driver refuses", refusedImage(header: good)),
        ]
        for (what, data) in damaged {
            try data.write(to: URL(fileURLWithPath: folder + "/" + name))
            let r = try child(folder, what)
            check("the backend works (\(fmt(r.seconds, 3)) s)", r.works)
            let now = bytes(name)
            check("the file rewritten (\(now == good ? "the same bytes as the first compile" : "\(now.count) bytes"))",
                  files() == [name] && now != data && now.count > CUDAKernelCache.headerBytes)
        }

        let plain = root + "/plain"
        try Data([1]).write(to: URL(fileURLWithPath: plain))
        let unwritable = try child(plain + "/cuda", "6. a folder that cannot be made")
        check("the backend works", unwritable.works)
        check("one notice", unwritable.output.components(separatedBy: "cannot be cached").count == 2)
        return ok
    }

    /// The cache file's header (magic, version, kind, key: 32 bytes) with a 64 KiB payload of noise
    /// and that payload's length and checksum (64-bit FNV-1a, as `CUDAKernelCache` computes it).
    static func refusedImage(header good: Data) -> Data {
        var r = HostRandom(seed: 11)
        let payload = (0..<65536).map { _ in UInt8(truncatingIfNeeded: r.next()) }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in payload { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        var out = Data(good.prefix(32))
        withUnsafeBytes(of: UInt64(payload.count).littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: h.littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: payload)
        return out
    }

    /// Runs `cuda-check kernel-cache-child folder` and reads its result line.
    static func child(_ folder: String, _ what: String) throws -> (works: Bool, seconds: Double, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = ["kernel-cache-child", folder]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        let line = output.split(separator: "\n").first { $0.hasPrefix("backend ready in ") }
        let seconds = line.flatMap { Double($0.dropFirst("backend ready in ".count).prefix { $0 != " " }) } ?? .infinity
        print("\(what): \(output.split(separator: "\n").joined(separator: " | "))")
        return (p.terminationStatus == 0 && line != nil, seconds, output)
    }

    /// The child: makes the backend with the cache in `folder`, times it, runs one op.
    static func childMain(folder: String) -> Int32 {
        let t0 = now()
        do {
            var c = CUDABackend.Configuration.fromEnvironment
            c.kernelCacheFolder = folder
            let gpu = try CUDABackend.make(computeDType: .bf16, configuration: c)
            let seconds = now() - t0
            let x = Tensor([1, 2, 3, 4], shape: [4]).moved(to: gpu)
            let y = (x * 2).moved(to: CPUBackend.shared).floats()
            guard y == [2, 4, 6, 8] else { print("wrong result \(y)"); return 1 }
            print("backend ready in \(fmt(seconds, 3)) s (context and kernel module); Hopper flash kernels: \(gpu.hopperFlashAvailable)")
            return 0
        } catch {
            print("backend failed: \(error)")
            return 1
        }
    }
}
