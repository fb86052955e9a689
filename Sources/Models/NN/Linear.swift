import Tensor

/// y = x W^T + b. The weight stays in its stored dtype (bf16, f16, f32); the backend converts
/// bounded pieces while multiplying.
public struct Linear {
    /// (out, in)
    public var weight: Tensor
    /// (out) or nil.
    public var bias: Tensor?

    public init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    /// Loads `prefix.weight` (out, in) and, when `bias`, `prefix.bias` (out).
    public init(_ w: WeightLoader, _ prefix: String, in inFeatures: Int, out outFeatures: Int, bias: Bool = true) {
        weight = w.take("\(prefix).weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? w.take("\(prefix).bias", shape: [outFeatures]) : nil
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }
}
