/// Scaled-dot-product attention (PyTorch `torch.nn.functional.scaled_dot_product_attention`).

/// `softmax(q k^T * scale + mask) v`, computed a block of queries at a time so the
/// (B, H, Lq, Lk) score tensor is never materialised.
///
/// - Parameters:
///   - q: (B, H, Lq, D).
///   - k: (B, H, Lk, D); B and H may also be 1 (broadcast over q's batch and heads).
///   - v: (B, H, Lk, Dv), same broadcasting as `k`.
///   - mask: optional additive float mask broadcastable to (B, H, Lq, Lk), added to the scaled scores
///     (use -infinity to exclude a key, e.g. a causal mask). Boolean masks are not accepted: turn them
///     into 0 / -infinity first. A query row whose keys are all -infinity yields zeros.
///   - scale: multiplies q k^T; defaults to 1 / sqrt(D).
/// - Returns: (B, H, Lq, Dv), f32 on the CPU. The CPU backend lays it out in memory as
///   (B, Lq, H, Dv), so `permuted(0, 2, 1, 3).reshaped(B, Lq, H * Dv)` afterwards copies nothing.
public func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil,
                                      scale: Float? = nil) -> Tensor {
    precondition(q.rank == 4 && k.rank == 4 && v.rank == 4,
                 "scaledDotProductAttention: q, k, v must be (B, H, L, D), got \(q.shape), \(k.shape), \(v.shape)")
    let b = q.shape[0], h = q.shape[1], lq = q.shape[2], d = q.shape[3]
    let lk = k.shape[2], dv = v.shape[3]
    precondition(k.shape[3] == d, "scaledDotProductAttention: q \(q.shape) and k \(k.shape) differ in head size")
    precondition(v.shape[2] == lk, "scaledDotProductAttention: k \(k.shape) and v \(v.shape) differ in length")
    for t in [k, v] {
        precondition((t.shape[0] == b || t.shape[0] == 1) && (t.shape[1] == h || t.shape[1] == 1),
                     "scaledDotProductAttention: batch/heads of \(t.shape) do not broadcast to q \(q.shape)")
        precondition(t.backend === q.backend, "scaledDotProductAttention: operands live on different devices")
    }
    let ke = k.shape[0] == b && k.shape[1] == h ? k : k.expanded([b, h, lk, d])
    let ve = v.shape[0] == b && v.shape[1] == h ? v : v.expanded([b, h, lk, dv])
    var me: Tensor? = nil
    if let mask {
        precondition(mask.dtype.isFloatingPoint,
                     "scaledDotProductAttention: mask must be an additive float mask, got \(mask.dtype)")
        precondition(mask.backend === q.backend, "scaledDotProductAttention: mask lives on \(mask.device)")
        let full = [b, h, lq, lk]
        guard let s = Broadcast.shape(mask.shape, full), s == full else {
            preconditionFailure("scaledDotProductAttention: mask \(mask.shape) does not broadcast to \(full)")
        }
        let m32 = mask.to(.f32)   // convert before expanding, so a broadcast mask stays small
        me = m32.shape == full ? m32 : m32.expanded(full)
    }
    let s = scale ?? 1 / Float(d).squareRoot()
    return q.backend.attention(q: q, k: ke, v: ve, mask: me, scale: s)
}

/// Rotary position embedding over interleaved pairs (Flux, and other RoPE models of the "GPT-J" kind):
/// for x (B, H, L, D) and cos, sin (L, D/2), each pair (x[2i], x[2i+1]) at position l is rotated by the
/// angle whose cosine and sine are cos[l, i] and sin[l, i]. Returns a new (B, H, L, D) f32 tensor.
public func applyRotaryEmbedding(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor {
    precondition(x.rank == 4 && x.shape[3] % 2 == 0, "applyRotaryEmbedding: x must be (B, H, L, D) with even D, got \(x.shape)")
    let l = x.shape[2], half = x.shape[3] / 2
    precondition(cos.shape == [l, half] && sin.shape == [l, half],
                 "applyRotaryEmbedding: cos \(cos.shape) and sin \(sin.shape) must be [\(l), \(half)] for x \(x.shape)")
    precondition(cos.backend === x.backend && sin.backend === x.backend, "applyRotaryEmbedding: operands live on different devices")
    return x.backend.rotaryEmbedding(x, cos: cos, sin: sin)
}
