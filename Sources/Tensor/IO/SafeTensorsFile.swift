/// A memory-mapped safetensors file.
///
/// Opening maps the file and parses its header; it reads no tensor data (the kernel pages data in
/// when a tensor is first touched), so opening a 24 GB checkpoint costs about as much as reading its
/// JSON header. `tensor(named:)` returns a zero-copy view: a `Tensor` on `CPUBackend.shared` whose
/// `Storage` points into the mapping and keeps it alive through `Storage.owner`; the mapping is
/// unmapped when the file object and every tensor borrowing it are gone.
///
/// Such views are read-only memory: kernels never write into their inputs, but code that writes
/// through `rawPointer` of a mapped tensor crashes.
///
/// Alignment: `data_offsets` are not guaranteed to be multiples of the element size (files written by
/// the reference implementation are aligned, hand-made ones need not be). Kernels read through typed
/// pointers, so a tensor whose address is not a multiple of its element size is returned as an
/// aligned heap copy instead of a view (`isZeroCopy(_:)` tells which).
///
/// Thread safety: the object is immutable after `init`; read tensors from any thread.
public final class SafeTensorsFile: Sendable {
    /// The path the file was opened with.
    public let path: String
    /// The mapping (shared by every tensor view).
    public let mapping: MappedFile
    /// The validated header.
    public let header: SafeTensorsHeader
    private let index: [String: Int]

    /// Maps and validates `path`. Throws `TensorError.io` when the file cannot be opened or mapped, and
    /// `TensorError.corrupt` / `.unknownDType` when its header is malformed or inconsistent with the
    /// file size. After a successful open every tensor's bytes lie inside the file.
    public init(path: String) throws {
        self.path = path
        mapping = try MappedFile(path: path)
        header = try SafeTensorsHeader(file: mapping.bytes, path: path)
        var index: [String: Int] = [:]
        for (i, t) in header.tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    /// Tensor names in file order (ascending data offset): reading in this order walks the file
    /// sequentially.
    public var names: [String] { header.tensors.map(\.name) }

    /// Every tensor's entry in file order.
    public var tensorInfos: [SafeTensorsTensorInfo] { header.tensors }

    /// The `__metadata__` map (empty when the file has none).
    public var metadata: [String: String] { header.metadata }

    /// True when the file holds a tensor called `name`.
    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// The header entry of `name`; throws `TensorError.missingTensor` when absent.
    public func info(named name: String) throws -> SafeTensorsTensorInfo {
        guard let i = index[name] else { throw TensorError.missingTensor(name: name, path: path) }
        return header.tensors[i]
    }

    /// Byte offset of `info`'s data from the start of the file.
    public func fileOffset(of info: SafeTensorsTensorInfo) -> Int { header.dataStart + info.dataOffsets.lowerBound }

    /// True when `tensor(named:)` returns a view into the mapping rather than an aligned copy.
    public func isZeroCopy(_ name: String) throws -> Bool {
        let info = try info(named: name)
        return Int(bitPattern: address(of: info)) % info.dtype.byteSize == 0
    }

    /// The tensor `name` as stored: a zero-copy view into the mapping on `CPUBackend.shared`, or an
    /// aligned copy when the stored data is not aligned to the element size (see the type's notes).
    public func tensor(named name: String) throws -> Tensor {
        let info = try info(named: name)
        let backend = CPUBackend.shared
        let src = address(of: info)
        if Int(bitPattern: src) % info.dtype.byteSize == 0 {
            let storage = Storage(pointer: UnsafeMutableRawPointer(mutating: src), byteCount: info.byteCount,
                                  backend: backend, owner: mapping, release: nil)
            return Tensor(storage: storage, dtype: info.dtype, shape: info.shape)
        }
        let storage = backend.allocate(byteCount: info.byteCount)
        storage.pointer.copyMemory(from: src, byteCount: info.byteCount)
        return Tensor(storage: storage, dtype: info.dtype, shape: info.shape)
    }

    /// The tensor `name` converted to `dtype` (a new tensor unless it is already stored as `dtype`,
    /// in which case this is the same view as `tensor(named:)`).
    public func tensor(named name: String, as dtype: DType) throws -> Tensor {
        try tensor(named: name).to(dtype)
    }

    /// The raw stored bytes of `name` (a view into the mapping; valid while this object lives).
    public func bytes(named name: String) throws -> UnsafeRawBufferPointer {
        let info = try info(named: name)
        return UnsafeRawBufferPointer(start: address(of: info), count: info.byteCount)
    }

    private func address(of info: SafeTensorsTensorInfo) -> UnsafeRawPointer {
        // A file with at least the 8-byte prefix is never empty, so the mapping exists.
        mapping.base! + fileOffset(of: info)
    }
}
