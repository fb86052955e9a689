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

    /// Large freed buffers kept for reuse (see `BufferCache`).
    let bufferCache = BufferCache()

    /// The OpenBLAS core (kernel set) in use, e.g. "Cooperlake" (see `BLASKernels`).
    public static var blasCoreName: String { _ = shared; return BLASKernels.coreName }

    /// The OpenBLAS core chosen for a set of x86 CPU flags (as `/proc/cpuinfo` lists them) when
    /// OpenBLAS's own detection falls back to a generic core; nil when none beats the generic one.
    public static func blasCore(forCPUFlags flags: Set<String>) -> String? { BLASKernels.bestCore(flags: flags) }

    /// This CPU's flags from `/proc/cpuinfo` (empty where there is none).
    public static var cpuFlags: Set<String> { BLASKernels.cpuFlags() }

    /// Most bytes of freed large buffers kept for reuse (a tuning knob, process-wide; 0 turns reuse off).
    public static var bufferCacheLimitBytes: Int {
        get { BufferCache.limitBytes }
        set { BufferCache.limitBytes = Swift.max(0, newValue) }
    }

    /// Frees the large buffers kept for reuse (call between pipeline stages to lower the resident set).
    public func releaseCachedBuffers() { bufferCache.drain() }

    public func allocate(byteCount: Int) -> Storage {
        let rounded = BufferCache.roundedSize(byteCount)
        if rounded > 0 {
            let cache = bufferCache
            return Storage(pointer: cache.take(rounded), byteCount: byteCount, backend: self,
                           release: { cache.give($0, rounded: rounded) })
        }
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
