import Foundation
import XCTest
import Tensor

/// The disk cache of the compiled CUDA kernel module (`CUDAKernelCache`), on the CPU: keys, files
/// written and read back, and every kind of bad file read as a miss.
final class CUDAKernelCacheTests: XCTestCase {
    var folder = ""

    override func setUp() {
        folder = NSTemporaryDirectory() + "kernel-cache-\(getpid())-\(UUID().uuidString)"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    func key(source: String = "__global__ void k() {}", target: String = "sm_90a", options: [String] = ["--std=c++17"],
             compiler: String = "12.8", kind: CUDAKernelCache.ImageKind = .cubin) -> CUDAKernelCache.Key {
        CUDAKernelCache.Key(source: source, target: target, options: options, compiler: compiler, kind: kind)
    }

    func testTheKeyChangesWithEveryInputAndOnlyThen() {
        let base = key()
        XCTAssertEqual(base, key(), "the same inputs give the same key")
        let others = [key(source: "__global__ void k() { }"), key(target: "sm_90"), key(options: ["--std=c++20"]),
                      key(options: ["--std=c++17", "-lineinfo"]), key(compiler: "12.9"), key(kind: .ptx),
                      // text moved from one field to the next is another key (fields are length-prefixed)
                      key(source: "__global__ void k() {}s", target: "m_90a")]
        for other in others { XCTAssertNotEqual(other, base) }
        XCTAssertEqual(Set(others.map(\.fileName)).count, others.count)
        let name = base.fileName
        XCTAssertTrue(name.hasSuffix(".cubin") && key(kind: .ptx).fileName.hasSuffix(".ptx"), name)
        XCTAssertEqual(name.split(separator: ".")[0].count, 32)
        XCTAssertTrue(name.split(separator: ".")[0].allSatisfy(\.isHexDigit), name)
    }

    func testAnImageComesBackAsWrittenAndOnlyForItsKey() throws {
        let cache = CUDAKernelCache(folder: folder + "/a/b")  // folders made on the first write
        let image = (0..<100_003).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        XCTAssertNil(cache.load(key()), "nothing stored yet")
        try cache.store(image, for: key())
        XCTAssertEqual(cache.load(key()), image)
        let size = try FileManager.default.attributesOfItem(atPath: cache.path(for: key()))[.size] as? Int
        XCTAssertEqual(size, image.count + CUDAKernelCache.headerBytes)
        XCTAssertNil(cache.load(key(compiler: "13.0")), "another compiler's key finds nothing")
        // Written again (a refresh), the new image replaces the old; no temporary file is left.
        try cache.store([1, 2, 3], for: key())
        XCTAssertEqual(cache.load(key()), [1, 2, 3])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.folder), [key().fileName])
        // An empty image is an image.
        try cache.store([], for: key(kind: .ptx))
        XCTAssertEqual(cache.load(key(kind: .ptx)), [])
        cache.remove(key())
        XCTAssertNil(cache.load(key()))
        cache.remove(key())  // nothing there: no error
    }

    func testTruncatedCorruptAndForeignFilesAreMisses() throws {
        let cache = CUDAKernelCache(folder: folder)
        let image = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 13) }
        try cache.store(image, for: key())
        let path = cache.path(for: key())
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        func put(_ bytes: Data) throws { try bytes.write(to: URL(fileURLWithPath: path)) }

        var cases: [(String, Data)] = [
            ("empty", Data()),
            ("half a header", good.prefix(20)),
            ("header only", good.prefix(CUDAKernelCache.headerBytes)),
            ("one byte short", good.dropLast()),
            ("one byte more", good + Data([0])),
            ("not a cache file", Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) })),
        ]
        // Every byte of the header matters, and a flipped payload byte fails the checksum.
        for i in [0, 7, 8, 12, 16, 24, 31, 32, 40, 47, CUDAKernelCache.headerBytes, good.count - 1] {
            var bad = good
            bad[i] ^= 0x20
            cases.append(("byte \(i) flipped", bad))
        }
        for (what, bytes) in cases {
            try put(bytes)
            XCTAssertNil(cache.load(key()), what)
        }
        // A whole, intact file of another key put under this key's name.
        try cache.store([9, 9, 9], for: key(target: "sm_90"))
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: cache.path(for: key(target: "sm_90")), toPath: path)
        XCTAssertNil(cache.load(key()), "a foreign file")
        XCTAssertEqual(cache.load(key(target: "sm_90")), [9, 9, 9])
        // A folder, or a FIFO, where the file should be: a miss, no hang.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        XCTAssertNil(cache.load(key()))
        try FileManager.default.removeItem(atPath: path)
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        XCTAssertNil(cache.load(key()))
        try FileManager.default.removeItem(atPath: path)
        // After any of these the compile's result is written again and read back.
        try cache.store(image, for: key())
        XCTAssertEqual(cache.load(key()), image)
    }

    func testAnUnwritableFolderOnlyLosesTheCache() throws {
        // A folder below a plain file cannot be made, even by root.
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let file = folder + "/plain"
        try Data([1]).write(to: URL(fileURLWithPath: file))
        let cache = CUDAKernelCache(folder: file + "/cuda")
        XCTAssertThrowsError(try cache.store([1, 2], for: key())) { error in
            XCTAssertTrue("\(error)".contains(file), "\(error)")
        }
        let notice = try XCTUnwrap(cache.save([1, 2], for: key()))
        XCTAssertTrue(notice.contains("cannot be cached") && notice.contains(file) && !notice.contains("\n"), notice)
        XCTAssertNil(cache.load(key()))
        XCTAssertNil(CUDAKernelCache(folder: folder).save([1, 2], for: key()), "a writable folder saves")
    }

    func testTheDefaultFolderFollowsTheEnvironment() {
        let names = ["MAJICFLUX_CACHE_DIR", "XDG_CACHE_HOME", "HOME"]
        let saved = names.map { getenv($0).map { String(cString: $0) } }
        defer {
            for (name, value) in zip(names, saved) {
                if let value { setenv(name, value, 1) } else { unsetenv(name) }
            }
        }
        setenv("MAJICFLUX_CACHE_DIR", "/m", 1)
        setenv("XDG_CACHE_HOME", "/x", 1)
        setenv("HOME", "/h", 1)
        XCTAssertEqual(CUDAKernelCache.defaultFolder, "/m/cuda")
        XCTAssertEqual(CacheFolder.root, "/m", "one folder for every cache (model hashes too)")
        setenv("MAJICFLUX_CACHE_DIR", "", 1)  // empty counts as unset
        XCTAssertEqual(CUDAKernelCache.defaultFolder, "/x/majicflux/cuda")
        unsetenv("XDG_CACHE_HOME")
        XCTAssertEqual(CUDAKernelCache.defaultFolder, "/h/.cache/majicflux/cuda")
        unsetenv("HOME")
        unsetenv("MAJICFLUX_CACHE_DIR")
        XCTAssertNil(CUDAKernelCache.defaultFolder)
        XCTAssertNil(CacheFolder.root)
    }
}
