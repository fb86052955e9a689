/// Delayed scaling of one activation that the op making it writes as e4m3 itself (Transformer
/// Engine's "delayed scaling"): the GELU GEMMs and modulated LayerNorms of Flux blocks quantise their
/// output as they write it, with a scale taken from the max |y| the same op wrote at its previous
/// call, times a margin, instead of writing bf16 and quantising it in more passes. The first call
/// computes the exact amax (calibration); every call records max |y| for the next one.
///
/// One per activation (`FP8Linear.geluScale`, `inputScale`); the state lives on the backend that runs
/// the layer (`CUDABackend`: three device f32s, see CUDABackend+FP8Delayed.swift). Other backends
/// ignore it and quantise exactly. Generations running on one model at the same time share the states.
// unchecked: the mutable state is only reached through `box` (Locked).
public final class DelayedE4M3Scale: @unchecked Sendable {
    /// What the backend keeps: its device state, and whether a call has calibrated it.
    public struct State {
        /// Backend memory the scale is kept in (nil until the first calibration).
        public var device: Tensor?
        /// True once an exact call has written the amax the next call scales by.
        public var calibrated = false

        public init() {}
    }

    private let box = Locked(State())

    public init() {}

    /// Runs `body` with the state under this scale's lock.
    public func withState<T>(_ body: (inout State) throws -> T) rethrows -> T { try box.withLock(body) }
}
