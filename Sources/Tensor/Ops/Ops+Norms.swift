/// Normalisation layers. Statistics are computed in f32/Double whatever the input dtype; results are f32.

/// LayerNorm over the last dimension: (x - mean) / sqrt(var + eps) * weight + bias, with the biased
/// variance. `weight` and `bias` (shape `[D]`) are optional: Flux uses none (eps 1e-6), CLIP both (eps 1e-5).
public func layerNorm(_ x: Tensor, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
    precondition(x.rank >= 1, "layerNorm: input must have at least one dim, got \(x.shape)")
    let d = x.shape[x.rank - 1]
    if let w = weight { precondition(w.shape == [d], "layerNorm: weight shape \(w.shape) must be [\(d)] for input \(x.shape)") }
    if let b = bias { precondition(b.shape == [d], "layerNorm: bias shape \(b.shape) must be [\(d)] for input \(x.shape)") }
    return x.backend.layerNorm(x, weight: weight, bias: bias, eps: eps)
}

/// RMSNorm over the last dimension: x / sqrt(mean(x^2) + eps) * weight (T5's layer norm and Flux's
/// QK-norm, both eps 1e-6; the mean of squares is taken in f32/Double).
public func rmsNorm(_ x: Tensor, weight: Tensor? = nil, eps: Float = 1e-6) -> Tensor {
    precondition(x.rank >= 1, "rmsNorm: input must have at least one dim, got \(x.shape)")
    let d = x.shape[x.rank - 1]
    if let w = weight { precondition(w.shape == [d], "rmsNorm: weight shape \(w.shape) must be [\(d)] for input \(x.shape)") }
    return x.backend.rmsNorm(x, weight: weight, eps: eps)
}

/// GroupNorm of x (N, C, ...): channels split into `groups`; mean and biased variance per (n, group);
/// then a per-channel affine with `weight` and `bias` of shape `[C]` when given (VAE: 32 groups, eps 1e-6).
public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
    precondition(x.rank >= 2, "groupNorm: input must be (N, C, ...), got \(x.shape)")
    let c = x.shape[1]
    precondition(groups > 0 && c % groups == 0, "groupNorm: \(c) channels of \(x.shape) do not split into \(groups) groups")
    if let w = weight { precondition(w.shape == [c], "groupNorm: weight shape \(w.shape) must be [\(c)] for input \(x.shape)") }
    if let b = bias { precondition(b.shape == [c], "groupNorm: bias shape \(b.shape) must be [\(c)] for input \(x.shape)") }
    return x.backend.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps)
}

/// `silu(groupNorm(x, ...))` in one pass where the backend fuses them (VAE ResNet blocks).
public func groupNormSiLU(_ x: Tensor, groups: Int, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
    precondition(x.rank >= 2, "groupNorm: input must be (N, C, ...), got \(x.shape)")
    let c = x.shape[1]
    precondition(groups > 0 && c % groups == 0, "groupNorm: \(c) channels of \(x.shape) do not split into \(groups) groups")
    if let w = weight { precondition(w.shape == [c], "groupNorm: weight shape \(w.shape) must be [\(c)] for input \(x.shape)") }
    if let b = bias { precondition(b.shape == [c], "groupNorm: bias shape \(b.shape) must be [\(c)] for input \(x.shape)") }
    return x.backend.groupNormSiLU(x, groups: groups, weight: weight, bias: bias, eps: eps)
}
