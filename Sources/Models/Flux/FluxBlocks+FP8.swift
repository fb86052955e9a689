import Tensor

/// The Flux blocks' GEMM chains on fp8 Linears with shared quantised activations (`FP8GEMM`): each
/// activation is quantised once, with its amax from the op that made it where the backend can (the
/// modulated LayerNorm; the GELU GEMM). Elsewhere (bf16 or CPU-quantised Linears, LoRA wrappers,
/// per-channel fp8 scales, `MAJICFLUX_FP8_FUSED_AMAX=0`) the plain forms run.
extension ModulationParams {
    /// layer(modulate(x)).
    func modulatedLinear(_ layer: any LinearLayer, _ x: Tensor, eps: Float) -> Tensor {
        if let s = FP8Linear.sharedQuantization(x, [layer]) {
            return s.layers[0](s.backend.modulatedLayerNormE4M3(x, shift: shift, scale: scale, eps: eps), on: s.backend)
        }
        return layer(modulate(x, eps: eps))
    }

    /// fc2(gelu_tanh(fc1(modulate(x)))).
    func modulatedMLP(_ fc1: any LinearLayer, _ fc2: any LinearLayer, _ x: Tensor, eps: Float) -> Tensor {
        if let s = FP8Linear.sharedQuantization(x, [fc1, fc2]) {
            let q = s.backend.modulatedLayerNormE4M3(x, shift: shift, scale: scale, eps: eps)
            return s.layers[1](s.layers[0].geluTanhE4M3(q, on: s.backend), on: s.backend)
        }
        return fc2(fc1.geluTanh(modulate(x, eps: eps)))
    }
}

extension FluxSingleBlock {
    /// The block with linear1 as two fp8 GEMMs on one quantised input (the QKV rows, and the MLP rows
    /// with GELU written into linear2's [attention | MLP] input, which is quantised once for linear2);
    /// nil where the layers or backend do not allow it.
    func sharedFP8(_ x: Tensor, rope: FluxRoPE, mod: ModulationParams) -> Tensor? {
        guard x.backend is any FusedGEMMEpilogue, let qkvPart = linear1.rows(0, 3 * hidden),
              let mlpPart = linear1.rows(3 * hidden, 3 * hidden + mlp),
              let s = FP8Linear.sharedQuantization(x, [qkvPart, mlpPart, linear2]) else { return nil }
        let q = s.backend.modulatedLayerNormE4M3(x, shift: mod.shift, scale: mod.scale, eps: norm.eps)
        let attn = fluxAttention([(s.layers[0](q, on: s.backend), norms)], rope: rope)
        let joint = s.layers[1].concatGeluTanhE4M3(attn, q, on: s.backend)
        return mod.gatedAdd(x, s.layers[2](joint, on: s.backend))
    }
}
