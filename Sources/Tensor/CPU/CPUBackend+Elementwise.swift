// Owner: ops-elementwise helper (scaffold; replaced with real kernels).
extension CPUBackend {
    public func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor { fatalError("unary not yet implemented") }
    public func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor { fatalError("binary not yet implemented") }
    public func affine(_ x: Tensor, scale: Float, shift: Float) -> Tensor { fatalError("affine not yet implemented") }
}
