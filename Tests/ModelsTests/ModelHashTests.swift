import Foundation
import XCTest
import Models

/// A1111's short model hash: SHA-256 of the DiT file, first 10 hex digits, cached by path, size and
/// modification time.
final class ModelHashTests: XCTestCase {
    private func file(_ dir: URL, _ name: String, _ bytes: [UInt8]) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// FIPS 180-2 test vectors, and sizes around the 64-byte block and the 8 MiB read buffer.
    func testSHA256KnownVectors() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [([UInt8], String)] = [
            ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (Array("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
            ([UInt8](repeating: 0x61, count: 1_000_000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        ]
        for (i, (bytes, want)) in cases.enumerated() {
            let path = try file(dir, "v\(i)", bytes)
            XCTAssertEqual(try ModelHash.sha256(files: [path], cacheFile: nil), want, "vector \(i)")
        }
        // Two files hash as their concatenation: 63 'x' then 65 'y' crosses a block boundary between them.
        let a = try file(dir, "a", [UInt8](repeating: 0x78, count: 63)), b = try file(dir, "b", [UInt8](repeating: 0x79, count: 65))
        XCTAssertEqual(try ModelHash.sha256(files: [a, b], cacheFile: nil),
                       "f8b86a7a011f789a7a31ae9520f1d16f372caeb2def51fb1d2b26115c0c940b7")
        let big = try file(dir, "big", (0..<(48 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 >> 3) })
        let t0 = Date()
        XCTAssertEqual(try ModelHash.sha256(files: [big], cacheFile: nil).count, 64)
        print(String(format: "SHA-256 of a 48 MiB file: %.0f MB/s", Double(48 << 20) / 1e6 / Date().timeIntervalSince(t0)))
    }

    /// The short hash of a checkpoint file equals `sha256sum`'s first 10 digits (A1111's "Model hash").
    func testShortHashOfCheckpoint() throws {
        let path = TokenizerCorpus.fixturesURL.appendingPathComponent("tiny-flux-dit-comfy.safetensors").path
        XCTAssertEqual(try ModelHash.shortHash(checkpoint: path, cacheFile: nil), "654405c190")
        let task = ModelHashTask(checkpoint: path, cacheFile: nil)
        XCTAssertEqual(task.wait(), "654405c190")
        XCTAssertTrue(task.isFinished)
        XCTAssertEqual(task.value, "654405c190")
        // The whole SHA-256 (A1111's `sha256` of a checkpoint) is sha256sum's, computed apart.
        let sum = Process()
        sum.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        sum.arguments = [path]
        let out = Pipe()
        sum.standardOutput = out
        try sum.run()
        sum.waitUntilExit()
        let expected = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
        XCTAssertEqual(task.sha256.map { Substring($0) }, expected)
        XCTAssertTrue(expected.hasPrefix("654405c190"))
        XCTAssertNil(ModelHashTask { "abc" }.sha256, "only checkpoint tasks have one")
        XCTAssertEqual(ModelHashTask { "0123456789abcdef" }.wait(), "0123456789abcdef", "other tasks are not shortened")
        XCTAssertNil(ModelHashTask(checkpoint: "/nonexistent/dit.safetensors", cacheFile: nil).wait())
    }

    /// The hash cache lives in the same folder as every other cache: `MAJICFLUX_CACHE_DIR` moves it too.
    func testTheDefaultCacheFileFollowsTheCacheFolder() {
        let names = ["MAJICFLUX_CACHE_DIR", "XDG_CACHE_HOME"]
        let saved = names.map { getenv($0).map { String(cString: $0) } }
        defer {
            for (name, value) in zip(names, saved) {
                if let value { setenv(name, value, 1) } else { unsetenv(name) }
            }
        }
        setenv("MAJICFLUX_CACHE_DIR", "/m", 1)
        XCTAssertEqual(ModelHash.defaultCacheFile, "/m/model-hashes.json")
        unsetenv("MAJICFLUX_CACHE_DIR")
        setenv("XDG_CACHE_HOME", "/x", 1)
        XCTAssertEqual(ModelHash.defaultCacheFile, "/x/majicflux/model-hashes.json")
    }

    /// A cached hash is used while the file's size and modification time are unchanged, and
    /// recomputed when the file changes.
    func testCacheKeyedBySizeAndModificationTime() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("cache/model-hashes.json").path
        let path = try file(dir, "m.bin", Array("abc".utf8))
        let real = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        XCTAssertEqual(try ModelHash.sha256(files: [path], cacheFile: cache), real)
        // Plant a different value for the same stamp: a cache hit returns it unread.
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cache))) as? [String: [String: String]])
        XCTAssertEqual(json.count, 1)
        let key = try XCTUnwrap(json.keys.first)
        json[key]!["sha256"] = String(repeating: "0", count: 64)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: cache))
        XCTAssertEqual(try ModelHash.sha256(files: [path], cacheFile: cache), String(repeating: "0", count: 64))
        // Change the file (size and time): hashed again, and the cache updated.
        try Data("abcd".utf8).write(to: URL(fileURLWithPath: path))
        let abcd = "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"
        XCTAssertEqual(try ModelHash.sha256(files: [path], cacheFile: cache), abcd)
        XCTAssertEqual(try ModelHash.sha256(files: [path], cacheFile: nil), abcd)
        XCTAssertThrowsError(try ModelHash.sha256(files: [dir.appendingPathComponent("missing").path], cacheFile: cache))
    }

    /// Entries of files that no longer exist (temporary files, deleted models) leave the cache the
    /// next time it is written, so it cannot grow without bound.
    func testCacheDropsEntriesOfFilesThatAreGone() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("model-hashes.json").path
        let kept = try file(dir, "kept.bin", Array("abc".utf8))
        let gone = try file(dir, "gone.bin", Array("xyz".utf8))
        _ = try ModelHash.sha256(files: [gone], cacheFile: cache)
        _ = try ModelHash.sha256(files: [kept], cacheFile: cache)
        func keys() throws -> Set<String> {
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cache))) as? [String: Any])
            return Set(json.keys)
        }
        XCTAssertEqual(try keys().count, 2)
        try FileManager.default.removeItem(atPath: gone)
        let third = try file(dir, "third.bin", Array("abcd".utf8))
        _ = try ModelHash.sha256(files: [third], cacheFile: cache)
        let after = try keys()
        XCTAssertEqual(after.count, 2, "the removed file's entry is dropped: \(after)")
        XCTAssertFalse(after.contains { $0.hasSuffix("gone.bin") })
        XCTAssertTrue(after.contains { $0.hasSuffix("kept.bin") })
    }
}
