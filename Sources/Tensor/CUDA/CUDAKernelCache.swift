#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The compiled kernel module kept on disk between processes, so a process start does not run NVRTC
/// over every kernel again (issue 21: cold start). No CUDA call is made here: `CUDABackend` compiles
/// and loads (CUDABackend+Module.swift), this type only names, reads and writes the files.
///
/// One file per image, `<folder>/<32 hex digits>.<cubin|ptx>`, the digits a hash of everything that
/// makes the image (`Key`). The file starts with a header (`headerBytes`: magic, format version, image
/// kind, the key, payload length, payload checksum), so a missing, truncated, corrupt or foreign file
/// reads as a miss; the caller then compiles and writes it again. Files are written whole under a
/// temporary name and renamed into place (`AtomicWrite`), so a reader never sees half of one.
public struct CUDAKernelCache: Sendable, Equatable {
    /// Where the files go (made, with its parents, on the first write).
    public let folder: String

    public init(folder: String) { self.folder = folder }

    /// `cuda` in the `CacheFolder` (`$MAJICFLUX_CACHE_DIR/cuda`, else `$XDG_CACHE_HOME/majicflux/cuda`,
    /// else `$HOME/.cache/majicflux/cuda`); nil when none of them is set (no disk cache).
    public static var defaultFolder: String? { CacheFolder.root.map { $0 + "/cuda" } }

    /// What a module image holds: machine code for one GPU architecture, or PTX the driver compiles.
    public enum ImageKind: String, Sendable, CaseIterable {
        case cubin, ptx
        var code: UInt32 { self == .cubin ? 1 : 2 }
    }

    /// The name of one image: a 128-bit hash of the kernel source, the compile target and options,
    /// the compiler's version and the image kind (any change gives another file).
    public struct Key: Hashable, Sendable {
        public let high: UInt64
        public let low: UInt64
        public let kind: ImageKind

        public init(source: String, target: String, options: [String], compiler: String, kind: ImageKind) {
            // Each field with its length first, so moving text from one field to the next changes the key.
            var fields = [source, target, compiler, kind.rawValue, "format \(CUDAKernelCache.formatVersion)"] + options
            fields.insert("\(fields.count)", at: 0)
            var a = FNV1a(basis: 0xcbf2_9ce4_8422_2325), b = FNV1a(basis: 0x6c62_272e_07bb_0142)
            for field in fields {
                let utf8 = Array(field.utf8)
                withUnsafeBytes(of: UInt64(utf8.count).littleEndian) { a.add($0); b.add($0) }
                utf8.withUnsafeBytes { a.add($0); b.add($0) }
                // The second hash also sees every field backwards: not a function of the first.
                b.add(utf8.reversed())
            }
            high = a.value
            low = b.value
            self.kind = kind
        }

        /// The file name: 32 hex digits and the kind ("….cubin").
        public var fileName: String { Self.hex(high) + Self.hex(low) + "." + kind.rawValue }

        static func hex(_ v: UInt64) -> String {
            let digits = String(v, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
    }

    /// The header's size: magic (8), format version (4), kind (4), key (16), payload length (8),
    /// payload checksum (8).
    public static let headerBytes = 48
    static let magic: [UInt8] = Array("MJFXCUDA".utf8)
    static let formatVersion: UInt32 = 1

    /// The file `key` is kept in.
    public func path(for key: Key) -> String { folder + "/" + key.fileName }

    /// The image stored for `key`, or nil when there is none or the file is not a whole, intact image
    /// made for this key (wrong magic, version, kind or key; length or checksum not matching).
    public func load(_ key: Key) -> [UInt8]? {
        guard let file = try? MappedFile(path: path(for: key)) else { return nil }
        return Self.decode(file.bytes, key: key)
    }

    /// Writes `image` for `key`; throws `TensorError.io` naming the file when the folder cannot be made
    /// or the file cannot be written.
    public func store(_ image: [UInt8], for key: Key) throws {
        try Self.makeFolders(folder)
        try AtomicWrite.write(Self.encode(image, key: key), to: path(for: key))
    }

    /// `store`, with a failure turned into the one-line notice to show (nil when written): a cache
    /// that cannot be written only costs the next start its compile.
    public func save(_ image: [UInt8], for key: Key) -> String? {
        do {
            try store(image, for: key)
            return nil
        } catch {
            return "note: the compiled CUDA kernels cannot be cached on disk (\(error)); every start compiles them"
        }
    }

    /// Removes the file of `key` (an image the driver refused); no error when there is none.
    public func remove(_ key: Key) { unlink(path(for: key)) }

    /// The file's bytes: header, then `image`.
    static func encode(_ image: [UInt8], key: Key) -> [UInt8] {
        var out = magic
        out.reserveCapacity(headerBytes + image.count)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(formatVersion)
        put(key.kind.code)
        put(key.high)
        put(key.low)
        put(UInt64(image.count))
        put(checksum(image))
        out.append(contentsOf: image)
        return out
    }

    /// The image in `bytes` when they are a whole file of `key` (see `load`).
    static func decode(_ bytes: UnsafeRawBufferPointer, key: Key) -> [UInt8]? {
        guard bytes.count >= headerBytes, Array(bytes[0..<8]) == magic else { return nil }
        func get<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            var v: T = 0
            withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + MemoryLayout<T>.size)])) }
            return T(littleEndian: v)
        }
        guard get(8, UInt32.self) == formatVersion, get(12, UInt32.self) == key.kind.code,
              get(16, UInt64.self) == key.high, get(24, UInt64.self) == key.low,
              get(32, UInt64.self) == UInt64(bytes.count - headerBytes) else { return nil }
        let image = Array(bytes[headerBytes...])
        return checksum(image) == get(40, UInt64.self) ? image : nil
    }

    /// FNV-1a (64 bits) of the payload: catches torn and flipped bytes (not an attacker: the folder
    /// is the user's own).
    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        var h = FNV1a(basis: 0xcbf2_9ce4_8422_2325)
        bytes.withUnsafeBytes { h.add($0) }
        return h.value
    }

    /// `mkdir -p`: every missing folder of `path` (0755).
    static func makeFolders(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw TensorError.io(path: path, reason: "cannot make the folder \(prefix): \(MappedFile.errnoText())")
            }
        }
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw TensorError.io(path: path, reason: "not a folder")
        }
    }
}

/// 64-bit FNV-1a over bytes fed in pieces.
struct FNV1a {
    private(set) var value: UInt64
    init(basis: UInt64) { value = basis }
    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        value = h
    }
    mutating func add<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        var h = value
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        value = h
    }
}
