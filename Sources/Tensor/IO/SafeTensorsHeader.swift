/// One tensor's entry in a safetensors header.
public struct SafeTensorsTensorInfo: Equatable, Sendable {
    /// The tensor's name (the header key).
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// The byte range of the data relative to the start of the data section (the header's
    /// `data_offsets`).
    public let dataOffsets: Range<Int>
    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Size of the data in bytes.
    public var byteCount: Int { dataOffsets.count }
}

/// The parsed and validated header of a safetensors file.
///
/// Layout of the format: 8 bytes little-endian `N`, then `N` bytes of UTF-8 JSON (padded with spaces),
/// then the data section. The JSON object maps each tensor name to
/// `{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}` (offsets relative to the data
/// section) and may hold `"__metadata__"`: an object of string values.
public struct SafeTensorsHeader: Sendable {
    /// Largest header accepted, in bytes (the reference implementation's limit).
    public static let maxHeaderSize = 100_000_000

    /// Tensors in file order (ascending data offset, then name).
    public let tensors: [SafeTensorsTensorInfo]
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// Byte offset of the data section from the start of the file (8 + header length).
    public let dataStart: Int

    /// What a file that is not safetensors looks like, from its first bytes, and what to do with it
    /// (a PyTorch checkpoint read as safetensors said "header length 578712552184433488", and users
    /// downloaded it again); nil when it looks like nothing known.
    static func otherFormat(_ file: UnsafeRawBufferPointer) -> String? {
        let head = Array(file.prefix(8))
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            return "a zip archive, as torch.save writes (.pt, .pth, .ckpt, .bin): a PyTorch checkpoint; convert it to "
                + ".safetensors first (safetensors.torch.save_file), this program does not read pickles"
        }
        if head.count >= 2, head[0] == 0x80, (2...5).contains(head[1]) {
            return "a Python pickle (an older PyTorch checkpoint, .pt, .ckpt or .bin); convert it to .safetensors first "
                + "(safetensors.torch.save_file), this program does not read pickles"
        }
        if head.starts(with: Array("GGUF".utf8)) { return "a GGUF file (it loads as a DiT: --dit FILE.gguf)" }
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) || head.starts(with: [0xFF, 0xD8, 0xFF]) { return "a picture (PNG or JPEG)" }
        if head.starts(with: Array("{".utf8)) || head.starts(with: Array("<".utf8)) {
            return "text (JSON or HTML: a config, or an error page saved instead of the download?)"
        }
        return nil
    }

    /// Parses and validates the header at the start of `file` (the complete file's bytes). Every
    /// tensor's byte range is checked to lie inside the data section, so later reads stay in bounds.
    /// Errors are `TensorError.corrupt` / `.unknownDType` naming `path`.
    public init(file: UnsafeRawBufferPointer, path: String) throws {
        func corrupt(_ reason: String) -> TensorError { .corrupt(path: path, reason: reason) }
        guard file.count >= 8 else {
            throw corrupt("file is \(file.count) bytes, shorter than the 8-byte header length")
        }
        var n64: UInt64 = 0
        for i in 0..<8 { n64 |= UInt64(file[i]) << (8 * UInt64(i)) }
        if n64 > UInt64(SafeTensorsHeader.maxHeaderSize) || file.count == 8 || file[8] != UInt8(ascii: "{"), let other = Self.otherFormat(file) {
            throw corrupt("not a safetensors file: \(other)")
        }
        guard n64 <= UInt64(SafeTensorsHeader.maxHeaderSize) else {
            throw corrupt("header length \(n64) exceeds the \(SafeTensorsHeader.maxHeaderSize)-byte limit")
        }
        let n = Int(n64)
        guard n <= file.count - 8 else {
            throw corrupt("header length \(n) exceeds the \(file.count - 8) bytes after the length prefix (truncated file?)")
        }
        let root: JSONValue
        do {
            root = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: file[8..<(8 + n)]))
        } catch let e as JSONParseError {
            throw corrupt("header is not valid JSON: \(e.message) at header byte \(e.offset)")
        }
        guard let entries = root.object else { throw corrupt("header is not a JSON object") }

        dataStart = 8 + n
        let dataSize = file.count - dataStart
        var metadata: [String: String] = [:]
        var tensors: [SafeTensorsTensorInfo] = []
        tensors.reserveCapacity(entries.count)
        // Sorted so that a header with several problems always reports the same one.
        for (name, value) in entries.sorted(by: { $0.key < $1.key }) {
            if name == "__metadata__" {
                guard let m = value.object else { throw corrupt("__metadata__ is not an object") }
                for (k, v) in m.sorted(by: { $0.key < $1.key }) {
                    guard let s = v.string else { throw corrupt("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            tensors.append(try SafeTensorsHeader.entry(name, value, dataSize: dataSize, path: path))
        }
        tensors.sort { ($0.dataOffsets.lowerBound, $0.name) < ($1.dataOffsets.lowerBound, $1.name) }
        try SafeTensorsHeader.checkDisjoint(tensors, path: path)
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Rejects tensors whose bytes overlap (two names for the same data, or ranges that cut into each
    /// other), as the reference implementation does: writing one would change the other, and a
    /// crafted file could make one tensor read another's data. `sorted` is in ascending offset order.
    /// Zero-byte tensors hold no data and may sit anywhere.
    private static func checkDisjoint(_ sorted: [SafeTensorsTensorInfo], path: String) throws {
        var previous: SafeTensorsTensorInfo?
        for t in sorted where !t.dataOffsets.isEmpty {
            if let p = previous, t.dataOffsets.lowerBound < p.dataOffsets.upperBound {
                let how = p.dataOffsets == t.dataOffsets ? "are the same bytes" : "overlap"
                throw TensorError.corrupt(path: path, reason: "tensors '\(p.name)' data_offsets [\(p.dataOffsets.lowerBound), \(p.dataOffsets.upperBound)] and '\(t.name)' data_offsets [\(t.dataOffsets.lowerBound), \(t.dataOffsets.upperBound)] \(how)")
            }
            if previous == nil || t.dataOffsets.upperBound > previous!.dataOffsets.upperBound { previous = t }
        }
    }

    /// Validates one tensor entry.
    private static func entry(_ name: String, _ value: JSONValue, dataSize: Int, path: String) throws -> SafeTensorsTensorInfo {
        func corrupt(_ reason: String) -> TensorError { .corrupt(path: path, reason: "tensor '\(name)': \(reason)") }
        guard let fields = value.object else { throw corrupt("entry is not an object") }
        guard let dtypeName = fields["dtype"]?.string else { throw corrupt("dtype is missing or not a string") }
        guard let dtype = DType(safetensorsName: dtypeName) else {
            throw TensorError.unknownDType(path: path, name: dtypeName)
        }
        guard let shapeValues = fields["shape"]?.array else { throw corrupt("shape is missing or not an array") }
        var shape: [Int] = []
        var count = 1
        for v in shapeValues {
            guard let d = v.int, d >= 0 else { throw corrupt("shape \(JSONValue.array(shapeValues)) has an entry that is not a non-negative integer") }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw corrupt("shape \(JSONValue.array(shapeValues)) has too many elements") }
            shape.append(d)
            count = p
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw corrupt("shape \(shape) has too many elements") }
        guard let offsets = fields["data_offsets"]?.array, offsets.count == 2,
              let begin = offsets[0].int, let end = offsets[1].int else {
            throw corrupt("data_offsets is missing or not two integers")
        }
        guard begin >= 0, end >= begin else { throw corrupt("data_offsets [\(begin), \(end)] are not an ascending non-negative range") }
        guard end <= dataSize else {
            throw corrupt("data_offsets [\(begin), \(end)] extend past the \(dataSize)-byte data section (truncated file?)")
        }
        guard end - begin == expected else {
            throw corrupt("data_offsets [\(begin), \(end)] hold \(end - begin) bytes but \(dtype.safetensorsName) \(shape) needs \(expected)")
        }
        return SafeTensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }
}
