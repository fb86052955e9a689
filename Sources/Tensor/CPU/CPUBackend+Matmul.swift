// Owner: ops-linalg helper (scaffold; replaced with real kernels).
extension CPUBackend {
    public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor { fatalError("matmul not yet implemented") }
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor { fatalError("linear not yet implemented") }
}
