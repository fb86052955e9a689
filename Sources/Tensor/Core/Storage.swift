/// A block of memory on one device. Tensors are views onto a `Storage`.
///
/// The storage owns its memory unless it was made from memory owned by someone else (a memory-mapped
/// file, say): then `owner` keeps that owner alive for as long as any tensor points into it.
// unchecked: every field is a `let`; the memory behind `pointer` is written by the op that makes the tensor (or an upload) before it is shared.
public final class Storage: @unchecked Sendable {
    /// Base address. On the CPU a host pointer; on a GPU backend a device address.
    public let pointer: UnsafeMutableRawPointer
    /// Size in bytes.
    public let byteCount: Int
    /// The backend that allocated (or adopted) this memory and runs kernels on it.
    public let backend: any Backend
    /// Keeps borrowed memory alive (e.g. a memory mapping).
    public let owner: AnyObject?
    private let release: ((UnsafeMutableRawPointer) -> Void)?

    /// Wraps memory. `release` is called once when the storage dies (nil for borrowed memory).
    public init(pointer: UnsafeMutableRawPointer, byteCount: Int, backend: any Backend,
                owner: AnyObject? = nil, release: ((UnsafeMutableRawPointer) -> Void)?) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.backend = backend
        self.owner = owner
        self.release = release
    }

    deinit { release?(pointer) }

    /// The device this memory lives on.
    public var device: Device { backend.device }
}
