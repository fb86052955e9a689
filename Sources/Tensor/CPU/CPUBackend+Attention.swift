// Owner: ops-linalg helper (scaffold; replaced with real kernels).
extension CPUBackend {
    public func attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor?, scale: Float) -> Tensor { fatalError("attention not yet implemented") }
}
