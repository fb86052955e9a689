// Owner: ops-elementwise helper (scaffold; replaced with real kernels).
extension CPUBackend {
    public func embedding(_ table: Tensor, indices: Tensor) -> Tensor { fatalError("embedding not yet implemented") }
    public func concat(_ xs: [Tensor], dim: Int) -> Tensor { fatalError("concat not yet implemented") }
}
