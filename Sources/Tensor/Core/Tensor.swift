/// An n-dimensional array: a typed, strided view onto a `Storage`.
///
/// `Tensor` is a value type; views (reshape, permute, slice, expand) share storage and copy nothing.
/// Operations produce new tensors with fresh storage on the same backend. Strides and offset are in
/// elements, not bytes. A stride of 0 marks a broadcast (expanded) dimension.
public struct Tensor: Sendable {
    public let storage: Storage
    public let dtype: DType
    public let shape: [Int]
    public let strides: [Int]
    /// Offset of element [0, 0, ...] from `storage.pointer`, in elements.
    public let offset: Int

    /// Makes a view. Callers guarantee the view stays inside `storage`.
    public init(storage: Storage, dtype: DType, shape: [Int], strides: [Int]? = nil, offset: Int = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.storage = storage
        self.dtype = dtype
        self.shape = shape
        self.strides = strides ?? Tensor.contiguousStrides(shape)
        self.offset = offset
        precondition(self.strides.count == shape.count, "strides \(self.strides) do not match shape \(shape)")
    }

    /// Row-major strides for `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = acc
            acc *= shape[i]
        }
        return strides
    }

    /// The backend whose kernels run on this tensor.
    @inlinable public var backend: any Backend { storage.backend }
    /// The device holding this tensor's memory.
    public var device: Device { storage.device }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }
    /// Number of elements.
    @inlinable public var count: Int { shape.reduce(1, *) }
    /// Bytes the elements would take if contiguous.
    public var byteCount: Int { count * dtype.byteSize }

    /// True when the elements are laid out row-major without gaps (size-1 dims may have any stride).
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Address of element [0, 0, ...]. Only meaningful for host-memory backends.
    public var rawPointer: UnsafeMutableRawPointer { storage.pointer + offset * dtype.byteSize }

    /// Normalises a possibly negative dimension index.
    @inlinable public func axis(_ d: Int) -> Int {
        let a = d < 0 ? d + rank : d
        precondition(a >= 0 && a < rank, "dimension \(d) out of range for rank \(rank)")
        return a
    }

    /// Size of dimension `d` (negative counts from the end).
    @inlinable public func size(_ d: Int) -> Int { shape[axis(d)] }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(\(dtype), \(shape), \(device))" }
}
