import Tensor

/// A memory-mapped GGUF file (the llama.cpp / ggml format, versions 2 and 3).
///
/// Opening maps the file and parses its header (metadata and tensor infos); no tensor data is read
/// until asked for. `tensor(named:)` returns floats: F32, F16 and BF16 tensors as zero-copy views of
/// the mapping (an aligned copy when the data is not aligned to the element size), quantized ones
/// (Q8_0 ... Q2_K, see `GGMLType.dequantizable`) dequantized block by block into a new f32 tensor,
/// exactly as ggml and the `gguf` Python package define the blocks.
///
/// Shapes are in numpy / PyTorch order, the reverse of ggml's dimensions (`GGUFTensorInfo.shape`).
/// Thread safety: immutable after `init`; read tensors from any thread.
public final class GGUFFile: Sendable {
    /// The path the file was opened with.
    public let path: String
    /// The mapping (shared by every tensor view).
    public let mapping: MappedFile
    /// The validated header.
    public let header: GGUFHeader
    private let index: [String: Int]
    private let metadataIndex: [String: Int]

    /// Maps and validates `path`. Throws `TensorError.io` when the file cannot be opened or mapped and
    /// `TensorError.corrupt` (naming the file and the problem) when it is no GGUF file, is truncated, or
    /// its counts, sizes, types or offsets are inconsistent. After a successful open every tensor's
    /// bytes lie inside the file.
    public init(path: String) throws {
        self.path = path
        mapping = try MappedFile(path: path)
        header = try GGUFHeader(file: mapping.bytes, path: path)
        index = Dictionary(uniqueKeysWithValues: header.tensors.enumerated().map { ($1.name, $0) })
        metadataIndex = Dictionary(uniqueKeysWithValues: header.metadata.enumerated().map { ($1.key, $0) })
    }

    /// True when the first four bytes of the file at `path` are the GGUF magic.
    public static func hasMagic(_ path: String) -> Bool {
        guard let m = try? MappedFile(path: path), m.byteCount >= 4 else { return false }
        return withExtendedLifetime(m) { m.bytes[0..<4].elementsEqual("GGUF".utf8) }
    }

    /// Tensor names in file order.
    public var names: [String] { header.tensors.map(\.name) }
    /// Every tensor's info in file order.
    public var tensorInfos: [GGUFTensorInfo] { header.tensors }
    /// The metadata value of `key`, if any.
    public func metadata(_ key: String) -> GGUFValue? { metadataIndex[key].map { header.metadata[$0].value } }
    /// `general.architecture` (e.g. "flux", "t5encoder"), if present.
    public var architecture: String? { metadata("general.architecture")?.string }

    /// True when the file holds a tensor called `name`.
    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// The info of `name`; throws `TensorError.missingTensor` when absent.
    public func info(named name: String) throws -> GGUFTensorInfo {
        guard let i = index[name] else { throw TensorError.missingTensor(name: name, path: path) }
        return header.tensors[i]
    }

    /// Byte offset of `info`'s data from the start of the file.
    public func fileOffset(of info: GGUFTensorInfo) -> Int { header.dataStart + info.offset }

    /// The stored bytes of `name` (a view into the mapping; valid while this object lives).
    public func bytes(named name: String) throws -> UnsafeRawBufferPointer {
        let info = try info(named: name)
        return UnsafeRawBufferPointer(start: info.byteCount == 0 ? nil : mapping.base! + fileOffset(of: info), count: info.byteCount)
    }

    /// The dtype `tensor(named:)` returns for a stored type: f16/bf16/i8/i32/i64 as stored, f32 for
    /// F32 and every dequantized type; nil for types it cannot read.
    public static func outputDType(_ type: GGMLType) -> DType? {
        switch type {
        case .f16: return .f16
        case .bf16: return .bf16
        case .i8: return .i8
        case .i32: return .i32
        case .i64: return .i64
        default: return type.isDequantizable ? .f32 : nil
        }
    }

    /// The tensor `name`: a view for plain types, dequantized f32 for quantized ones (see the type's
    /// notes). Throws `TensorError.invalidArgument` naming the file for types it cannot read (the
    /// IQ/TQ families, Q8_1, Q8_K, I16, F64).
    public func tensor(named name: String) throws -> Tensor {
        let info = try info(named: name)
        guard let dtype = GGUFFile.outputDType(info.type) else {
            let known = GGMLType.dequantizable.map(\.name).joined(separator: ", ")
            throw TensorError.invalidArgument("\(path): tensor '\(name)' is \(info.type), which is not supported (supported: \(known), I8, I32, I64)")
        }
        let backend = CPUBackend.shared
        let src: UnsafeRawPointer? = info.byteCount == 0 ? nil : mapping.base! + fileOffset(of: info)
        let shape = info.shape
        if dtype != .f32 || info.type == .f32 {
            guard let src else { return Tensor(storage: backend.allocate(byteCount: 0), dtype: dtype, shape: shape) }
            if Int(bitPattern: src) % dtype.byteSize == 0 {
                let storage = Storage(pointer: UnsafeMutableRawPointer(mutating: src), byteCount: info.byteCount,
                                      backend: backend, owner: mapping, release: nil)
                return Tensor(storage: storage, dtype: dtype, shape: shape)
            }
            let storage = backend.allocate(byteCount: info.byteCount)
            storage.pointer.copyMemory(from: src, byteCount: info.byteCount)
            return Tensor(storage: storage, dtype: dtype, shape: shape)
        }
        let storage = backend.allocate(byteCount: info.count * 4)
        if let src {
            try GGUFDequantize.dequantize(info.type, from: src, count: info.count,
                                          into: storage.pointer.assumingMemoryBound(to: Float.self))
        }
        return Tensor(storage: storage, dtype: .f32, shape: shape)
    }

    /// The tensor `name` converted to `dtype` (floating types; the same view when already stored so).
    public func tensor(named name: String, as dtype: DType) throws -> Tensor {
        let t = try tensor(named: name)
        return t.dtype == dtype ? t : t.to(dtype)
    }
}
