/// Delayed e4m3 scales (`DelayedE4M3Scale`, `Configuration.fp8DelayedScales`): a GELU GEMM writes its
/// output as e4m3 codes itself (cuBLASLt's D scale), scaled by the max |y| the layer wrote at its
/// previous call times a margin, and records this call's max |y| (cuBLASLt's amax of D) for the next.
/// That replaces the bf16 write, the amax pass and the quantise pass of the exact path. The modulated
/// LayerNorms feeding fp8 GEMMs do the same in their own kernel (`mod_layernorm_bf16_e4m3`). A layer's
/// first call (eager, before any graph is captured) runs the exact path and calibrates the state.
///
/// The state is three device f32s (see `e4m3_delayed_scale` in CUDAKernels+FP8.swift): the last max
/// |y|, the scale the last call used, and how many calls' outputs went past their scale's range
/// (saturated to 448; `delayedScaleClips`).
extension CUDABackend {
    /// Whether the fp8 DiT's GELU GEMMs and LayerNorms scale by delayed amaxes (`Configuration.fp8DelayedScales`).
    public var fp8DelayedScales: Bool {
        get { configuration.fp8DelayedScales }
        set { knobs.withLock { $0.fp8DelayedScales = newValue } }
    }

    /// `lastFP8Path` after an op wrote e4m3 by a delayed scale.
    static let delayedFP8Path = "fp8 tensor cores (cuBLASLt, per-tensor scales, e4m3 output by a delayed scale)"

    /// True when an fp8 GEMM writing e4m3 failed in this process (delayed scales then stay off).
    public var fp8DelayedUnsupported: Bool { status.withLock { $0.fp8DelayedUnsupported } }

    /// How many calls of the layer saturated (their output's max |y| was past 448 x their scale), as
    /// counted by the calls after them; nil before the layer's first calibration. Synchronises.
    public func delayedScaleClips(_ d: DelayedE4M3Scale) -> Int? {
        guard let st = d.withState({ $0.device }) else { return nil }
        return Int(st.floats()[2])
    }

    /// The state `d` scales this call by: nil where delayed scales are off or failed, or `d` has not
    /// been calibrated yet (the caller then quantises exactly and calls `calibrateDelayed`).
    func delayedState(_ d: DelayedE4M3Scale?) -> Tensor? {
        guard let d, configuration.fp8DelayedScales, hasFunction("e4m3_delayed_scale"),
              !status.withLock({ $0.fp8DelayedUnsupported }) else { return nil }
        return d.withState { $0.calibrated ? $0.device : nil }
    }

    /// After an exact quantisation with the per-tensor `exactScale` (amax / 448): records the amax for
    /// `d`'s next call. Not on a capturing thread: the state is made outside graph memory, so a layer
    /// first met inside a capture keeps the exact path in that graph.
    func calibrateDelayed(_ d: DelayedE4M3Scale?, exactScale: Tensor) {
        guard let d, configuration.fp8DelayedScales, hasFunction("e4m3_delayed_calibrate"), !isCapturingThread else { return }
        let st: Tensor = d.withState { s in
            if let t = s.device { return t }
            let t = empty([3], .f32)
            must(driver.cuMemsetD8Async(address(t), 0, 12, stream), "cuMemsetD8Async")
            s.device = t
            return t
        }
        var a = KernelArgs()
        a.ptr(st); a.ptr(exactScale)
        launch("e4m3_delayed_calibrate", grid: (1, 1, 1), block: 1, a)
        d.withState { $0.calibrated = true }
    }

    /// This call's scale (and its inverse, the GEMM's D scale) from the state, at least `bound[0]`
    /// when given. Queued on the stream; the state's amax is cleared for the GEMM to write.
    func delayedScales(_ st: Tensor, bound: Tensor?) -> (scale: Tensor, inverse: Tensor) {
        let s = empty([1], .f32), inv = empty([1], .f32)
        var a = KernelArgs()
        a.ptr(st); a.ptr(bound); a.f32(configuration.fp8DelayedMargin); a.ptr(s); a.ptr(inv)
        launch("e4m3_delayed_scale", grid: (1, 1, 1), block: 1, a)
        return (s, inv)
    }

    /// gelu_tanh(q W^T + b) as e4m3 codes of y * `inverse` into `out` (rows `ldc` bytes apart), max |y|
    /// into `state[0]`. False (delayed scales then off for the process) where cuBLASLt cannot.
    func fp8GeluGemmE4M3(_ q: QuantizedActivation, codes: Tensor, scale: Tensor, bias: Tensor?, into out: Tensor, ldc: Int,
                         inverse: Tensor, state: Tensor) -> Bool {
        let k = q.width, n = codes.shape[0], rows = q.rows
        precondition(out.dtype == .f8e4m3fn && out.count == rows * n && ldc >= n, "fp8GeluGemmE4M3: output \(out.shape) \(out.dtype) for (\(rows), \(n))")
        guard hasFP8TensorCores, configuration.allowFP8TensorCores, k % 16 == 0, n % 16 == 0, scale.count == 1, rows > 0 else { return false }
        let (w, sw, b) = fp8GemmOperands(codes: codes, scale: scale, bias: bias)
        let ok = fp8Gemm(weight: w, weightScale: sw, x: q.codes, xScale: q.scale, rows: rows, n: n, k: k, bias: b, gelu: true,
                         out: out, ldc: ldc, outerVector: false, amax: address(state), dScale: inverse)
        if ok {
            lastFP8Path = Self.delayedFP8Path
        } else {
            status.withLock { $0.fp8DelayedUnsupported = true }
        }
        return ok
    }

    /// `fp8LinearGeluTanhE4M3` by the delayed scale: nil where it does not apply.
    func delayedLinearGeluTanhE4M3(_ q: QuantizedActivation, codes: Tensor, scale: Tensor, bias: Tensor?,
                                   delayed: DelayedE4M3Scale?) -> QuantizedActivation? {
        guard let st = delayedState(delayed), q.rows > 0 else { return nil }
        let n = codes.shape[0]
        let (s, inv) = delayedScales(st, bound: nil)
        let out = empty([q.rows, n], .f8e4m3fn)
        guard fp8GeluGemmE4M3(q, codes: codes, scale: scale, bias: bias, into: out, ldc: n, inverse: inv, state: st) else { return nil }
        return QuantizedActivation(codes: out, scale: s, shape: Array(q.shape.dropLast()) + [n])
    }

    /// `modulatedLayerNormE4M3` by the delayed scale: the LayerNorm kernel writes e4m3 codes and folds
    /// max |y| into the state. nil where it does not apply.
    func delayedModulatedLayerNormE4M3(_ x: Tensor, shift: Tensor, scale: Tensor, eps: Float,
                                       delayed: DelayedE4M3Scale?) -> QuantizedActivation? {
        guard let st = delayedState(delayed) else { return nil }
        var s: Tensor?
        guard let codes = modulatedLayerNormE4M3Codes(x, shift: shift, scale: scale, eps: eps, state: st, inverse: {
            let (scale, inv) = self.delayedScales(st, bound: nil)
            s = scale
            return inv
        }), let s else { return nil }
        lastFP8Path = Self.delayedFP8Path
        return QuantizedActivation(codes: codes, scale: s, shape: x.shape)
    }

    /// `fp8AttentionConcatLinearGeluTanhE4M3` by the delayed scale: the attention kernel writes its
    /// e4m3 codes into the left-hand columns and the GEMM its own into the right-hand ones, both with
    /// one scale, the larger of the attention's bound (max |V| / 448) and the GELU part's delayed one.
    /// nil where it does not apply.
    func delayedAttentionConcatLinearGeluTanhE4M3(attention qkv: Tensor, heads: Int, queryWeight: Tensor, keyWeight: Tensor,
                                                  cos: Tensor, sin: Tensor, eps: Float, _ q: QuantizedActivation,
                                                  codes: Tensor, scale: Tensor, bias: Tensor?,
                                                  delayed: DelayedE4M3Scale?) -> QuantizedActivation? {
        let p = heads * 128, n = codes.shape[0], rows = q.rows
        guard let st = delayedState(delayed), qkv.rank == 3, Array(qkv.shape.dropLast()) == Array(q.shape.dropLast()),
              rows > 0, n % 16 == 0 else { return nil }
        let out = empty(Array(q.shape.dropLast()) + [p + n], .f8e4m3fn)
        var inverse: Tensor?
        guard let s = qkNormRoPEAttentionE4M3(qkv, heads: heads, queryWeight: queryWeight, keyWeight: keyWeight, cos: cos, sin: sin,
                                              eps: eps, into: out, scaleFor: { bound in
                                                  let (s, inv) = self.delayedScales(st, bound: bound)
                                                  inverse = inv
                                                  return s
                                              }), let inverse,
              fp8GeluGemmE4M3(q, codes: codes, scale: scale, bias: bias, into: out.slice(dim: 2, start: p), ldc: p + n,
                              inverse: inverse, state: st) else { return nil }
        return QuantizedActivation(codes: out.reshaped([rows, p + n]), scale: s, shape: out.shape)
    }
}
