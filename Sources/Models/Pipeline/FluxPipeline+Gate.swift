#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation  // Thread: a dedicated thread with a large stack for the blocking work

/// One generation (or load) at a time per pipeline: a pthread mutex held for the whole run.
///
/// `FluxPipeline` is a class with mutable stage state; the blocking `generate` and `loadAll` hold
/// its gate, and the async entry points run those on a thread of their own, so two tasks (or an
/// actor re-entered while it awaits) can share a pipeline and simply queue. Settings (`keepLoaded`,
/// `vaeTilingMode`...) are not guarded: set them before generating, as before.
// unchecked: its one field is the pthread mutex itself, allocated in init and never reassigned.
final class GenerationGate: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Blocks until no other run holds the gate. Pair with `unlock()` on the same thread.
    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
}

/// A pipeline handed to the generation thread.
// unchecked: the thread only calls `generate`/`loadAll`, which hold the pipeline's `generationGate` (a pthread mutex) for their whole run.
struct PipelineHandle: @unchecked Sendable {
    let pipeline: FluxPipeline
}

/// A flag set once from any thread (a cancelled task or stream), read by the generation thread.
final class CancelFlag: Sendable {
    private let state = Locked(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}

extension FluxPipeline {
    /// Runs `body` on a new thread with a 16 MiB stack (as the console's worker), off Swift's
    /// cooperative pool, which blocking model work would starve; resumes with its result.
    static func onGenerationThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            startGenerationThread { c.resume(with: Result { try body() }) }
        }
    }

    /// Starts `body` on a new thread with a 16 MiB stack and returns at once.
    static func startGenerationThread(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = "majicflux-generate"
        thread.stackSize = 16 << 20
        thread.start()
    }
}
