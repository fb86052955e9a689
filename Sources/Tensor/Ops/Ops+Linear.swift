/// Matrix products: `matmul` (PyTorch `torch.matmul` semantics) and `linear` (`torch.nn.functional.linear`).

/// Matrix product with PyTorch `torch.matmul` semantics.
///
/// - 1-D x 1-D: dot product, a 0-d tensor.
/// - 2-D x 2-D: the matrix product (M, K) x (K, N) -> (M, N).
/// - 1-D `a` is treated as a (1, K) row and 1-D `b` as a (K, 1) column; the added dim is removed again.
/// - Higher ranks: the last two dims are multiplied and the leading (batch) dims broadcast with
///   numpy rules, e.g. (B, 1, M, K) x (H, K, N) -> (B, H, M, N).
///
/// Transposed and other strided views are used without copying when their last two dims are
/// row- or column-major. Any float dtype is accepted; the CPU result is f32.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor { matmulOp(a, b) }

extension Tensor {
    /// `matmul(self, other)`: matrix product with PyTorch `torch.matmul` semantics.
    public func matmul(_ other: Tensor) -> Tensor { matmulOp(self, other) }
}

/// Shape logic of `matmul`, shared by the free function and the method.
private func matmulOp(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank >= 1 && b.rank >= 1, "matmul needs tensors of rank >= 1, got \(a.shape) and \(b.shape)")
    precondition(a.backend === b.backend, "matmul operands live on different backends: \(a.device) and \(b.device)")
    let a2 = a.rank == 1 ? a.unsqueezed(0) : a
    let b2 = b.rank == 1 ? b.unsqueezed(1) : b
    let m = a2.shape[a2.rank - 2], k = a2.shape[a2.rank - 1]
    let k2 = b2.shape[b2.rank - 2], n = b2.shape[b2.rank - 1]
    precondition(k == k2, "matmul: inner dimensions differ: \(a.shape) x \(b.shape)")
    let aBatch = Array(a2.shape.dropLast(2)), bBatch = Array(b2.shape.dropLast(2))
    guard let batch = Broadcast.shape(aBatch, bBatch) else {
        preconditionFailure("matmul: batch dimensions do not broadcast: \(a.shape) x \(b.shape)")
    }
    let ae = a2.shape == batch + [m, k] ? a2 : a2.expanded(batch + [m, k])
    let be = b2.shape == batch + [k, n] ? b2 : b2.expanded(batch + [k, n])
    var out = a.backend.matmul(ae, be)
    var shape = batch
    if a.rank > 1 { shape.append(m) }
    if b.rank > 1 { shape.append(n) }
    if shape != out.shape { out = out.reshaped(shape) }
    return out
}

/// `x W^T + bias` (PyTorch `torch.nn.functional.linear`).
///
/// - Parameters:
///   - x: (..., in) input; leading dims are any batch shape.
///   - weight: (out, in). May be f32 (used in place, any row- or column-major layout) or bf16, f16
///     or fp8 (decoded a panel at a time, never as a whole f32 copy).
///   - bias: optional (out).
/// - Returns: (..., out), f32 on the CPU.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    precondition(x.rank >= 1, "linear: input must have rank >= 1, got \(x.shape)")
    precondition(weight.rank == 2, "linear: weight must be (out, in), got \(weight.shape)")
    precondition(x.shape[x.rank - 1] == weight.shape[1],
                 "linear: input \(x.shape) has \(x.shape[x.rank - 1]) features, weight \(weight.shape) expects \(weight.shape[1])")
    if let bias {
        precondition(bias.count == weight.shape[0] && bias.rank <= 1,
                     "linear: bias \(bias.shape) does not match \(weight.shape[0]) output features")
        precondition(bias.backend === x.backend, "linear: bias lives on \(bias.device), input on \(x.device)")
    }
    precondition(weight.backend === x.backend, "linear: weight lives on \(weight.device), input on \(x.device)")
    return x.backend.linear(x, weight: weight, bias: bias)
}
