import Foundation  // Thread: a dedicated thread with a large stack for the blocking work
import Tensor

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
