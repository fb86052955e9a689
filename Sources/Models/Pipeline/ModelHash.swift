import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensor

/// A1111's short model hash (`Model hash:` in a picture's parameters): the first 10 hex digits of the
/// SHA-256 of the checkpoint file. Here the checkpoint is the DiT: a single `.safetensors` file is
/// hashed as A1111 hashes it; a sharded DiT (an index, or a diffusers `transformer/` folder with
/// several files) is hashed as the concatenation of its shard files in path order, which no other
/// tool computes but is stable.
///
/// Hashing a 12 GB file takes about a minute, so results are kept in a cache file keyed by path, size
/// and modification time (`$XDG_CACHE_HOME/majicflux/model-hashes.json`, else
/// `~/.cache/majicflux/model-hashes.json`): a model is read once, later runs find its hash at once.
public enum ModelHash {
    /// The short hash (10 lowercase hex digits) of the DiT checkpoint at `path` (a `.safetensors`
    /// file, an index, or a folder holding either), from the cache when the files are unchanged.
    /// `cacheFile` nil: no cache. Throws when a file cannot be read.
    public static func shortHash(checkpoint path: String, cacheFile: String? = defaultCacheFile) throws -> String {
        String(try checkpointSHA256(path, cacheFile: cacheFile).prefix(shortLength))
    }

    /// The whole SHA-256 (64 lowercase hex digits) behind `shortHash`: what A1111 lists as a
    /// checkpoint's `sha256`.
    public static func checkpointSHA256(_ path: String, cacheFile: String? = defaultCacheFile) throws -> String {
        let files = isGGUF(path) ? [path] : try SafeTensorsCheckpoint(path: path).shardPaths.sorted()
        return try sha256(files: files, cacheFile: cacheFile)
    }

    /// Hex digits of A1111's short hash.
    public static let shortLength = 10

    /// The full SHA-256 (hex) of the files' concatenated bytes, from the cache when every file still
    /// has the size and modification time recorded there.
    public static func sha256(files: [String], cacheFile: String?) throws -> String {
        let stamps = try files.map { try stamp($0) }
        let key = files.map(absolute).joined(separator: "\n")
        let signature = stamps.map { "\($0.size):\($0.mtime)" }.joined(separator: ",")
        if let cacheFile, let hit = cacheLock.withLock({ _ in readCache(cacheFile)[key] }),
           hit["stamp"]?.string == signature, let hex = hit["sha256"]?.string {
            return hex
        }
        var hasher = SHA256()
        for f in files { try feed(f, into: &hasher) }
        let hex = SHA256.hex(hasher.finalize())
        if let cacheFile {
            cacheLock.withLock { _ in
                var cache = readCache(cacheFile)  // re-read: another process may have added entries
                // Entries of files that are gone (deleted models, temporary files) are dropped, so the
                // cache holds only what can still be looked up.
                cache = cache.filter { entry in
                    entry.key.split(separator: "\n").allSatisfy { access(String($0), F_OK) == 0 }
                }
                cache[key] = .object(["stamp": .string(signature), "sha256": .string(hex)])
                writeCache(cache, to: cacheFile)
            }
        }
        return hex
    }

    /// `model-hashes.json` in the `CacheFolder` (`$MAJICFLUX_CACHE_DIR`, else `$XDG_CACHE_HOME/majicflux`,
    /// else `$HOME/.cache/majicflux`); nil when none is set.
    public static var defaultCacheFile: String? { CacheFolder.root.map { $0 + "/model-hashes.json" } }

    private static let cacheLock = Locked(())

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    private static func stamp(_ path: String) throws -> (size: Int64, mtime: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ModelError.missingFile(path: path, what: "model file to hash") }
        return (Int64(st.st_size), "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)")
    }

    private static func feed(_ path: String, into hasher: inout SHA256) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ModelError.missingFile(path: path, what: "model file to hash") }
        defer { close(fd) }
        let size = 8 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, size)
            if n == 0 { return }
            if n < 0 {
                if errno == EINTR { continue }
                throw ModelError.invalidParameter("reading \(path) to hash it failed (errno \(errno))")
            }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    private static func readCache(_ file: String) -> [String: JSONValue] {
        guard let data = FileManager.default.contents(atPath: file),
              let json = try? JSONValue.parse([UInt8](data)) else { return [:] }
        return json.object ?? [:]
    }

    /// Best effort: a cache that cannot be written only costs hashing again.
    private static func writeCache(_ cache: [String: JSONValue], to file: String) {
        let dir = String(file[..<(file.lastIndex(of: "/") ?? file.startIndex)])
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let text = JSONValue.object(cache).serialized(pretty: true)
        try? Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
    }
}

/// A model hash computed once in the background, so that loading a model does not wait for a
/// 12 GB read. `value` never blocks; `wait()` does (call it from a thread of your own, not from an
/// async task).
// unchecked: the result lives in `state` (a `Locked`); `mutex` and `done` are set in init, never reassigned, and only used through pthread calls.
public final class ModelHashTask: @unchecked Sendable {
    private let state = Locked<String??>(nil)
    /// Checkpoint tasks compute the whole SHA-256 and show its first `shortLength` digits as `value`.
    private let shortLength: Int?
    private let done: UnsafeMutablePointer<pthread_cond_t>
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    /// Starts hashing the DiT checkpoint at `path` (see `ModelHash.shortHash`) in the background.
    public convenience init(checkpoint path: String, cacheFile: String? = ModelHash.defaultCacheFile) {
        self.init(shortLength: ModelHash.shortLength) { try? ModelHash.checkpointSHA256(path, cacheFile: cacheFile) }
    }

    /// Starts `compute` on a Dispatch worker thread (not Swift concurrency's pool, so a `wait()` from
    /// a task cannot starve it); `value` is its result.
    public convenience init(_ compute: @escaping @Sendable () -> String?) {
        self.init(shortLength: nil, compute)
    }

    private init(shortLength: Int?, _ compute: @escaping @Sendable () -> String?) {
        self.shortLength = shortLength
        done = .allocate(capacity: 1)
        done.initialize(to: pthread_cond_t())
        pthread_cond_init(done, nil)
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        DispatchQueue.global(qos: .utility).async { [self] in
            let hash = compute()
            pthread_mutex_lock(mutex)
            state.withLock { $0 = .some(hash) }
            pthread_cond_broadcast(done)
            pthread_mutex_unlock(mutex)
        }
    }

    deinit {
        pthread_cond_destroy(done)
        done.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// The hash if it is ready (nil while hashing, or when the files could not be read): for a
    /// checkpoint, A1111's short hash.
    public var value: String? { shortened(state.withLock { $0 ?? nil }) }

    /// A checkpoint's whole SHA-256 once ready (nil for tasks made with a `compute` of their own).
    public var sha256: String? { shortLength == nil ? nil : state.withLock { $0 ?? nil } }

    private func shortened(_ hash: String?) -> String? { shortLength.flatMap { n in hash.map { String($0.prefix(n)) } } ?? hash }

    /// Whether hashing has finished (successfully or not).
    public var isFinished: Bool { state.withLock { $0 != nil } }

    /// Waits for the hash; nil when the files could not be read.
    public func wait() -> String? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !isFinished { pthread_cond_wait(done, mutex) }
        return value
    }
}
