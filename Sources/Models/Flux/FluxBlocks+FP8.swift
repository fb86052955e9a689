import Tensor

/// The Flux blocks' GEMM chains on fp8 Linears with shared quantised activations (`FP8GEMM`): each
/// activation is quantised once, with its amax from the op that made it where the backend can (the
/// modulated LayerNorm; the GELU GEMM). Elsewhere (bf16 or CPU-quantised Linears, LoRA wrappers,
/// per-channel fp8 scales, `MAJICFLUX_FP8_FUSED_AMAX=0`) the plain forms run.
extension ModulationParams {
    /// layer(modulate(x)).
    func modulatedLinear(_ layer: any LinearLayer, _ x: Tensor, eps: Float) -> Tensor {
        if let s = FP8Linear.sharedQuantization(x, [layer]) {
            let q = s.backend.modulatedLayerNormE4M3(x, shift: shift, scale: scale, eps: eps, delayed: s.layers[0].inputScale)
            return s.layers[0](q, on: s.backend)
        }
        return layer(modulate(x, eps: eps))
    }

    /// fc2(gelu_tanh(fc1(modulate(x)))).
    func modulatedMLP(_ fc1: any LinearLayer, _ fc2: any LinearLayer, _ x: Tensor, eps: Float) -> Tensor {
        if let s = FP8Linear.sharedQuantization(x, [fc1, fc2]) {
            let q = s.backend.modulatedLayerNormE4M3(x, shift: shift, scale: scale, eps: eps, delayed: s.layers[0].inputScale)
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
        let q = s.backend.modulatedLayerNormE4M3(x, shift: mod.shift, scale: mod.scale, eps: norm.eps, delayed: s.layers[0].inputScale)
        let joint = s.layers[1].attentionConcatGeluTanhE4M3(s.layers[0](q, on: s.backend), heads: norms.heads,
                                                            queryWeight: norms.queryNorm.weight, keyWeight: norms.keyNorm.weight,
                                                            cos: rope.cosines, sin: rope.sines, eps: norms.queryNorm.eps, q, on: s.backend)
        return mod.gatedAdd(x, s.layers[2](joint, on: s.backend))
    }
}

extension FluxDoubleBlock {
    /// The joint attention quantised once per stream for the fp8 projections (the backend's attention
    /// kernel may write e4m3 itself), then the projections: (txt, img) outputs; nil where the
    /// projections or backend do not allow it.
    func sharedFP8Projections(txtQKV: Tensor, imgQKV: Tensor, rope: FluxRoPE) -> (txt: Tensor, img: Tensor)? {
        guard let s = FP8Linear.sharedQuantization(imgQKV, [txtProj, imgProj]) else { return nil }
        let q = s.backend.qkNormRoPEAttentionE4M3([txtQKV, imgQKV], heads: imgNorms.heads,
                                                 queryWeights: [txtNorms.queryNorm.weight, imgNorms.queryNorm.weight],
                                                 keyWeights: [txtNorms.keyNorm.weight, imgNorms.keyNorm.weight],
                                                 cos: rope.cosines, sin: rope.sines, eps: imgNorms.queryNorm.eps)
        return (s.layers[0](q[0], on: s.backend), s.layers[1](q[1], on: s.backend))
    }
}

extension FluxTransformer {
    /// Every block's modulation parameters from one quantised silu(vec), when every modulation Linear
    /// is an `FP8Linear` with one scale on a backend that shares quantised activations: one silu and
    /// one quantisation a step instead of one per block (76 each for FLUX.1-dev), the same numbers.
    /// nil otherwise (GGUF layers too: expanding all of them at once would hold 3.2 GB of e4m3).
    func sharedFP8Modulation(_ vec: Tensor) -> FluxStepModulation? {
        let layers = doubleBlocks.flatMap { [$0.imgMod.lin, $0.txtMod.lin] } + singleBlocks.map { $0.modulation.lin }
        guard streamer == nil, !layers.isEmpty, layers.allSatisfy({ ($0 as? FP8Linear)?.scale.count == 1 }),
              let b = vec.backend as? any FP8GEMM, b.sharesQuantizedActivations else { return nil }
        let siluVec = silu(vec)
        guard let s = FP8Linear.sharedQuantization(siluVec, layers) else { return nil }
        let q = s.backend.quantizeActivation(siluVec)
        let params = s.layers.map { $0(q, on: s.backend) }
        let n = doubleBlocks.count
        return FluxStepModulation(double: (0..<n).map { (Modulation.split(params[2 * $0], sets: 2), Modulation.split(params[2 * $0 + 1], sets: 2)) },
                                  single: (0..<singleBlocks.count).map { Modulation.split(params[2 * n + $0], sets: 1)[0] })
    }
}

extension FluxTransformer {
    /// Starts a generation's delayed e4m3 scales afresh (`DelayedE4M3Scale`): the next call runs the
    /// blocks op by op with exact quantisation, which calibrates every scale; the calls after it (a
    /// replayed graph) scale by this generation's own amaxes. So a picture depends on its request
    /// alone, not on what the model made before it. A no-op where no scale is in use.
    public func restartDelayedScales() {
        var used = false
        for scale in fp8DelayedScales {
            scale.withState { s in
                if s.device != nil { s.calibrated = false; used = true }
            }
        }
        if used { calibrationPending.withLock { $0 = true } }
    }

    /// The blocks' delayed scales where their Linears are fp8 or GGUF ones (`restartDelayedScales`;
    /// diagnostics: `CUDABackend.delayedScaleClips`): the modulated LayerNorms' outputs (the first
    /// Linear each feeds: double blocks' QKV and MLP fc1, single blocks' linear1), then the GELU
    /// outputs (MLP fc1, linear1).
    public var fp8DelayedScales: [DelayedE4M3Scale] {
        let mlp = doubleBlocks.flatMap { [$0.imgMLP0, $0.txtMLP0] } + singleBlocks.map(\.linear1)
        let inputs = doubleBlocks.flatMap { [$0.imgQKV, $0.txtQKV] } + mlp
        func scales(_ layer: any LinearLayer) -> (input: DelayedE4M3Scale, gelu: DelayedE4M3Scale)? {
            if let f = layer as? FP8Linear { return (f.inputScale, f.geluScale) }
            if let g = layer as? GGUFLinear { return (g.inputScale, g.geluScale) }
            return nil
        }
        return inputs.compactMap { scales($0)?.input } + mlp.compactMap { scales($0)?.gelu }
    }
}
