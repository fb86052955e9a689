// Owner: ops-elementwise helper (scaffold; replaced with real kernels).
extension CPUBackend {
    public func reduce(_ op: ReduceOp, _ x: Tensor, dims: [Int], keepDims: Bool) -> Tensor { fatalError("reduce not yet implemented") }
    public func softmax(_ x: Tensor, dim: Int) -> Tensor { fatalError("softmax not yet implemented") }
}
