// Owner: ops-linalg helper (scaffold; replaced with real kernels).
extension CPUBackend {
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int),
                       padding: (top: Int, bottom: Int, left: Int, right: Int), groups: Int) -> Tensor { fatalError("conv2d not yet implemented") }
    public func upsampleNearest2x(_ x: Tensor) -> Tensor { fatalError("upsample not yet implemented") }
}
