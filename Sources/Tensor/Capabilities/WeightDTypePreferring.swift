/// A backend that holds floating weights in one dtype of its choosing (CUDA: its compute dtype, bf16
/// or f32). Models convert weights to it as they load; on a backend without it (the CPU) weights
/// stay as stored or follow the caller's precision.
///
/// Adopted by `CUDABackend` (CUDA/CUDABackend+Capabilities.swift).
public protocol WeightDTypePreferring: Backend {
    /// The dtype floating weights are converted to when loaded for this backend.
    var weightDType: DType { get }
}
