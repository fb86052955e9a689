import Tensor

/// LayerNorm over the last dimension, optionally with learned scale and shift.
public struct LayerNorm: Module, Sendable {
    public var weight: Tensor?
    public var bias: Tensor?
    public var eps: Float

    /// Without affine parameters (Flux's modulated norms).
    public init(eps: Float) { self.eps = eps }

    /// With scale and shift of size `dim` (placeholders until loaded).
    public init(dim: Int, eps: Float) {
        weight = .placeholder([dim])
        bias = .placeholder([dim])
        self.eps = eps
    }

    public mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.parameter("weight", &weight)
        try v.parameter("bias", &bias)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// RMSNorm over the last dimension with a learned scale (T5 layer norms, Flux QK-norm).
public struct RMSNorm: Module, Sendable {
    public var weight: Tensor
    public var eps: Float
    /// The scale's checkpoint key: `weight` for T5, `scale` for Flux.
    public let key: String

    /// A scale of size `dim` stored under `key` (a placeholder until loaded).
    public init(dim: Int, eps: Float, key: String = "weight") {
        weight = .placeholder([dim])
        self.eps = eps
        self.key = key
    }

    public mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.parameter(key, &weight)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { rmsNorm(x, weight: weight, eps: eps) }
}
