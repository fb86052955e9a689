import Tensor

/// y = x W^T + b, whatever holds W: a dense weight (`Linear`), Quant's scaled codes on the CPU
/// (`CPUQuantizedLinear`) or e4m3 codes on a backend with an fp8 GEMM (`FP8Linear`). Blocks hold
/// `any LinearLayer`, so a loader or an adapter can replace one by key (`Module.replaceLinears`).
public protocol LinearLayer: Module, Sendable {
    /// Input width (K).
    var inFeatures: Int { get }
    /// Output width (N).
    var outFeatures: Int { get }
    /// x W^T + b.
    func callAsFunction(_ x: Tensor) -> Tensor
    /// gelu_tanh(x W^T + b), fused into the GEMM where the layer and backend can.
    func geluTanh(_ x: Tensor) -> Tensor
    /// The layer restricted to output features `start..<end` (views, no copy); nil when the layer
    /// cannot be cut so (CPU-quantized codes, per-channel fp8 scales).
    func rows(_ start: Int, _ end: Int) -> (any LinearLayer)?
    /// [prefix | gelu_tanh(x W^T + b)] along the last dimension (Flux single blocks).
    func concatGeluTanh(_ prefix: Tensor, _ x: Tensor) -> Tensor
    /// out = [gelu_tanh](x W^T + b + out) in place, `out` (..., N) a view whose rows lie `ldc` apart,
    /// when the layer's GEMM can add into its output (`LinearAccumulating`: a LoRA's update written
    /// first); false, writing nothing, when it cannot.
    func accumulate(_ x: Tensor, into out: Tensor, ldc: Int, gelu: Bool) -> Bool
}

extension LinearLayer {
    public func geluTanh(_ x: Tensor) -> Tensor { gelu(self(x), approximate: .tanh) }
    public func rows(_ start: Int, _ end: Int) -> (any LinearLayer)? { nil }
    public func concatGeluTanh(_ prefix: Tensor, _ x: Tensor) -> Tensor { concat([prefix, geluTanh(x)], dim: -1) }
    public func accumulate(_ x: Tensor, into out: Tensor, ldc: Int, gelu: Bool) -> Bool { false }
}
