#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The CPU backend: host memory, OpenBLAS for GEMMs, threaded Swift kernels for the rest.
/// Kernels live in `CPUBackend+<Family>.swift` files next to this one.
public final class CPUBackend: Backend, Sendable {
    /// The process-wide CPU backend, made on first use with the configuration given to
    /// `configureShared(_:)` (the defaults when there was none). Weights read from files live on it.
    public static let shared = CPUBackend(configuration: SharedConfiguration.take())

    public let device: Device = .cpu
    public var name: String { "cpu" }

    /// The tuning knobs this backend's kernels use.
    public let configuration: Configuration
    /// The worker threads of this backend's kernels (`configuration.threads`).
    public let parallel: Parallel
    /// Wall time per op class of this backend, when turned on (see `OpProfile`).
    public let profile = OpProfile()

    /// A CPU backend with its own knobs and buffer cache. Tensors of different backends do not mix
    /// in one op; most code uses `shared` (see `configureShared(_:)` for setting its knobs).
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        parallel = Parallel(threadCount: configuration.threads)
        bufferCache = BufferCache(limitBytes: configuration.bufferCacheLimitBytes)
    }

    /// Large freed buffers kept for reuse (see `BufferCache`).
    let bufferCache: BufferCache

    /// The OpenBLAS core (kernel set) in use, e.g. "Cooperlake" (see `OpenBLASSetup`).
    public static var blasCoreName: String { BLASKernels.coreName }

    /// The OpenBLAS core chosen for a set of x86 CPU flags (as `/proc/cpuinfo` lists them) when
    /// OpenBLAS's own detection falls back to a generic core; nil when none beats the generic one.
    public static func blasCore(forCPUFlags flags: Set<String>) -> String? { BLASKernels.bestCore(flags: flags) }

    /// This CPU's flags from `/proc/cpuinfo` (empty where there is none).
    public static var cpuFlags: Set<String> { BLASKernels.cpuFlags() }

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
