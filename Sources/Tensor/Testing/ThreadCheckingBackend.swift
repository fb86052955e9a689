#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A device API for tests that behaves like CUDA's context binding: each thread has its own current
/// context (none on a new thread), and `setCurrentContext` binds one for the calling thread only.
// unchecked: `key` is written once, in init; pthread_getspecific/pthread_setspecific on it are thread-safe.
public final class SimulatedContextAPI: ThreadContextAPI, @unchecked Sendable {
    private var key = pthread_key_t()

    public init() { pthread_key_create(&key, nil) }

    public func currentContext() -> UnsafeMutableRawPointer? { pthread_getspecific(key) }

    public func setCurrentContext(_ context: UnsafeMutableRawPointer?) -> Int32 {
        pthread_setspecific(key, context)
    }
}

/// The CPU backend behind the checks a device backend must pass, for tests without a GPU:
/// - every entry reaches its (simulated) device API through `ContextBoundAPI`, as `CUDABackend`
///   does, and records a violation when the context is not current on the calling thread at the
///   moment of the call (CUDA would fail with CUDA_ERROR_INVALID_CONTEXT there);
/// - a fault can be injected after N entries, reported through `takeFault()` as a device failure
///   would be, so callers' handling of failed jobs can be tested.
/// Results are the CPU backend's, bit for bit (memory is host memory owned by this backend).
// unchecked: `entryCount`, `violationList`, `faultAt` and `injected` are only touched under `lock` (PThreadMutex); the rest is `let`.
public final class ThreadCheckingBackend: Backend, @unchecked Sendable {
    public let base = CPUBackend.shared
    let bound: ContextBoundAPI<SimulatedContextAPI>
    private let fault = FaultLatch()
    private let lock = PThreadMutex()
    private var entryCount = 0
    private var violationList: [String] = []
    private var faultAt: Int?
    private var injected: (any Error)?
    /// False reproduces the old CUDA bug: the context is made current once, on the thread that made
    /// the backend, and entries use the API without binding it (for tests that the check can fail).
    public let bindsOnEntry: Bool

    /// An error injected by `injectFault(afterEntries:)`.
    public struct InjectedFault: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public init(bindsOnEntry: Bool = true) {
        let api = SimulatedContextAPI()
        let context = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)  // a unique handle
        bound = ContextBoundAPI(api, context: context)
        self.bindsOnEntry = bindsOnEntry
        _ = api.setCurrentContext(context)  // current on the creating thread, as CUDABackend.make does
    }

    public var device: Device { .cpu }
    public var name: String { "cpu (thread-checked)" }

    /// Entries made so far (every backend call counts one).
    public var entries: Int { lock.withLock { entryCount } }
    /// One line per entry made without the context current on its thread (empty when all is well).
    public var violations: [String] { lock.withLock { violationList } }

    /// The next entry after `n` more records a fault (`takeFault()` returns it once); the op itself
    /// still computes (host memory stays valid), as a device backend skips work but returns tensors.
    public func injectFault(afterEntries n: Int, message: String = "CUDA driver call cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (2) [injected]") {
        lock.withLock {
            faultAt = entryCount + n
            injected = InjectedFault(message: message)
        }
    }

    public func takeFault() -> (any Error)? { fault.take() }

    /// What every requirement does first: reach the device API (binding the context unless
    /// `bindsOnEntry` is false) and check that the context is current on this thread.
    private func enter(_ op: StaticString) {
        let api = bindsOnEntry ? bound.api : bound.raw
        let current = api.currentContext() == bound.context
        var fire: (any Error)?
        lock.withLock {
            entryCount += 1
            if !current { violationList.append("\(op) entered on thread \(pthread_self()) without the context current") }
            if let at = faultAt, entryCount > at { fire = injected; faultAt = nil }
        }
        if let fire { fault.record(fire) }
    }

    /// A base-backend result re-homed here, so the next op on it comes back through this backend.
    private func adopt(_ t: Tensor) -> Tensor {
        if t.storage.backend === self { return t }
        let s = Storage(pointer: t.storage.pointer, byteCount: t.storage.byteCount, backend: self, owner: t.storage, release: nil)
        return Tensor(storage: s, dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.offset)
    }

    public func allocate(byteCount: Int) -> Storage {
        enter("allocate")
        let s = base.allocate(byteCount: byteCount)
        return Storage(pointer: s.pointer, byteCount: byteCount, backend: self, owner: s, release: nil)
    }
    public func upload(_ source: UnsafeRawPointer, count: Int, to storage: Storage, byteOffset: Int) {
        enter("upload")
        (storage.pointer + byteOffset).copyMemory(from: source, byteCount: count)
    }
    public func download(_ storage: Storage, byteOffset: Int, count: Int, into destination: UnsafeMutableRawPointer) {
        enter("download")
        destination.copyMemory(from: storage.pointer + byteOffset, byteCount: count)
    }
    public func contiguous(_ x: Tensor) -> Tensor { enter("contiguous"); return adopt(base.contiguous(x)) }
    public func convert(_ x: Tensor, to dtype: DType) -> Tensor { enter("convert"); return adopt(base.convert(x, to: dtype)) }
    public func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor { enter("unary"); return adopt(base.unary(op, x)) }
    public func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor { enter("binary"); return adopt(base.binary(op, a, b)) }
    public func affine(_ x: Tensor, scale: Float, shift: Float) -> Tensor { enter("affine"); return adopt(base.affine(x, scale: scale, shift: shift)) }
    public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor { enter("matmul"); return adopt(base.matmul(a, b)) }
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor { enter("linear"); return adopt(base.linear(x, weight: weight, bias: bias)) }
    public func reduce(_ op: ReduceOp, _ x: Tensor, dims: [Int], keepDims: Bool) -> Tensor {
        enter("reduce"); return adopt(base.reduce(op, x, dims: dims, keepDims: keepDims))
    }
    public func softmax(_ x: Tensor, dim: Int) -> Tensor { enter("softmax"); return adopt(base.softmax(x, dim: dim)) }
    public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        enter("layerNorm"); return adopt(base.layerNorm(x, weight: weight, bias: bias, eps: eps))
    }
    public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor { enter("rmsNorm"); return adopt(base.rmsNorm(x, weight: weight, eps: eps)) }
    public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        enter("groupNorm"); return adopt(base.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps))
    }
    public func groupNormSiLU(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        enter("groupNormSiLU"); return adopt(base.groupNormSiLU(x, groups: groups, weight: weight, bias: bias, eps: eps))
    }
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int),
                       padding: (top: Int, bottom: Int, left: Int, right: Int), groups: Int) -> Tensor {
        enter("conv2d"); return adopt(base.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups))
    }
    public func upsampleNearest2x(_ x: Tensor) -> Tensor { enter("upsampleNearest2x"); return adopt(base.upsampleNearest2x(x)) }
    public func embedding(_ table: Tensor, indices: Tensor) -> Tensor { enter("embedding"); return adopt(base.embedding(table, indices: indices)) }
    public func concat(_ xs: [Tensor], dim: Int) -> Tensor { enter("concat"); return adopt(base.concat(xs, dim: dim)) }
    public func attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor?, scale: Float) -> Tensor {
        enter("attention"); return adopt(base.attention(q: q, k: k, v: v, mask: mask, scale: scale))
    }
    // The fused Flux ops keep the protocol's composed defaults (which is what the CPU runs), so
    // their parts come back through this backend's entries.

    public func rotaryEmbedding(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor {
        enter("rotaryEmbedding"); return adopt(base.rotaryEmbedding(x, cos: cos, sin: sin))
    }
}
