/// A backend whose GEMM can add into an existing output (beta = 1) instead of writing a new one:
/// y += x Wᵀ in place. A LoRA beside a layer then costs its two thin GEMMs and no extra pass over
/// the layer's output (an elementwise add would read and write it once more). Backends without it
/// add with `+`. Adopted by `CUDABackend`.
public protocol LinearAccumulating: Backend {
    /// y += x Wᵀ, with `y` (rows, N) contiguous in the backend's compute dtype and owned by the
    /// caller (a fresh output nobody else holds), `x` (rows, K), `weight` (N, K).
    func addLinear(_ x: Tensor, weight: Tensor, into y: Tensor)
    /// Whether `addLinear` can write into `y` (its dtype and layout).
    func canAccumulate(into y: Tensor) -> Bool
}
