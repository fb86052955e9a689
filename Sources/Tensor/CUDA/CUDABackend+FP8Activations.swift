/// Activations quantised once for the fp8 GEMMs (`QuantizedActivation`, `FP8GEMM`), with the amax
/// taken from the op that produced them where it can be: the modulated LayerNorm kernel writes partial
/// maxima of its rows, a GELU GEMM's cuBLASLt call writes max |D| (AMAX_D_POINTER). The quantise pass
/// (`quant_bf16x8_e4m3`) then reduces those instead of an amax pass reading the whole activation again.
/// `Configuration.fp8FusedAmax` turns all of it off (each `fp8Linear` quantising its own input).
extension CUDABackend {
    /// True when Models should take the quantised-activation calls: fp8 tensor cores in use and
    /// `Configuration.fp8FusedAmax` on.
    public var sharesQuantizedActivations: Bool {
        let c = configuration
        return c.fp8FusedAmax && c.allowFP8TensorCores && hasFP8TensorCores
    }

    /// Per-tensor e4m3 quantisation of a (rows, K) bf16 matrix whose amax is the max of the f32
    /// `partialMaxima` (made by its producer): the quantise pass of `quantizeTensorE4M3` alone, giving
    /// the same codes and scale. Falls back to `quantizeTensorE4M3` where its vector pass cannot run.
    public func quantizeTensorE4M3(_ x: Tensor, partialMaxima part: Tensor) -> (codes: Tensor, scale: Tensor) {
        precondition(x.rank == 2, "quantizeTensorE4M3 expects a (rows, K) matrix, got \(x.shape)")
        precondition(part.dtype == .f32 && part.isContiguous && part.count >= 1, "partial maxima: \(part.shape) \(part.dtype)")
        let n = x.count
        guard x.dtype == .bf16, x.isContiguous, n > 0, n % 8 == 0, address(x) % 16 == 0 else { return quantizeTensorE4M3(x) }
        let codes = empty(x.shape, .f8e4m3fn), scale = empty([1], .f32)
        let blocks = amaxPartBlocks(n)
        var b = KernelArgs()
        b.ptr(x); b.ptr(part); b.i32(part.count); b.ptr(codes); b.ptr(scale); b.i64(n / 8)
        launch("quant_bf16x8_e4m3", grid: (blocks, 1, 1), block: 256, b)
        return (codes, scale)
    }

    /// By `delayed`'s scale where it applies (CUDABackend+FP8Delayed.swift); else exactly, calibrating it.
    public func modulatedLayerNormE4M3(_ x: Tensor, shift: Tensor, scale: Tensor, eps: Float,
                                       delayed: DelayedE4M3Scale?) -> QuantizedActivation {
        precondition(x.rank == 3 && shift.shape == [x.shape[0], x.shape[2]] && scale.shape == shift.shape,
                     "modulatedLayerNorm: x \(x.shape), shift \(shift.shape), scale \(scale.shape)")
        if let fast = delayedModulatedLayerNormE4M3(x, shift: shift, scale: scale, eps: eps, delayed: delayed) { return fast }
        let (y, parts) = modulatedLayerNorm(x, shift: shift, scale: scale, eps: eps, partialMaxima: configuration.fp8FusedAmax)
        let q: QuantizedActivation
        if let parts {
            let d = x.shape[2]
            let (codes, s) = quantizeTensorE4M3(y.reshaped([y.count / Swift.max(d, 1), d]), partialMaxima: parts)
            q = QuantizedActivation(codes: codes, scale: s, shape: y.shape)
        } else {
            q = quantizeActivation(y)
        }
        calibrateDelayed(delayed, exactScale: q.scale)
        return q
    }

    /// y = (q W^T) [+ bias] [-> tanh-GELU] in bf16 (`FP8GEMM`), W with one scale for the tensor.
    public func fp8Linear(_ q: QuantizedActivation, codes: Tensor, scale: Tensor, bias: Tensor?, gelu: Bool) -> Tensor {
        let out = empty(Array(q.shape.dropLast()) + [codes.shape[0]], .bf16)
        _ = fp8Linear(q, codes: codes, scale: scale, bias: bias, gelu: gelu, into: out, ldc: codes.shape[0], amax: nil)
        return out
    }

    /// By `delayed`'s scale where it applies (CUDABackend+FP8Delayed.swift); else exactly, calibrating it.
    public func fp8LinearGeluTanhE4M3(_ q: QuantizedActivation, codes: Tensor, scale: Tensor, bias: Tensor?,
                                      delayed: DelayedE4M3Scale?) -> QuantizedActivation {
        if let fast = delayedLinearGeluTanhE4M3(q, codes: codes, scale: scale, bias: bias, delayed: delayed) { return fast }
        let n = codes.shape[0]
        let out = empty(Array(q.shape.dropLast()) + [n], .bf16)
        let amax = configuration.fp8FusedAmax ? empty([1], .f32) : nil
        let fused = fp8Linear(q, codes: codes, scale: scale, bias: bias, gelu: true, into: out, ldc: n, amax: amax)
        let y = out.reshaped([q.rows, n])
        let (c, s) = fused ? quantizeTensorE4M3(y, partialMaxima: amax!) : quantizeTensorE4M3(y)
        calibrateDelayed(delayed, exactScale: s)
        return QuantizedActivation(codes: c, scale: s, shape: out.shape)
    }

    public func fp8ConcatLinearGeluTanhE4M3(_ prefix: Tensor, _ q: QuantizedActivation, codes: Tensor, scale: Tensor,
                                            bias: Tensor?) -> QuantizedActivation {
        let p = prefix.shape[prefix.rank - 1], n = codes.shape[0], rows = q.rows
        precondition(Array(prefix.shape.dropLast()) == Array(q.shape.dropLast()), "fp8ConcatLinearGeluTanh: prefix \(prefix.shape), x \(q.shape)")
        let out = empty(Array(prefix.shape.dropLast()) + [p + n], .bf16)
        if out.count == 0 { return quantizeActivation(out) }
        var pre = prefix.dtype == .bf16 ? prefix : convert(prefix, to: .bf16)
        if !pre.isContiguous { pre = contiguous(pre) }
        copy(pre, into: out.slice(dim: out.rank - 1, start: 0, end: p))
        let right = out.slice(dim: out.rank - 1, start: p)
        // The amax of [prefix | GELU part] is the max of the GEMM's max |D| (parts[0]) and the prefix's
        // partial maxima (parts[1...]: one pass over the prefix, a fifth of the matrix at Flux's shapes).
        let m = pre.count
        if configuration.fp8FusedAmax, m > 0, m % 8 == 0, address(pre) % 16 == 0 {
            let parts = empty([amaxPartBlocks(m) + 1], .f32)
            if fp8Linear(q, codes: codes, scale: scale, bias: bias, gelu: true, into: right, ldc: p + n,
                         amax: parts.slice(dim: 0, start: 0, end: 1)) {
                launchAmaxParts(pre, count: m, into: parts.slice(dim: 0, start: 1))
                let (c, s) = quantizeTensorE4M3(out.reshaped([rows, p + n]), partialMaxima: parts)
                return QuantizedActivation(codes: c, scale: s, shape: out.shape)
            }
            return quantizeActivation(out)
        }
        _ = fp8Linear(q, codes: codes, scale: scale, bias: bias, gelu: true, into: right, ldc: p + n, amax: nil)
        return quantizeActivation(out)
    }

    public func qkNormRoPEAttentionE4M3(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                                        cos: Tensor, sin: Tensor, eps: Float) -> [QuantizedActivation] {
        if sharesQuantizedActivations, let q = fusedQKNormRoPEAttentionE4M3(qkv, heads: heads, queryWeights: queryWeights,
                                                                            keyWeights: keyWeights, cos: cos, sin: sin, eps: eps) {
            return q
        }
        return composedQKNormRoPEAttentionE4M3(qkv, heads: heads, queryWeights: queryWeights, keyWeights: keyWeights, cos: cos, sin: sin, eps: eps)
    }

    /// With fp8 attention (`Configuration.fp8Attention`) the attention kernel writes its output straight
    /// into the [attention | MLP] matrix with its amax, the GELU GEMM its part, and one amax pass over
    /// the GELU columns alone goes before the quantise pass: no copy of the attention and no pass over it.
    /// By `delayed`'s scale where it applies (CUDABackend+FP8Delayed.swift); else exactly, calibrating it.
    public func fp8AttentionConcatLinearGeluTanhE4M3(attention qkv: Tensor, heads: Int, queryWeight: Tensor, keyWeight: Tensor,
                                                     cos: Tensor, sin: Tensor, eps: Float, _ q: QuantizedActivation,
                                                     codes: Tensor, scale: Tensor, bias: Tensor?,
                                                     delayed: DelayedE4M3Scale?) -> QuantizedActivation {
        if let fast = delayedAttentionConcatLinearGeluTanhE4M3(attention: qkv, heads: heads, queryWeight: queryWeight, keyWeight: keyWeight,
                                                               cos: cos, sin: sin, eps: eps, q, codes: codes, scale: scale, bias: bias,
                                                               delayed: delayed) {
            return fast
        }
        let exact = exactAttentionConcatLinearGeluTanhE4M3(attention: qkv, heads: heads, queryWeight: queryWeight, keyWeight: keyWeight,
                                                           cos: cos, sin: sin, eps: eps, q, codes: codes, scale: scale, bias: bias)
        calibrateDelayed(delayed, exactScale: exact.scale)
        return exact
    }

    private func exactAttentionConcatLinearGeluTanhE4M3(attention qkv: Tensor, heads: Int, queryWeight: Tensor, keyWeight: Tensor,
                                                        cos: Tensor, sin: Tensor, eps: Float, _ q: QuantizedActivation,
                                                        codes: Tensor, scale: Tensor, bias: Tensor?) -> QuantizedActivation {
        let p = heads * 128, n = codes.shape[0], rows = q.rows
        if configuration.fp8FusedAmax, qkv.rank == 3, Array(qkv.shape.dropLast()) == Array(q.shape.dropLast()),
           rows > 0, n % 8 == 0, p % 8 == 0, UInt64(rows) * UInt64(n / 8) < UInt64(UInt32.max) {
            let out = empty(Array(q.shape.dropLast()) + [p + n], .bf16)
            let blocks = amaxPartBlocks(rows * n)
            let parts = empty([1 + blocks], .f32)
            if address(out) % 16 == 0, qkNormRoPEAttention(qkv, heads: heads, queryWeight: queryWeight, keyWeight: keyWeight, cos: cos,
                                                           sin: sin, eps: eps, into: out, amax: parts.slice(dim: 0, start: 0, end: 1)) {
                let gelu = out.slice(dim: 2, start: p)
                _ = fp8Linear(q, codes: codes, scale: scale, bias: bias, gelu: true, into: gelu, ldc: p + n, amax: nil)
                var a = KernelArgs()
                a.ptr(gelu); a.i32(rows); a.i32(n / 8); a.i64(p + n); a.ptr(parts.slice(dim: 0, start: 1))
                launch("amax_part_cols_bf16x8", grid: (blocks, 1, 1), block: 256, a)
                let (c, s) = quantizeTensorE4M3(out.reshaped([rows, p + n]), partialMaxima: parts)
                return QuantizedActivation(codes: c, scale: s, shape: out.shape)
            }
        }
        return composedFP8AttentionConcatLinearGeluTanhE4M3(attention: qkv, heads: heads, queryWeight: queryWeight, keyWeight: keyWeight,
                                                            cos: cos, sin: sin, eps: eps, q, codes: codes, scale: scale, bias: bias)
    }

    /// The GEMM of the quantised-activation calls into `out` (rows `ldc` apart). With `amax` (a
    /// one-element f32 view) it asks cuBLASLt for max |y| there and returns whether it was written
    /// (checked against an amax pass on each plan's first run); a refusal or mismatch is remembered
    /// (`fp8AmaxUnsupported`) and the GEMM runs without. Where no fp8 GEMM
    /// runs, both operands are dequantised to bf16 and the ordinary GEMM runs (false).
    public func fp8Linear(_ q: QuantizedActivation, codes: Tensor, scale: Tensor, bias: Tensor?, gelu: Bool,
                          into out: Tensor, ldc: Int, amax: Tensor?) -> Bool {
        let k = q.width, n = codes.shape[0], rows = q.rows
        precondition(codes.rank == 2 && codes.shape[1] == k, "fp8Linear: weight \(codes.shape) does not take inputs of width \(k)")
        precondition(scale.count == 1, "fp8Linear: a quantised activation needs one weight scale, got \(scale.shape)")
        precondition(out.dtype == .bf16 && out.count == rows * n && ldc >= n, "fp8Linear: output view \(out.shape) \(out.dtype) for (\(rows), \(n))")
        precondition(amax.map { $0.dtype == .f32 && $0.count == 1 } ?? true, "fp8Linear: amax must be one f32")
        if rows == 0 || n == 0 { return false }
        let (w, sw, b) = fp8GemmOperands(codes: codes, scale: scale, bias: bias)
        if hasFP8TensorCores && configuration.allowFP8TensorCores && k % 16 == 0 && n % 16 == 0 {
            let amaxTensor = amax
            func gemm(_ pointer: UInt64?) -> Bool {
                fp8Gemm(weight: w, weightScale: sw, x: q.codes, xScale: q.scale, rows: rows, n: n, k: k, bias: b, gelu: gelu,
                        out: out, ldc: ldc, outerVector: false, amax: pointer,
                        amaxMatches: { amaxTensor.map { self.amaxMatches(out, amax: $0) } ?? false })
            }
            if let amax, !status.withLock({ $0.fp8AmaxUnsupported }) {
                // Zeroed first: max |D| is the identity's upper bound whether cuBLASLt overwrites or folds into it.
                let ap = address(amax)
                must(driver.cuMemsetD8Async(ap, 0, 4, stream), "cuMemsetD8Async")
                if gemm(ap) {
                    lastFP8Path = "fp8 tensor cores (cuBLASLt, per-tensor scales, amax of D)"
                    return true
                }
            }
            if gemm(nil) {
                // The plain GEMM runs where the one with amax did not: cuBLASLt refused the amax (or
                // its value did not match D, whose GEMM is then run again).
                if amax != nil { status.withLock { $0.fp8AmaxUnsupported = true } }
                lastFP8Path = "fp8 tensor cores (cuBLASLt, per-tensor scales)"
                return false
            }
        }
        lastFP8Path = "dequantised to bf16"
        let x = dequantizeRowsE4M3(q.codes, scale: q.scale)
        linear(x, weight: dequantizeRowsE4M3(codes, scale: scale), bias: b, gelu: gelu, into: out, ldc: ldc)
        return false
    }

    /// The weight codes, f32 scale and bf16 bias as `fp8Gemm` reads them (contiguous; converted where not).
    func fp8GemmOperands(codes: Tensor, scale: Tensor, bias: Tensor?) -> (codes: Tensor, scale: Tensor, bias: Tensor?) {
        let b = bias.map { $0.dtype == .bf16 && $0.isContiguous ? $0 : contiguous(convert($0, to: .bf16)) }
        let sw = scale.dtype == .f32 && scale.isContiguous ? scale : contiguous(convert(scale, to: .f32))
        return (codes.isContiguous ? codes : contiguous(codes), sw, b)
    }

    /// True when `amax` (one f32) is max |out| within half a bf16 step (D's rounding to bf16 after
    /// cuBLASLt takes the amax), by an amax pass over `out` read back (once per GEMM plan).
    func amaxMatches(_ out: Tensor, amax: Tensor) -> Bool {
        let d = out.isContiguous ? out : contiguous(out)
        let m = d.count
        var want: Float
        if m % 8 == 0, address(d) % 16 == 0 {
            let parts = empty([amaxPartBlocks(m)], .f32)
            launchAmaxParts(d, count: m, into: parts)
            want = parts.floats().max() ?? 0
        } else {
            want = d.floats().reduce(Float(0)) { Swift.max($0, abs($1)) }
        }
        let got = amax.floats()[0]
        return got.isFinite && abs(got - want) <= want / 256 * 1.001
    }

    /// Whether cuBLASLt refused to write max |D| for an fp8 GEMM in this process (the amax pass runs instead).
    public var fp8AmaxUnsupported: Bool { status.withLock { $0.fp8AmaxUnsupported } }

    /// Blocks of the vectorised amax and quantise passes over `n` bf16 values (`n` a multiple of 8):
    /// the number of partial maxima `launchAmaxParts` writes.
    func amaxPartBlocks(_ n: Int) -> Int { Swift.max(1, Swift.min(multiprocessors * 4, (n / 8 + 255) / 256)) }

    /// Writes `amaxPartBlocks(n)` partial maxima of |x| (`n` bf16 values, 16-byte aligned) into `parts`.
    func launchAmaxParts(_ x: Tensor, count n: Int, into parts: Tensor) {
        var a = KernelArgs()
        a.ptr(x); a.i64(n / 8); a.ptr(parts)
        launch("amax_part_bf16x8", grid: (amaxPartBlocks(n), 1, 1), block: 256, a)
    }
}
