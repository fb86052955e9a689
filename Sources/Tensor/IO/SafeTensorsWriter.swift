#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `write(2)`, reachable from inside a type that has its own `write` method.
private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

/// Writes a safetensors file as a stream with bounded memory: the writer itself buffers at most 1 MiB
/// (larger chunks go straight to the file), so a 24 GB checkpoint can be converted one tensor, or one
/// chunk of a tensor, at a time.
///
/// Declare every tensor (name, dtype, shape) up front so the header can be written first, then append
/// each tensor's bytes in declaration order, whole (`append(_:named:)`) or in chunks
/// (`appendBytes(_:)`); every byte count is checked against the declaration. `finish()` flushes,
/// `fsync`s and renames the temporary file `<path>.partial-<pid>` onto `path`, so a failure or an
/// abandoned writer never leaves a half-written file under the final name (the temporary file is
/// removed when the writer dies unfinished).
///
/// Data are laid out in declaration order without gaps (as the format requires). A tensor is aligned
/// to its element size only when the bytes before it are: declare wider dtypes first, e.g. with
/// `SafeTensorsWriter.alignedOrder(_:)`. The header is padded with spaces to a multiple of 8 bytes,
/// as the reference implementation does.
public final class SafeTensorsWriter {
    /// A tensor to be written.
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public init(name: String, dtype: DType, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }
        /// Size of the data in bytes.
        public var byteCount: Int { shape.reduce(1, *) * dtype.byteSize }
    }

    /// The final path.
    public let path: String
    /// The declared tensors in file order.
    public let entries: [Entry]
    private let temporaryPath: String
    private var fd: Int32
    private var current = 0
    private var remaining: Int
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    private var finished = false

    /// `entries` sorted by element size, widest first (stable otherwise), so every tensor starts at a
    /// multiple of its element size.
    public static func alignedOrder(_ entries: [Entry]) -> [Entry] {
        entries.enumerated().sorted { a, b in
            (a.element.dtype.byteSize, -a.offset) > (b.element.dtype.byteSize, -b.offset)
        }.map(\.element)
    }

    /// The header bytes (length prefix, JSON, space padding) for `entries` and `metadata`.
    public static func headerBytes(_ entries: [Entry], metadata: [String: String]) -> [UInt8] {
        var object: [String: JSONValue] = [:]
        if !metadata.isEmpty { object["__metadata__"] = .object(metadata.mapValues { .string($0) }) }
        var offset = 0
        for e in entries {
            object[e.name] = .object([
                "dtype": .string(e.dtype.safetensorsName),
                "shape": .array(e.shape.map { .int($0) }),
                "data_offsets": .array([.int(offset), .int(offset + e.byteCount)]),
            ])
            offset += e.byteCount
        }
        var json = Array(JSONValue.object(object).serialized().utf8)
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        let n = UInt64(json.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + json
    }

    /// The temporary name a writer of `path` in this process writes to before renaming.
    public static func temporaryPath(for path: String) -> String { "\(path).partial-\(getpid())" }

    /// Deletes `<path>.partial-<pid>` files that writers of `path` left behind in processes that no
    /// longer exist (killed, or crashed before cleaning up); those of live processes are kept. Returns
    /// the paths deleted.
    @discardableResult
    public static func removeStaleTemporaryFiles(for path: String) -> [String] {
        let folder = OutputPath.parentFolder(path)
        let base = String(path.split(separator: "/", omittingEmptySubsequences: true).last ?? Substring(path)) + ".partial-"
        guard let dir = opendir(folder) else { return [] }
        defer { closedir(dir) }
        var removed: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name.hasPrefix(base), let pid = Int32(name.dropFirst(base.count)), pid > 0, pid != getpid() else { continue }
            // ESRCH: no such process. EPERM means it exists under another user: keep its file.
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
            let stale = folder == "/" ? "/" + name : folder + "/" + name
            if unlink(stale) == 0 { removed.append(stale) }
        }
        return removed
    }

    /// Creates the temporary file and writes the header. Throws `TensorError.invalidArgument` for
    /// duplicate or reserved names, negative dimensions, and `TensorError.io` when `path` cannot be the
    /// output (`OutputPath.check`: a folder, a missing or read-only folder) or the file cannot be
    /// created or written. Temporary files of dead writers of `path` are removed first.
    public init(path: String, entries: [Entry], metadata: [String: String] = [:]) throws {
        var seen = Set<String>()
        for e in entries {
            guard e.name != "__metadata__", seen.insert(e.name).inserted else {
                throw TensorError.invalidArgument("\(path): tensor name '\(e.name)' is reserved or declared twice")
            }
            guard e.shape.allSatisfy({ $0 >= 0 }) else {
                throw TensorError.invalidArgument("\(path): tensor '\(e.name)' has negative dimension in \(e.shape)")
            }
        }
        try OutputPath.check(path)
        SafeTensorsWriter.removeStaleTemporaryFiles(for: path)
        self.path = path
        self.entries = entries
        temporaryPath = SafeTensorsWriter.temporaryPath(for: path)
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw TensorError.io(path: temporaryPath, reason: "cannot create: \(MappedFile.errnoText())") }
        remaining = entries.first?.byteCount ?? 0
        buffer.reserveCapacity(bufferLimit)
        do {
            try SafeTensorsWriter.headerBytes(entries, metadata: metadata).withUnsafeBytes { try write($0) }
        } catch {
            abandon()
            throw error
        }
    }

    deinit { if !finished { abandon() } }

    /// The entry whose bytes are expected next; nil when all data have been written.
    public var next: Entry? { current < entries.count ? entries[current] : nil }

    /// Appends the next bytes of the current tensor (`next`). A chunk may not run past the end of the
    /// current tensor. Tensors of zero bytes need no data: they are skipped when bytes arrive.
    public func appendBytes(_ bytes: UnsafeRawBufferPointer) throws {
        skipEmpty(until: nil)
        guard let e = next else {
            throw TensorError.invalidArgument("\(path): \(bytes.count) bytes appended after all declared tensors")
        }
        guard bytes.count <= remaining else {
            throw TensorError.invalidArgument("\(path): \(bytes.count) bytes appended to '\(e.name)', which has \(remaining) bytes left of \(e.byteCount)")
        }
        try write(bytes)
        remaining -= bytes.count
        if remaining == 0 { advance() }
    }

    /// Appends the whole tensor `name`, which must be `next` (or follow only zero-byte tensors) with the
    /// declared dtype and shape. Strided views are made contiguous and device tensors are copied to the
    /// host in chunks.
    public func append(_ tensor: Tensor, named name: String) throws {
        skipEmpty(until: name)
        guard let e = next, e.name == name else {
            throw TensorError.invalidArgument("\(path): expected tensor '\(next?.name ?? "<none>")' next, got '\(name)'")
        }
        guard remaining == e.byteCount else {
            throw TensorError.invalidArgument("\(path): '\(name)' already has \(e.byteCount - remaining) bytes appended")
        }
        guard tensor.dtype == e.dtype, tensor.shape == e.shape else {
            throw TensorError.invalidArgument("\(path): '\(name)' declared \(e.dtype) \(e.shape), got \(tensor.dtype) \(tensor.shape)")
        }
        if e.byteCount == 0 { advance(); return }
        let c = tensor.contiguous()
        let start = c.offset * c.dtype.byteSize
        if c.device == .cpu {
            try appendBytes(UnsafeRawBufferPointer(start: c.storage.pointer + start, count: c.byteCount))
            return
        }
        let chunk = 1 << 24
        var host = [UInt8](repeating: 0, count: min(chunk, c.byteCount))
        var done = 0
        while done < c.byteCount {
            let n = min(chunk, c.byteCount - done)
            try host.withUnsafeMutableBytes { h in
                c.backend.download(c.storage, byteOffset: start + done, count: n, into: h.baseAddress!)
                try appendBytes(UnsafeRawBufferPointer(rebasing: h[0..<n]))
            }
            done += n
        }
    }

    /// Checks that every declared byte was written, flushes, syncs and renames the file into place.
    public func finish() throws {
        guard !finished else { return }
        skipEmpty(until: nil)
        guard next == nil else {
            let e = next!
            let reason = "finished before all data were written: '\(e.name)' has \(remaining) of \(e.byteCount) bytes missing"
            abandon()
            throw TensorError.invalidArgument("\(path): \(reason)")
        }
        do {
            try flush()
            if fsync(fd) != 0 { throw TensorError.io(path: temporaryPath, reason: "fsync failed: \(MappedFile.errnoText())") }
            let rc = close(fd)
            fd = -1
            if rc != 0 { throw TensorError.io(path: temporaryPath, reason: "close failed: \(MappedFile.errnoText())") }
            if rename(temporaryPath, path) != 0 {
                throw TensorError.io(path: path, reason: "cannot rename \(temporaryPath) into place: \(MappedFile.errnoText())")
            }
            finished = true
        } catch {
            abandon()
            throw error
        }
    }

    /// Moves to the next declared tensor.
    private func advance() {
        current += 1
        remaining = next?.byteCount ?? 0
    }

    /// Moves past declared tensors of zero bytes, stopping at one called `name`.
    private func skipEmpty(until name: String?) {
        while let e = next, e.byteCount == 0, e.name != name { advance() }
    }

    /// Buffers small writes; writes large ones straight through.
    private func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count <= bufferLimit {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        if bytes.count <= bufferLimit { buffer.append(contentsOf: bytes) } else { try writeAll(bytes) }
    }

    private func flush() throws {
        if buffer.isEmpty { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = systemWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw TensorError.io(path: temporaryPath, reason: "write failed: \(MappedFile.errnoText())")
            }
            done += n
        }
    }

    /// Closes and deletes the temporary file.
    private func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
        finished = true
    }
}

extension SafeTensorsWriter {
    /// Writes `tensors` (in alignment order, see `alignedOrder(_:)`) and `metadata` to `path`.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to path: String) throws {
        let byName = Dictionary(tensors, uniquingKeysWith: { first, _ in first })
        let entries = alignedOrder(tensors.map { Entry(name: $0.0, dtype: $0.1.dtype, shape: $0.1.shape) })
        let writer = try SafeTensorsWriter(path: path, entries: entries, metadata: metadata)
        for e in entries { try writer.append(byName[e.name]!, named: e.name) }
        try writer.finish()
    }

    /// Writes `tensors` (sorted by element size, then name) and `metadata` to `path`.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        try write(tensors.sorted { $0.key < $1.key }, metadata: metadata, to: path)
    }
}
