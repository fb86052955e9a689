#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A device API whose calls act on a context that is current per thread (the CUDA driver API:
/// `cuCtxSetCurrent` binds a context to the calling thread only).
public protocol ThreadContextAPI: AnyObject, Sendable {
    /// The context current on the calling thread (nil when none).
    func currentContext() -> UnsafeMutableRawPointer?
    /// Makes `context` current on the calling thread; 0 on success, else the API's error code.
    func setCurrentContext(_ context: UnsafeMutableRawPointer?) -> Int32
}

/// A device API together with the context its calls must run in. Every access to `api` first makes
/// the context current on the calling thread (one thread-local read when it already is), so a
/// backend built on one thread works from any other: a server's worker thread, Swift concurrency's
/// pool. Backends reach their API only through this, which is what makes the rule hold everywhere.
// unchecked: all fields are `let`: a Sendable API, a @Sendable callback and `context`, an opaque handle the API owns.
public struct ContextBoundAPI<API: ThreadContextAPI>: @unchecked Sendable {
    public let raw: API
    public let context: UnsafeMutableRawPointer?
    /// Called with the API's error code when the context cannot be made current.
    let onFailure: @Sendable (Int32) -> Void

    public init(_ raw: API, context: UnsafeMutableRawPointer?, onFailure: @escaping @Sendable (Int32) -> Void = { _ in }) {
        self.raw = raw
        self.context = context
        self.onFailure = onFailure
    }

    /// The API, with the context current on this thread.
    @inline(__always) public var api: API {
        bind()
        return raw
    }

    /// Makes the context current on the calling thread when it is not.
    @inline(__always) public func bind() {
        if raw.currentContext() == context { return }
        let rc = raw.setCurrentContext(context)
        if rc != 0 { onFailure(rc) }
    }
}

/// The first error a backend met inside an operation that cannot throw (the `Backend` protocol's
/// ops return tensors), kept until someone takes it. While it is set the backend skips further work
/// (a failed allocation or launch leaves nothing valid to compute on), and the caller turns it into a
/// thrown error at its next check (`Backend.throwIfFaulted()`): the job fails, the process lives.
// unchecked: `error` is only touched under `lock` (PThreadMutex).
public final class FaultLatch: @unchecked Sendable {
    private let lock = PThreadMutex()
    private var error: (any Error)?

    public init() {}

    /// Keeps `error` unless an earlier one is already held (the first failure is the cause).
    public func record(_ error: any Error) {
        lock.withLock { if self.error == nil { self.error = error } }
    }

    /// Whether an error is held (work should be skipped).
    public var isSet: Bool { lock.withLock { error != nil } }

    /// The held error, clearing it.
    public func take() -> (any Error)? {
        lock.withLock {
            defer { error = nil }
            return error
        }
    }
}

/// A pthread mutex (Foundation-free, for the Tensor target's small locks).
// unchecked: the pthread mutex is the synchronisation itself; `m` is allocated in init and never reassigned.
public final class PThreadMutex: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    public init() {
        m = .allocate(capacity: 1)
        m.initialize(to: pthread_mutex_t())
        pthread_mutex_init(m, nil)
    }
    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }
    @inline(__always) public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
    /// Blocks until the mutex is free and takes it; pair with `unlock()` on the same thread (for a
    /// hold that spans a whole function, as `FluxPipeline`'s one-run-at-a-time gate).
    public func lock() { pthread_mutex_lock(m) }
    /// Takes the mutex when it is free and returns true; false at once when another holder has it.
    public func tryLock() -> Bool { pthread_mutex_trylock(m) == 0 }
    public func unlock() { pthread_mutex_unlock(m) }
}
