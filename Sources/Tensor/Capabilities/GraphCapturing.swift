/// A backend that can record the work a closure queues, without running it, and replay that record
/// later with one launch (CUDA graphs). A denoising step queues about 1,200 kernels and GEMMs with the
/// same shapes and addresses every time; replaying them as one graph saves the launch gaps between
/// them and the host's time to queue them. The DiT's blocks use it (FluxTransformer+Graphs.swift).
///
/// The rules a captured body must keep, or `capture` returns nil and the caller runs eagerly:
/// - it reads only tensors that outlive the graph at the same addresses (weights, and the inputs
///   the caller copies new values into before each replay with `copy(_:into:)`);
/// - it does not read values back, wait for the device or upload from host memory (nothing runs
///   while capturing: a value read back would be garbage, a host buffer would be read at replay).
/// Tensors the body makes live in memory the graph owns; its `outputs` are rewritten by every
/// replay, so a caller consumes them (queues the ops that read them) before the next replay.
public protocol GraphCapturing: Backend {
    /// Whether graphs may be used now (a configuration knob; off while profiling kernels one by one).
    var graphsEnabled: Bool { get }
    /// Changes whenever a setting that captured work depends on changes (which kernels run): a
    /// graph captured under another epoch must not be replayed.
    var graphEpoch: Int { get }
    /// Records the work `body` queues on the calling thread into a graph, or nil (with the reason in
    /// `lastCaptureFailure`) when it broke a rule above or the device refused.
    /// (`body` is escaping so that a backend may record by running it again; CUDA runs it once.)
    func capture(_ body: @escaping () -> [Tensor]) -> (any CapturedGraph)?
    /// Why the last `capture` returned nil ("" after a successful one).
    var lastCaptureFailure: String { get }
    /// Queues a copy of `source`'s values into `destination` (same shape), in order with the other
    /// work (the same requirement as `LinearAccumulating`'s).
    func copy(_ x: Tensor, into view: Tensor)
}

/// Work recorded by `GraphCapturing.capture`.
public protocol CapturedGraph: AnyObject, Sendable {
    /// The tensors the body returned; every `replay` rewrites them in place.
    var outputs: [Tensor] { get }
    /// Queues the recorded work again, in order with other work on the backend.
    func replay()
}
