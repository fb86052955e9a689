// Owner: ops-elementwise helper (scaffold; replaced with real kernels).
extension CPUBackend {
    public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor { fatalError("layerNorm not yet implemented") }
    public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor { fatalError("rmsNorm not yet implemented") }
    public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor { fatalError("groupNorm not yet implemented") }
}
