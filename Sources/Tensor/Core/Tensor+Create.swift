/// Making tensors from host values and reading them back.
extension Tensor {
    /// A contiguous f32 tensor holding `values` in row-major order.
    public init(_ values: [Float], shape: [Int], backend: any Backend = CPUBackend.shared) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values do not fill shape \(shape)")
        self = Tensor.fromHost(values, shape: shape, dtype: .f32, backend: backend)
    }

    /// A contiguous tensor of integer `values` stored as `dtype` (i64 by default).
    public init(integers values: [Int], shape: [Int], dtype: DType = .i64, backend: any Backend = CPUBackend.shared) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values do not fill shape \(shape)")
        switch dtype {
        case .i64: self = Tensor.fromHost(values.map { Int64($0) }, shape: shape, dtype: .i64, backend: backend)
        case .i32: self = Tensor.fromHost(values.map { Int32($0) }, shape: shape, dtype: .i32, backend: backend)
        default: self = Tensor.fromHost(values.map { Int64($0) }, shape: shape, dtype: .i64, backend: backend).to(dtype)
        }
    }

    /// Copies raw host elements (already in `dtype`'s encoding) into a new tensor.
    public static func fromHost<T>(_ values: [T], shape: [Int], dtype: DType, backend: any Backend = CPUBackend.shared) -> Tensor {
        precondition(MemoryLayout<T>.stride == dtype.byteSize, "host element size does not match \(dtype)")
        let storage = backend.allocate(byteCount: values.count * dtype.byteSize)
        values.withUnsafeBytes { backend.upload($0.baseAddress!, count: $0.count, to: storage, byteOffset: 0) }
        return Tensor(storage: storage, dtype: dtype, shape: shape)
    }

    /// A tensor filled with `value`, as `dtype`.
    public static func full(_ shape: [Int], _ value: Float, dtype: DType = .f32, backend: any Backend = CPUBackend.shared) -> Tensor {
        let t = Tensor([Float](repeating: value, count: shape.reduce(1, *)), shape: shape, backend: backend)
        return t.to(dtype)
    }

    /// Zeros of `shape`.
    public static func zeros(_ shape: [Int], dtype: DType = .f32, backend: any Backend = CPUBackend.shared) -> Tensor {
        full(shape, 0, dtype: dtype, backend: backend)
    }

    /// A 0-d f32 tensor.
    public static func scalar(_ value: Float, backend: any Backend = CPUBackend.shared) -> Tensor {
        Tensor([value], shape: [], backend: backend)
    }

    /// 0, 1, ..., n-1 as f32.
    public static func arange(_ n: Int, backend: any Backend = CPUBackend.shared) -> Tensor {
        Tensor((0..<n).map(Float.init), shape: [n], backend: backend)
    }

    /// The raw bytes of the elements in row-major order (a contiguous copy on the host).
    public func hostBytes() -> [UInt8] {
        let c = contiguous()
        var bytes = [UInt8](repeating: 0, count: c.byteCount)
        bytes.withUnsafeMutableBytes {
            c.backend.download(c.storage, byteOffset: c.offset * c.dtype.byteSize, count: c.byteCount, into: $0.baseAddress!)
        }
        return bytes
    }

    /// The elements as Float in row-major order (any float or integer dtype).
    public func floats() -> [Float] {
        let f = to(.f32).contiguous()
        let bytes = f.hostBytes()
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The elements as Int in row-major order (integer dtypes; floats truncate toward zero).
    public func integers() -> [Int] {
        let i = to(.i64).contiguous()
        return i.hostBytes().withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } }
    }

    /// Moves (copies) the tensor to another backend. Returns `self` when already there.
    ///
    /// A contiguous CPU tensor is uploaded straight from its memory; one that is a view of a mapped
    /// checkpoint goes through the target's `FileUploading` path when it has one (reads from the file,
    /// no page of the mapping is touched).
    public func moved(to target: any Backend) -> Tensor {
        if target === backend { return self }
        if isContiguous, backend is CPUBackend {
            let out = Tensor(storage: target.allocate(byteCount: Swift.max(1, byteCount)), dtype: dtype, shape: shape)
            if byteCount == 0 { return out }
            if let file = storage.owner as? MappedFile, let offset = file.fileOffset(of: self),
               let uploader = target as? FileUploading,
               uploader.upload(from: file, fileOffset: offset, count: byteCount, to: out.storage, byteOffset: 0) {
                return out
            }
            target.upload(UnsafeRawPointer(rawPointer), count: byteCount, to: out.storage, byteOffset: 0)
            return out
        }
        let bytes = hostBytes()
        return Tensor.fromHost(bytes, shape: [bytes.count], dtype: .u8, backend: target).reinterpreted(as: dtype, shape: shape)
    }

    /// Views contiguous bytes as another dtype of equal total size (no conversion).
    public func reinterpreted(as newType: DType, shape newShape: [Int]) -> Tensor {
        precondition(isContiguous, "reinterpret needs a contiguous tensor")
        precondition(newShape.reduce(1, *) * newType.byteSize == byteCount, "reinterpret changes the byte size")
        precondition((offset * dtype.byteSize) % newType.byteSize == 0, "reinterpret offset is not aligned")
        return Tensor(storage: storage, dtype: newType, shape: newShape, offset: offset * dtype.byteSize / newType.byteSize)
    }
}
