/// A point in one of a backend's queues of work. Waiting on it waits for everything queued on that
/// queue before it was last recorded. On the CPU, where every call finishes before it returns, it
/// carries nothing.
// unchecked: both fields are `let`: an opaque backend event handle and the function that destroys it once, in deinit.
public final class QueueFence: @unchecked Sendable {
    /// The backend's handle (a CUDA event); nil on the CPU.
    public let handle: UnsafeMutableRawPointer?
    private let destroy: ((UnsafeMutableRawPointer) -> Void)?

    public init(handle: UnsafeMutableRawPointer?, destroy: ((UnsafeMutableRawPointer) -> Void)?) {
        self.handle = handle
        self.destroy = destroy
    }

    deinit { if let handle { destroy?(handle) } }
}

/// A backend that copies host memory into its own on a second queue while kernels run on the
/// first: what streaming weights in and out of a small device (`BlockStreamer`) is built on.
///
/// The CPU backend conforms trivially (copies happen at once, fences are empty), so the streaming
/// logic runs, and is tested, on machines without a GPU.
public protocol AsyncUploading: Backend {
    /// Host memory (a CPU-backend storage) that `uploadAsync` copies from at full speed: page-locked
    /// on CUDA. Throws when the system refuses that much.
    func hostBuffer(byteCount: Int) throws -> Storage
    /// Device memory of exactly `byteCount` bytes for long-lived buffers (resident blocks, slots): not
    /// rounded up for reuse as the caching allocator's blocks are, and returned to the driver when
    /// freed. Throws when the device has no room.
    func allocatePersistent(byteCount: Int) throws -> Storage
    /// A new fence, not yet recorded.
    func makeFence() -> QueueFence
    /// Records `fence` at the current end of the compute queue (where kernels run).
    func recordCompute(_ fence: QueueFence)
    /// Makes the compute queue wait for `fence` before running what is queued after this call.
    func computeWait(_ fence: QueueFence)
    /// Blocks the calling thread until `fence` has passed.
    func hostWait(_ fence: QueueFence)
    /// Queues on the copy queue: wait for `after` (a compute fence: the destination's last reader),
    /// copy `count` bytes from host `source` into `storage` at `byteOffset`, then record `done`.
    /// `source` must stay alive and unchanged until `done` has passed.
    func uploadAsync(_ source: UnsafeRawPointer, count: Int, to storage: Storage, byteOffset: Int,
                     after: QueueFence?, done: QueueFence)
}

extension CPUBackend: AsyncUploading {
    public func hostBuffer(byteCount: Int) throws -> Storage { allocate(byteCount: byteCount) }
    public func allocatePersistent(byteCount: Int) throws -> Storage { allocate(byteCount: byteCount) }
    public func makeFence() -> QueueFence { QueueFence(handle: nil, destroy: nil) }
    public func recordCompute(_ fence: QueueFence) {}
    public func computeWait(_ fence: QueueFence) {}
    public func hostWait(_ fence: QueueFence) {}
    public func uploadAsync(_ source: UnsafeRawPointer, count: Int, to storage: Storage, byteOffset: Int,
                            after: QueueFence?, done: QueueFence) {
        upload(source, count: count, to: storage, byteOffset: byteOffset)
    }
}
