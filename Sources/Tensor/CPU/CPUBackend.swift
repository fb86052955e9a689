#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The CPU backend: host memory, OpenBLAS for GEMMs, threaded Swift kernels for the rest.
/// Kernels live in `CPUBackend+<Family>.swift` files next to this one.
public final class CPUBackend: Backend, @unchecked Sendable {
    /// The process-wide CPU backend.
    public static let shared = CPUBackend()

    public let device: Device = .cpu
    public var name: String { "cpu" }

    private init() { BLASKernels.select() }

    public func allocate(byteCount: Int) -> Storage {
        var p: UnsafeMutableRawPointer?
        let rc = posix_memalign(&p, 64, max(byteCount, 64))
        precondition(rc == 0 && p != nil, "out of memory allocating \(byteCount) bytes")
        return Storage(pointer: p!, byteCount: byteCount, backend: self, release: { free($0) })
    }

    public func upload(_ source: UnsafeRawPointer, count: Int, to storage: Storage, byteOffset: Int) {
        (storage.pointer + byteOffset).copyMemory(from: source, byteCount: count)
    }

    public func download(_ storage: Storage, byteOffset: Int, count: Int, into destination: UnsafeMutableRawPointer) {
        destination.copyMemory(from: storage.pointer + byteOffset, byteCount: count)
    }

    /// A new contiguous tensor of `shape` on this backend (uninitialised).
    public func empty(_ shape: [Int], _ dtype: DType) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(storage: allocate(byteCount: n * dtype.byteSize), dtype: dtype, shape: shape)
    }
}
