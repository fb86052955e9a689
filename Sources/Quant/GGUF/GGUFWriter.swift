#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensor

/// Writes a GGUF v3 file tensor by tensor: the header (metadata and tensor infos) first, then each
/// tensor's bytes in the declared order, each padded to the alignment. The file is written under a
/// temporary name and renamed into place by `finish()`, so a stopped run never leaves a partial
/// output under the real name.
public final class GGUFWriter {
    /// One declared tensor.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let type: GGMLType
        /// Shape in numpy / PyTorch order (written reversed, as ggml's dimensions).
        public let shape: [Int]
        public init(name: String, type: GGMLType, shape: [Int]) {
            self.name = name
            self.type = type
            self.shape = shape
        }
        /// Bytes of the data (rows of whole blocks); nil when the last dimension is not whole blocks.
        public var byteCount: Int? {
            let row = shape.last ?? 1
            return type.rowBytes(row).map { $0 * shape.dropLast().reduce(1, *) }
        }
    }

    /// The output path.
    public let path: String
    /// The declared tensors, in file order.
    public let entries: [Entry]
    /// Data alignment.
    public let alignment: Int
    private let temporaryPath: String
    private var fd: Int32
    private var current = 0
    private var finished = false
    private var written = 0

    /// The header bytes of a file with `metadata` (in order) and `entries`, padded to `alignment`.
    /// Throws `TensorError.invalidArgument` for duplicate names, more than 4 dimensions, rows that are
    /// not whole blocks.
    public static func headerBytes(metadata: [(String, GGUFValue)], entries: [Entry], alignment: Int = 32) throws -> [UInt8] {
        var out: [UInt8] = Array("GGUF".utf8)
        GGUFEncoding.append(UInt32(3), to: &out)
        GGUFEncoding.append(UInt64(entries.count), to: &out)
        GGUFEncoding.append(UInt64(metadata.count), to: &out)
        var keys = Set<String>()
        for (key, value) in metadata {
            guard keys.insert(key).inserted else { throw TensorError.invalidArgument("GGUF metadata key '\(key)' given twice") }
            GGUFEncoding.appendString(key, to: &out)
            GGUFEncoding.append(value.type.rawValue, to: &out)
            GGUFEncoding.appendValue(value, to: &out)
        }
        var names = Set<String>()
        var offset = 0
        for e in entries {
            guard names.insert(e.name).inserted else { throw TensorError.invalidArgument("GGUF tensor '\(e.name)' declared twice") }
            guard e.shape.count <= 4, e.shape.allSatisfy({ $0 >= 0 }) else {
                throw TensorError.invalidArgument("GGUF tensor '\(e.name)': shape \(e.shape) (ggml takes at most 4 non-negative dimensions)")
            }
            guard let bytes = e.byteCount else {
                throw TensorError.invalidArgument("GGUF tensor '\(e.name)': rows of \(e.shape.last ?? 1) elements are not whole \(e.type) blocks of \(e.type.blockSize)")
            }
            GGUFEncoding.appendString(e.name, to: &out)
            GGUFEncoding.append(UInt32(e.shape.count), to: &out)
            for d in e.shape.reversed() { GGUFEncoding.append(UInt64(d), to: &out) }
            GGUFEncoding.append(e.type.rawValue, to: &out)
            GGUFEncoding.append(UInt64(offset), to: &out)
            offset += (bytes + alignment - 1) / alignment * alignment
        }
        out += [UInt8](repeating: 0, count: (alignment - out.count % alignment) % alignment)
        return out
    }

    /// Creates the temporary file and writes the header. `metadata` is written in order; when it sets
    /// `general.alignment` (a uint32 power of two) that alignment is used, else 32.
    public init(path: String, metadata: [(String, GGUFValue)], entries: [Entry]) throws {
        var alignment = GGUFHeader.defaultAlignment
        if let a = metadata.first(where: { $0.0 == "general.alignment" })?.1 {
            guard case .uint32(let v) = a, v > 0, v & (v - 1) == 0 else {
                throw TensorError.invalidArgument("general.alignment must be a uint32 power of two, got \(a)")
            }
            alignment = Int(v)
        }
        let header = try GGUFWriter.headerBytes(metadata: metadata, entries: entries, alignment: alignment)
        try OutputPath.check(path)
        SafeTensorsWriter.removeStaleTemporaryFiles(for: path)
        self.path = path
        self.entries = entries
        self.alignment = alignment
        temporaryPath = SafeTensorsWriter.temporaryPath(for: path)
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw TensorError.io(path: temporaryPath, reason: "cannot create: \(errnoText())") }
        do { try header.withUnsafeBytes { try writeAll($0) } } catch { abandon(); throw error }
    }

    deinit { if !finished { abandon() } }

    /// The entry whose bytes are expected next; nil when all were written.
    public var next: Entry? { current < entries.count ? entries[current] : nil }

    /// Appends the whole data of the next declared tensor (`name` must be `next`), then its padding.
    public func append(_ bytes: UnsafeRawBufferPointer, named name: String) throws {
        guard let e = next, e.name == name else {
            throw TensorError.invalidArgument("\(path): expected tensor '\(next?.name ?? "<none>")' next, got '\(name)'")
        }
        guard bytes.count == e.byteCount else {
            throw TensorError.invalidArgument("\(path): '\(name)' (\(e.type) \(e.shape)) needs \(e.byteCount ?? 0) bytes, got \(bytes.count)")
        }
        do {
            if bytes.count > 0 { try writeAll(bytes) }
            let pad = (alignment - bytes.count % alignment) % alignment
            if pad > 0 { try [UInt8](repeating: 0, count: pad).withUnsafeBytes { try writeAll($0) } }
        } catch { abandon(); throw error }
        written += bytes.count
        current += 1
    }

    /// Bytes of tensor data written so far (padding excluded).
    public var dataBytesWritten: Int { written }

    /// Checks that every declared tensor was written, syncs and renames the file into place.
    public func finish() throws {
        guard !finished else { return }
        guard next == nil else {
            let name = next!.name
            abandon()
            throw TensorError.invalidArgument("\(path): finished before tensor '\(name)' was written")
        }
        do {
            if fsync(fd) != 0 { throw TensorError.io(path: temporaryPath, reason: "fsync failed: \(errnoText())") }
            let rc = close(fd)
            fd = -1
            if rc != 0 { throw TensorError.io(path: temporaryPath, reason: "close failed: \(errnoText())") }
            if rename(temporaryPath, path) != 0 {
                throw TensorError.io(path: path, reason: "cannot rename \(temporaryPath) into place: \(errnoText())")
            }
            finished = true
        } catch {
            abandon()
            throw error
        }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw TensorError.io(path: temporaryPath, reason: "write failed: \(errnoText())")
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

/// The text of the current `errno`.
private func errnoText() -> String { String(cString: strerror(errno)) }
