/// Arithmetic between tensors (numpy/PyTorch broadcasting) and with `Float` scalars.
///
/// Results are new f32 tensors on the operands' backend (inputs of other float dtypes are read as f32).
/// Shapes are checked once per call; mismatches trap with both shapes in the message.

/// Broadcasts `a` and `b` to one shape and runs `op` on their backend.
@usableFromInline
func broadcastBinary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.backend === b.backend, "\(op): operands live on different backends (\(a.backend.name), \(b.backend.name))")
    precondition(Broadcast.shape(a.shape, b.shape) != nil, "\(op): cannot broadcast shapes \(a.shape) and \(b.shape)")
    let (x, y) = Broadcast.expand(a, b)
    return a.backend.binary(op, x, y)
}

/// A 0-d scalar on `x`'s backend expanded to `x`'s shape (a stride-0 view, no copy).
@usableFromInline
func broadcastScalar(_ value: Float, like x: Tensor) -> Tensor {
    Tensor.scalar(value, backend: x.backend).expanded(x.shape)
}

extension Tensor {
    /// Elementwise `lhs + rhs` with broadcasting.
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { broadcastBinary(.add, lhs, rhs) }
    /// Elementwise `lhs - rhs` with broadcasting.
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { broadcastBinary(.sub, lhs, rhs) }
    /// Elementwise `lhs * rhs` with broadcasting.
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { broadcastBinary(.mul, lhs, rhs) }
    /// Elementwise `lhs / rhs` with broadcasting.
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { broadcastBinary(.div, lhs, rhs) }

    /// Adds a scalar to every element.
    public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs.backend.affine(lhs, scale: 1, shift: rhs) }
    /// Adds a scalar to every element.
    public static func + (lhs: Float, rhs: Tensor) -> Tensor { rhs.backend.affine(rhs, scale: 1, shift: lhs) }
    /// Subtracts a scalar from every element.
    public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs.backend.affine(lhs, scale: 1, shift: -rhs) }
    /// `lhs - x` for every element x.
    public static func - (lhs: Float, rhs: Tensor) -> Tensor { rhs.backend.affine(rhs, scale: -1, shift: lhs) }
    /// Multiplies every element by a scalar.
    public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.backend.affine(lhs, scale: rhs, shift: 0) }
    /// Multiplies every element by a scalar.
    public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs.backend.affine(rhs, scale: lhs, shift: 0) }
    /// Divides every element by a scalar (a true division, as PyTorch does, not a multiply by 1/rhs).
    public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs.backend.binary(.div, lhs, broadcastScalar(rhs, like: lhs)) }
    /// `lhs / x` for every element x.
    public static func / (lhs: Float, rhs: Tensor) -> Tensor { rhs.backend.binary(.div, broadcastScalar(lhs, like: rhs), rhs) }

    /// Elementwise negation.
    public static prefix func - (x: Tensor) -> Tensor { x.backend.unary(.neg, x) }

    /// `lhs = lhs + rhs` (a new tensor; views of the old value are unaffected).
    public static func += (lhs: inout Tensor, rhs: Tensor) { lhs = lhs + rhs }
    /// `lhs = lhs - rhs`.
    public static func -= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs - rhs }
    /// `lhs = lhs * rhs`.
    public static func *= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs * rhs }
    /// `lhs = lhs / rhs`.
    public static func /= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs / rhs }
    /// `lhs = lhs + rhs` with a scalar.
    public static func += (lhs: inout Tensor, rhs: Float) { lhs = lhs + rhs }
    /// `lhs = lhs * rhs` with a scalar.
    public static func *= (lhs: inout Tensor, rhs: Float) { lhs = lhs * rhs }

    /// `self * scale + shift` elementwise in one pass.
    public func affine(scale: Float, shift: Float) -> Tensor { backend.affine(self, scale: scale, shift: shift) }

    /// Elementwise power `self ** exponent` with broadcasting.
    public func pow(_ exponent: Tensor) -> Tensor { broadcastBinary(.pow, self, exponent) }

    /// Elementwise power with a scalar exponent; 2 and 0.5 use `square` and `sqrt`.
    public func pow(_ exponent: Float) -> Tensor {
        if exponent == 2 { return backend.unary(.square, self) }
        if exponent == 0.5 { return backend.unary(.sqrt, self) }
        return backend.binary(.pow, self, broadcastScalar(exponent, like: self))
    }
}

/// Elementwise maximum with broadcasting (NaN if either element is NaN, like `torch.maximum`).
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { broadcastBinary(.maximum, a, b) }

/// Elementwise minimum with broadcasting (NaN if either element is NaN, like `torch.minimum`).
public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { broadcastBinary(.minimum, a, b) }
