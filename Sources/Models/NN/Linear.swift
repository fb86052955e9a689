import Tensor

/// A dense Linear: y = x W^T + b with W (out, in) in its stored dtype (bf16, f16, f32, unscaled
/// fp8); the backend converts bounded pieces while multiplying.
public struct Linear: LinearLayer {
    /// (out, in).
    public var weight: Tensor
    /// (out) or nil.
    public var bias: Tensor?

    public init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    /// A layer to be loaded: placeholder weight (out, in) and, when `bias`, bias (out).
    public init(in inFeatures: Int, out outFeatures: Int, bias: Bool = true) {
        weight = .placeholder([outFeatures, inFeatures])
        self.bias = bias ? .placeholder([outFeatures]) : nil
    }

    /// Bias first: the order loading reports problems in, as before the module protocol.
    public mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.parameter("bias", &bias)
        try v.parameter("weight", &weight)
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }

    public func geluTanh(_ x: Tensor) -> Tensor { linearGeluTanh(x, weight: weight, bias: bias) }

    public func rows(_ start: Int, _ end: Int) -> (any LinearLayer)? {
        Linear(weight: weight.slice(dim: 0, start: start, end: end), bias: bias?.slice(dim: 0, start: start, end: end))
    }

    public func concatGeluTanh(_ prefix: Tensor, _ x: Tensor) -> Tensor {
        concatLinearGeluTanh(prefix, x, weight: weight, bias: bias)
    }

    public func accumulate(_ x: Tensor, into out: Tensor, ldc: Int, gelu: Bool) -> Bool {
        guard let acc = out.backend as? any LinearAccumulating else { return false }
        acc.linear(x, weight: weight, bias: bias, gelu: gelu, into: out, ldc: ldc, accumulate: true)
        return true
    }
}
