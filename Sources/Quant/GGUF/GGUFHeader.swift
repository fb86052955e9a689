import Tensor

/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name.
    public let name: String
    /// ggml's dimensions, innermost (row length) first: `ne[0]`, `ne[1]`, ...
    public let dimensions: [Int]
    /// The stored type.
    public let type: GGMLType
    /// Offset of the data from the start of the data section (a multiple of the alignment).
    public let offset: Int
    /// Bytes of the data.
    public let byteCount: Int

    /// The shape in numpy / PyTorch order (`dimensions` reversed): a Linear weight stored with
    /// `ne = [in, out]` has shape `[out, in]`.
    public var shape: [Int] { dimensions.reversed() }
    /// Number of elements.
    public var count: Int { dimensions.reduce(1, *) }
}

/// The parsed and validated header of a GGUF file (versions 2 and 3).
///
/// Layout: magic `GGUF`, u32 version, u64 tensor count, u64 metadata count; the metadata
/// (string key, u32 value type, value); the tensor infos (string name, u32 dimension count, u64 per
/// dimension, u32 ggml type, u64 offset); padding to `general.alignment` (default 32); the data
/// section. Strings are a u64 byte length and UTF-8 bytes; everything is little-endian.
public struct GGUFHeader: Sendable {
    /// Largest header (metadata and tensor infos) accepted, in bytes: like safetensors' limit, it keeps
    /// a corrupt count from making the reader allocate without end.
    public static let maxHeaderSize = 100_000_000
    /// The alignment when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// The format version (2 or 3).
    public let version: Int
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// Data alignment (`general.alignment`).
    public let alignment: Int
    /// Byte offset of the data section from the start of the file.
    public let dataStart: Int

    /// Parses and validates the header at the start of `file` (the complete file's bytes). Every
    /// tensor's bytes are checked to lie inside the file and not to overlap another's. Errors are
    /// `TensorError.corrupt` naming `path` and the problem.
    public init(file: UnsafeRawBufferPointer, path: String) throws {
        var r = GGUFReader(bytes: file, path: path)
        guard file.count >= 4 else { throw r.corrupt("file is \(file.count) bytes, too short for the GGUF magic") }
        let magic = try r.take(4)
        guard magic.elementsEqual("GGUF".utf8) else {
            let shown = magic.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
            throw r.corrupt("not a GGUF file: it starts with '\(shown)', not 'GGUF'")
        }
        let version = try r.u32("version")
        if version == 1 { throw r.corrupt("GGUF version 1 (32-bit counts, 2023) is not supported; convert the file again") }
        if version & 0xFFFF == 0 && version != 0 {
            throw r.corrupt("big-endian GGUF (version read as \(version)) is not supported")
        }
        guard version == 2 || version == 3 else { throw r.corrupt("unsupported GGUF version \(version) (2 and 3 are read)") }
        self.version = Int(version)
        let tensorCount = try r.count("tensor count", minimumSize: 24)
        let kvCount = try r.count("metadata count", minimumSize: 13)

        var metadata: [(key: String, value: GGUFValue)] = []
        var keys = Set<String>()
        metadata.reserveCapacity(kvCount)
        for i in 0..<kvCount {
            let key = try r.string("key of metadata entry \(i)")
            guard keys.insert(key).inserted else { throw r.corrupt("metadata key '\(key)' appears twice") }
            let type = try r.valueType("metadata '\(key)'")
            metadata.append((key, try r.value(type, what: "metadata '\(key)'", depth: 0)))
            try r.checkHeaderSize()
        }
        var alignment = GGUFHeader.defaultAlignment
        if let a = metadata.first(where: { $0.key == "general.alignment" })?.value {
            guard case .uint32(let v) = a else { throw r.corrupt("general.alignment is a \(a.type), not a uint32") }
            guard v > 0, v & (v - 1) == 0 else { throw r.corrupt("general.alignment \(v) is not a power of two") }
            alignment = Int(v)
        }

        var infos: [GGUFTensorInfo] = []
        var names = Set<String>()
        infos.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let name = try r.string("name of tensor \(i)")
            guard names.insert(name).inserted else { throw r.corrupt("tensor '\(name)' appears twice") }
            func bad(_ reason: String) -> TensorError { r.corrupt("tensor '\(name)': \(reason)") }
            let nDims = try r.u32("dimension count of '\(name)'")
            guard nDims <= 4 else { throw bad("\(nDims) dimensions (ggml has at most 4)") }
            var dims: [Int] = []
            var count = 1
            for _ in 0..<nDims {
                let d = try r.u64("dimension of '\(name)'")
                guard d <= UInt64(Int.max) else { throw bad("dimension \(d) is out of range") }
                dims.append(Int(d))
            }
            for d in dims {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw bad("dimensions \(dims) have too many elements") }
                count = p
            }
            let rawType = try r.u32("type of '\(name)'")
            guard let type = GGMLType(rawValue: rawType) else { throw bad("unknown ggml tensor type \(rawType)") }
            let rowLength = dims.first ?? 1
            guard let rowBytes = type.rowBytes(rowLength) else {
                throw bad("rows of \(rowLength) elements are not whole \(type) blocks of \(type.blockSize)")
            }
            let rows = rowLength == 0 ? 0 : count / rowLength
            let (byteCount, o) = rowBytes.multipliedReportingOverflow(by: rows)
            guard !o else { throw bad("dimensions \(dims) have too many bytes") }
            let offset = try r.u64("offset of '\(name)'")
            guard offset <= UInt64(Int.max) else { throw bad("offset \(offset) is out of range") }
            guard Int(offset) % alignment == 0 else { throw bad("offset \(offset) is not a multiple of the alignment \(alignment)") }
            infos.append(GGUFTensorInfo(name: name, dimensions: dims, type: type, offset: Int(offset), byteCount: byteCount))
            try r.checkHeaderSize()
        }
        // The data section starts at the next multiple of the alignment.
        let start = (r.position + alignment - 1) / alignment * alignment
        dataStart = start
        let dataSize = Swift.max(0, file.count - start)
        // Zero-byte tensors too: an offset past the data section is a corrupt entry even with nothing to read.
        for t in infos {
            let (end, o) = t.offset.addingReportingOverflow(t.byteCount)
            guard !o, end <= dataSize else {
                throw r.corrupt("tensor '\(t.name)' (\(t.type) \(t.shape), \(t.byteCount) bytes at data offset \(t.offset)) extends past the \(dataSize)-byte data section (truncated file?)")
            }
        }
        try GGUFHeader.checkDisjoint(infos, path: path)
        self.metadata = metadata
        self.tensors = infos
        self.alignment = alignment
    }

    /// Refuses tensors whose bytes overlap: a crafted file could otherwise make one tensor read another's data.
    private static func checkDisjoint(_ infos: [GGUFTensorInfo], path: String) throws {
        let sorted = infos.filter { $0.byteCount > 0 }.sorted { ($0.offset, $0.name) < ($1.offset, $1.name) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.offset < a.offset + a.byteCount {
            throw TensorError.corrupt(path: path, reason: "tensors '\(a.name)' (data offset \(a.offset), \(a.byteCount) bytes) and '\(b.name)' (data offset \(b.offset)) overlap")
        }
    }
}

/// A bounds-checked little-endian cursor over a file's bytes: every read checks what is left first,
/// so a lying length or count fails with the position instead of reading past the end.
struct GGUFReader {
    let file: UnsafeRawBufferPointer
    let path: String
    private(set) var position = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.file = bytes
        self.path = path
    }

    var remaining: Int { file.count - position }

    func corrupt(_ reason: String) -> TensorError { .corrupt(path: path, reason: reason) }

    /// `n` bytes, or a "truncated" error naming `what`.
    mutating func take(_ n: Int, _ what: String = "header") throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else {
            throw corrupt("\(what) needs \(n) bytes at byte \(position), but the file has \(remaining) left (truncated?)")
        }
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: file[position..<(position + n)])
    }

    mutating func u32(_ what: String) throws -> UInt32 {
        UInt32(littleEndian: try take(4, what).loadUnaligned(as: UInt32.self))
    }

    mutating func u64(_ what: String) throws -> UInt64 {
        UInt64(littleEndian: try take(8, what).loadUnaligned(as: UInt64.self))
    }

    /// A u64 count of items that take at least `minimumSize` bytes each: refused when the rest of the
    /// file could not hold that many (before anything is allocated for them).
    mutating func count(_ what: String, minimumSize: Int) throws -> Int {
        let at = position
        let n = try u64(what)
        guard n <= UInt64(remaining / Swift.max(minimumSize, 1)) else {
            throw corrupt("\(what) \(n) at byte \(at) is more than the \(remaining) bytes left can hold (truncated or corrupt file?)")
        }
        return Int(n)
    }

    /// A u64-length UTF-8 string.
    mutating func string(_ what: String) throws -> String {
        let at = position
        let n = try u64("length of \(what)")
        guard n <= UInt64(remaining) else {
            throw corrupt("\(what) at byte \(at) claims \(n) bytes, but the file has \(remaining) left (truncated?)")
        }
        let b = try take(Int(n), what)
        let s = String(decoding: b, as: UTF8.self)
        guard s.utf8.elementsEqual(b) else { throw corrupt("\(what) at byte \(at) is not valid UTF-8") }
        return s
    }

    mutating func valueType(_ what: String) throws -> GGUFValueType {
        let raw = try u32("value type of \(what)")
        guard let t = GGUFValueType(rawValue: raw) else { throw corrupt("\(what) has unknown value type \(raw)") }
        return t
    }

    /// One value of `type`; arrays nest at most 4 deep.
    mutating func value(_ type: GGUFValueType, what: String, depth: Int) throws -> GGUFValue {
        if let size = type.fixedSize {
            return GGUFEncoding.scalar(type, at: try take(size, what).baseAddress!)
        }
        if type == .string { return .string(try string(what)) }
        guard depth < 4 else { throw corrupt("\(what): arrays nested more than 4 deep") }
        let elementType = try valueType("elements of \(what)")
        let n = try count("element count of \(what)", minimumSize: elementType.minimumSize)
        if let size = elementType.fixedSize {
            let raw = try take(n * size, what)
            return .array(GGUFArray(elementType: elementType, count: n, raw: Array(raw)))
        }
        var values: [GGUFValue] = []
        values.reserveCapacity(n)
        for i in 0..<n {
            values.append(try value(elementType, what: "\(what)[\(i)]", depth: depth + 1))
            if i & 0xFFF == 0 { try checkHeaderSize() }
        }
        return .array(GGUFArray(elementType: elementType, values: values))
    }

    /// Refuses headers beyond `GGUFHeader.maxHeaderSize`.
    func checkHeaderSize() throws {
        guard position <= GGUFHeader.maxHeaderSize else {
            throw corrupt("header runs past \(GGUFHeader.maxHeaderSize) bytes (a corrupt count?)")
        }
    }
}
