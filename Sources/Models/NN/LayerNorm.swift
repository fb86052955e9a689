import Tensor

/// LayerNorm over the last dimension, optionally with learned scale and shift.
public struct LayerNorm {
    public var weight: Tensor?
    public var bias: Tensor?
    public var eps: Float

    /// Without affine parameters (Flux's modulated norms).
    public init(eps: Float) { self.eps = eps }

    /// Loads `prefix.weight` and `prefix.bias` of size `dim`.
    public init(_ w: WeightLoader, _ prefix: String, dim: Int, eps: Float) {
        weight = w.take("\(prefix).weight", shape: [dim])
        bias = w.take("\(prefix).bias", shape: [dim])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// RMSNorm over the last dimension with a learned scale (T5 layer norms, Flux QK-norm).
public struct RMSNorm {
    public var weight: Tensor
    public var eps: Float

    /// Loads `prefix.<name>` of size `dim` (`weight` for T5, `scale` for Flux).
    public init(_ w: WeightLoader, _ prefix: String, dim: Int, eps: Float, name: String = "weight") {
        weight = w.take("\(prefix).\(name)", shape: [dim])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { rmsNorm(x, weight: weight, eps: eps) }
}
