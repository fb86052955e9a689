/// Fused transformer-block ops (see the matching `Backend` requirements). The default
/// implementations here compose the basic ops exactly as the models did before fusing, so the CPU
/// results are unchanged; GPU backends replace them with single kernels.

/// LayerNorm (no affine, `eps`) of x (B, L, D), then `* (1 + scale) + shift` with (B, D) parameters.
public func modulatedLayerNorm(_ x: Tensor, shift: Tensor, scale: Tensor, eps: Float) -> Tensor {
    precondition(x.rank == 3 && shift.shape == [x.shape[0], x.shape[2]] && scale.shape == shift.shape,
                 "modulatedLayerNorm: x \(x.shape), shift \(shift.shape), scale \(scale.shape)")
    return x.backend.modulatedLayerNorm(x, shift: shift, scale: scale, eps: eps)
}

/// x + gate * y with x, y (B, L, D) and gate (B, D) broadcast over tokens.
public func gatedResidual(_ x: Tensor, _ y: Tensor, gate: Tensor) -> Tensor {
    precondition(x.rank == 3 && y.shape == x.shape && gate.shape == [x.shape[0], x.shape[2]],
                 "gatedResidual: x \(x.shape), y \(y.shape), gate \(gate.shape)")
    return x.backend.gatedResidual(x, y, gate: gate)
}

/// `gelu(linear(x, weight, bias), approximate: .tanh)` in one step where the backend can.
public func linearGeluTanh(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    precondition(x.shape.last == weight.shape.last && weight.rank == 2, "linearGeluTanh: x \(x.shape), weight \(weight.shape)")
    return x.backend.linearGeluTanh(x, weight: weight, bias: bias)
}

/// `concat([prefix, linearGeluTanh(x, weight, bias)], dim: -1)` without a separate copy where the backend can.
public func concatLinearGeluTanh(_ prefix: Tensor, _ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    precondition(prefix.rank == x.rank && Array(prefix.shape.dropLast()) == Array(x.shape.dropLast()),
                 "concatLinearGeluTanh: prefix \(prefix.shape) and input \(x.shape) differ in leading dims")
    return x.backend.concatLinearGeluTanh(prefix, x, weight: weight, bias: bias)
}

/// QK-RMSNorm, sequence join and rotary embedding for attention (see `Backend.qkNormRoPE`).
public func qkNormRoPE(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                       cos: Tensor, sin: Tensor, eps: Float) -> (q: Tensor, k: Tensor, v: Tensor) {
    precondition(!qkv.isEmpty && qkv.count == queryWeights.count && qkv.count == keyWeights.count,
                 "qkNormRoPE: one query and key weight per stream")
    let total = qkv.reduce(0) { $0 + $1.shape[1] }
    precondition(cos.shape == sin.shape && cos.shape[0] == total, "qkNormRoPE: rotary tables \(cos.shape) for \(total) tokens")
    return qkv[0].backend.qkNormRoPE(qkv, heads: heads, queryWeights: queryWeights, keyWeights: keyWeights,
                                     cos: cos, sin: sin, eps: eps)
}

/// `qkNormRoPE`, then attention over the joined sequence: (B, sum L_i, H*D) (see
/// `Backend.qkNormRoPEAttention`).
public func qkNormRoPEAttention(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                                cos: Tensor, sin: Tensor, eps: Float) -> Tensor {
    precondition(!qkv.isEmpty && qkv.count == queryWeights.count && qkv.count == keyWeights.count,
                 "qkNormRoPEAttention: one query and key weight per stream")
    let total = qkv.reduce(0) { $0 + $1.shape[1] }
    precondition(cos.shape == sin.shape && cos.shape[0] == total, "qkNormRoPEAttention: rotary tables \(cos.shape) for \(total) tokens")
    return qkv[0].backend.qkNormRoPEAttention(qkv, heads: heads, queryWeights: queryWeights, keyWeights: keyWeights,
                                              cos: cos, sin: sin, eps: eps)
}

extension Backend {
    public func qkNormRoPEAttention(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                                    cos: Tensor, sin: Tensor, eps: Float) -> Tensor {
        composedQKNormRoPEAttention(qkv, heads: heads, queryWeights: queryWeights, keyWeights: keyWeights,
                                    cos: cos, sin: sin, eps: eps)
    }

    /// The two steps apart (what a backend without a fused path runs).
    public func composedQKNormRoPEAttention(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                                            cos: Tensor, sin: Tensor, eps: Float) -> Tensor {
        let (q, k, v) = qkNormRoPE(qkv, heads: heads, queryWeights: queryWeights, keyWeights: keyWeights,
                                   cos: cos, sin: sin, eps: eps)
        let (b, h, l, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let out = scaledDotProductAttention(q, k, v)
        return out.permuted(0, 2, 1, 3).reshaped(b, l, h * d)
    }

    public func modulatedLayerNorm(_ x: Tensor, shift: Tensor, scale: Tensor, eps: Float) -> Tensor {
        layerNorm(x, weight: nil, bias: nil, eps: eps) * (scale.unsqueezed(1) + 1) + shift.unsqueezed(1)
    }

    public func gatedResidual(_ x: Tensor, _ y: Tensor, gate: Tensor) -> Tensor {
        x + y * gate.unsqueezed(1)
    }

    public func linearGeluTanh(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        unary(.geluTanh, linear(x, weight: weight, bias: bias))
    }

    public func concatLinearGeluTanh(_ prefix: Tensor, _ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        concat([prefix, linearGeluTanh(x, weight: weight, bias: bias)], dim: prefix.rank - 1)
    }

    public func qkNormRoPE(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                           cos: Tensor, sin: Tensor, eps: Float) -> (q: Tensor, k: Tensor, v: Tensor) {
        var qs: [Tensor] = [], ks: [Tensor] = [], vs: [Tensor] = []
        for (i, t) in qkv.enumerated() {
            let (b, l) = (t.shape[0], t.shape[1])
            let d = t.shape[2] / (3 * heads)
            let parts = t.reshaped(b, l, 3, heads, d).permuted(2, 0, 3, 1, 4)  // (3, B, H, L, D)
            qs.append(rmsNorm(parts.select(dim: 0, index: 0), weight: queryWeights[i], eps: eps))
            ks.append(rmsNorm(parts.select(dim: 0, index: 1), weight: keyWeights[i], eps: eps))
            vs.append(parts.select(dim: 0, index: 2))
        }
        let q = qs.count == 1 ? qs[0] : concat(qs, dim: 2)
        let k = ks.count == 1 ? ks[0] : concat(ks, dim: 2)
        let v = vs.count == 1 ? vs[0] : concat(vs, dim: 2)
        return (rotaryEmbedding(q, cos: cos, sin: sin), rotaryEmbedding(k, cos: cos, sin: sin), v.contiguous())
    }
}
