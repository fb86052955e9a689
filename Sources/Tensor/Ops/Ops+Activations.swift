/// Elementwise math and activation functions. Each returns a new f32 tensor of the same shape on the
/// same backend; inputs of other float dtypes (bf16, f16, f8) are read as f32. Accuracy on the CPU:
/// within a few f32 ulp of the exact function (checked against double-precision libm in the tests).

extension Tensor {
    /// Applies one of the backend's unary functions.
    public func apply(_ op: UnaryOp) -> Tensor { backend.unary(op, self) }

    /// e^x elementwise.
    public func exp() -> Tensor { backend.unary(.exp, self) }
    /// Natural logarithm elementwise.
    public func log() -> Tensor { backend.unary(.log, self) }
    /// Square root elementwise.
    public func sqrt() -> Tensor { backend.unary(.sqrt, self) }
    /// 1 / sqrt(x) elementwise.
    public func rsqrt() -> Tensor { backend.unary(.rsqrt, self) }
    /// |x| elementwise.
    public func abs() -> Tensor { backend.unary(.abs, self) }
    /// x^2 elementwise.
    public func square() -> Tensor { backend.unary(.square, self) }
    /// Hyperbolic tangent elementwise.
    public func tanh() -> Tensor { backend.unary(.tanh, self) }
    /// Logistic sigmoid 1 / (1 + e^-x) elementwise.
    public func sigmoid() -> Tensor { backend.unary(.sigmoid, self) }
    /// Sine elementwise.
    public func sin() -> Tensor { backend.unary(.sin, self) }
    /// Cosine elementwise.
    public func cos() -> Tensor { backend.unary(.cos, self) }
    /// Gauss error function elementwise.
    public func erf() -> Tensor { backend.unary(.erf, self) }
}

/// How `gelu` evaluates the Gaussian CDF (PyTorch's `approximate` argument).
public enum GeluApproximation: Sendable {
    /// Exact: x * 0.5 * (1 + erf(x / sqrt 2)).
    case none
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), used by Flux and T5.
    case tanh
}

/// SiLU / swish: x * sigmoid(x).
public func silu(_ x: Tensor) -> Tensor { x.backend.unary(.silu, x) }

/// GELU, exact (erf) or with PyTorch's tanh approximation.
public func gelu(_ x: Tensor, approximate: GeluApproximation = .none) -> Tensor {
    x.backend.unary(approximate == .none ? .gelu : .geluTanh, x)
}

/// CLIP's quick GELU: x * sigmoid(1.702 x).
public func quickGelu(_ x: Tensor) -> Tensor { x.backend.unary(.quickGelu, x) }

/// Logistic sigmoid 1 / (1 + e^-x).
public func sigmoid(_ x: Tensor) -> Tensor { x.backend.unary(.sigmoid, x) }
