/// A backend that multiplies by float8 e4m3 weights itself (fp8 tensor cores, or dequantising on
/// the fly): `--precision fp8` then keeps the DiT's block Linears as e4m3 codes plus an f32 scale in
/// its memory (`FP8Linear` in Models) instead of running Quant's CPU kernels.
///
/// Activations are quantised per tensor before each GEMM. The `QuantizedActivation` entry points
/// let a caller quantise an activation once for several GEMMs (Flux single blocks' two linear1
/// GEMMs), and let the backend take the activation's amax from the op that produced it (the
/// modulated LayerNorm, a GEMM's GELU epilogue) instead of a separate pass over it. Their defaults
/// compose the plain ops, so a backend that adopts only the required calls gives the same numbers
/// whichever path Models takes.
///
/// Adopted by `CUDABackend` (CUDA/CUDABackend+FP8.swift); a test backend emulates it on the CPU.
public protocol FP8GEMM: Backend {
    /// `x` quantised per tensor to e4m3: codes of `x`'s shape and a one-element f32 scale, both in
    /// this backend's memory, with x ≈ codes * scale.
    func quantizeTensorE4M3(_ x: Tensor) -> (codes: Tensor, scale: Tensor)
    /// y = (x W^T) [+ bias] [-> tanh-GELU] with W as e4m3 `codes` (N, K) and f32 `scale` (N or 1);
    /// `into`/`ldc` write y into a wider matrix's right-hand columns (nil: a new tensor).
    func fp8Linear(_ x: Tensor, codes: Tensor, scale: Tensor, bias: Tensor?, gelu: Bool,
                   into: Tensor?, ldc: Int?) -> Tensor
    /// [prefix | gelu_tanh(x W^T + b)] along the last dimension, the GEMM writing its GELU output
    /// straight into the right-hand columns (Flux single blocks).
    func fp8ConcatLinearGeluTanh(_ prefix: Tensor, _ x: Tensor, codes: Tensor, scale: Tensor, bias: Tensor?) -> Tensor

    /// Whether Models should quantise activations once through the `QuantizedActivation` calls below
    /// (false: each `fp8Linear` quantises its own input, the form before these calls existed).
    var sharesQuantizedActivations: Bool { get }
    /// `x` (..., K) quantised per tensor exactly as `quantizeTensorE4M3` does, kept for several GEMMs.
    func quantizeActivation(_ x: Tensor) -> QuantizedActivation
    /// y = (q W^T) [+ bias] [-> tanh-GELU] in the compute dtype, shape (..., N) of `q.shape`, with W
    /// as e4m3 `codes` (N, K) and one f32 `scale` for the whole weight (per-channel weights quantise
    /// activations per row: they take `fp8Linear(_ x:...)`).
    func fp8Linear(_ q: QuantizedActivation, codes: Tensor, scale: Tensor, bias: Tensor?, gelu: Bool) -> Tensor
    /// `modulatedLayerNorm(x, shift:, scale:, eps:)` quantised for an fp8 GEMM (the amax can come from
    /// the normalisation kernel itself; with `delayed`, the backend may scale by the previous call's).
    func modulatedLayerNormE4M3(_ x: Tensor, shift: Tensor, scale: Tensor, eps: Float,
                                delayed: DelayedE4M3Scale?) -> QuantizedActivation
    /// gelu_tanh(q W^T + b) quantised for the next fp8 GEMM (an MLP's fc1 feeding fc2). With
    /// `delayed`, the backend may scale it by the amax of the layer's previous call (see
    /// `DelayedE4M3Scale`) and let the GEMM write e4m3 itself.
    func fp8LinearGeluTanhE4M3(_ q: QuantizedActivation, codes: Tensor, scale: Tensor, bias: Tensor?,
                               delayed: DelayedE4M3Scale?) -> QuantizedActivation
    /// [prefix | gelu_tanh(q W^T + b)] quantised for the next fp8 GEMM (Flux single blocks' linear2 input).
    func fp8ConcatLinearGeluTanhE4M3(_ prefix: Tensor, _ q: QuantizedActivation, codes: Tensor, scale: Tensor,
                                     bias: Tensor?) -> QuantizedActivation
    /// `qkNormRoPEAttention` over the streams, quantised for the fp8 GEMMs that take its output: one
    /// activation per stream (Flux double blocks' projections). The attention kernel can write it as
    /// e4m3 itself.
    func qkNormRoPEAttentionE4M3(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                                 cos: Tensor, sin: Tensor, eps: Float) -> [QuantizedActivation]
    /// [qkNormRoPEAttention([qkv]) | gelu_tanh(q W^T + b)] quantised for the next fp8 GEMM (Flux single
    /// blocks' linear2 input): the attention kernel can write its part in place, with its amax.
    /// `delayed`: as for `fp8LinearGeluTanhE4M3`, for the GELU part.
    func fp8AttentionConcatLinearGeluTanhE4M3(attention qkv: Tensor, heads: Int, queryWeight: Tensor, keyWeight: Tensor,
                                              cos: Tensor, sin: Tensor, eps: Float, _ q: QuantizedActivation,
                                              codes: Tensor, scale: Tensor, bias: Tensor?,
                                              delayed: DelayedE4M3Scale?) -> QuantizedActivation
}

/// An activation quantised once per tensor to float8 e4m3 for fp8 GEMMs with per-tensor weight
/// scales: x ≈ codes * scale.
public struct QuantizedActivation: Sendable {
    /// e4m3 codes (rows, K), rows = the product of `shape`'s leading dimensions.
    public let codes: Tensor
    /// One f32 value on the same backend.
    public let scale: Tensor
    /// The activation's shape (..., K).
    public let shape: [Int]

    public init(codes: Tensor, scale: Tensor, shape: [Int]) {
        precondition(codes.rank == 2 && codes.count == shape.reduce(1, *) && scale.count == 1,
                     "QuantizedActivation: codes \(codes.shape) for \(shape), scale \(scale.shape)")
        self.codes = codes
        self.scale = scale
        self.shape = shape
    }

    /// Rows of the (rows, K) matrix the GEMMs see.
    public var rows: Int { codes.shape[0] }
    /// The inner dimension K.
    public var width: Int { codes.shape[1] }
}

extension FP8GEMM {
    public var sharesQuantizedActivations: Bool { true }

    public func quantizeActivation(_ x: Tensor) -> QuantizedActivation {
        let k = x.shape.last ?? 1
        let (codes, scale) = quantizeTensorE4M3(x.reshaped([x.count / Swift.max(k, 1), k]))
        return QuantizedActivation(codes: codes, scale: scale, shape: x.shape)
    }

    /// Exact quantisation: the composed form ignores `delayed`.
    public func modulatedLayerNormE4M3(_ x: Tensor, shift: Tensor, scale: Tensor, eps: Float,
                                       delayed: DelayedE4M3Scale?) -> QuantizedActivation {
        quantizeActivation(modulatedLayerNorm(x, shift: shift, scale: scale, eps: eps))
    }

    /// Exact quantisation: the composed form ignores `delayed`.
    public func fp8LinearGeluTanhE4M3(_ q: QuantizedActivation, codes: Tensor, scale: Tensor, bias: Tensor?,
                                      delayed: DelayedE4M3Scale?) -> QuantizedActivation {
        quantizeActivation(fp8Linear(q, codes: codes, scale: scale, bias: bias, gelu: true))
    }

    public func fp8ConcatLinearGeluTanhE4M3(_ prefix: Tensor, _ q: QuantizedActivation, codes: Tensor, scale: Tensor,
                                            bias: Tensor?) -> QuantizedActivation {
        let y = fp8Linear(q, codes: codes, scale: scale, bias: bias, gelu: true)
        return quantizeActivation(concat([prefix.to(y.dtype), y], dim: prefix.rank - 1))
    }

    public func qkNormRoPEAttentionE4M3(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                                        cos: Tensor, sin: Tensor, eps: Float) -> [QuantizedActivation] {
        composedQKNormRoPEAttentionE4M3(qkv, heads: heads, queryWeights: queryWeights, keyWeights: keyWeights, cos: cos, sin: sin, eps: eps)
    }

    /// The attention in the compute dtype, then each stream's rows quantised as `quantizeActivation` does.
    public func composedQKNormRoPEAttentionE4M3(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                                                cos: Tensor, sin: Tensor, eps: Float) -> [QuantizedActivation] {
        let attn = qkNormRoPEAttention(qkv, heads: heads, queryWeights: queryWeights, keyWeights: keyWeights, cos: cos, sin: sin, eps: eps)
        var pos = 0
        return qkv.map { t in
            let l = t.shape[1]
            defer { pos += l }
            return quantizeActivation(attn.slice(dim: 1, start: pos, end: pos + l).contiguous())
        }
    }

    /// Exact quantisation: the composed form ignores `delayed`.
    public func fp8AttentionConcatLinearGeluTanhE4M3(attention qkv: Tensor, heads: Int, queryWeight: Tensor, keyWeight: Tensor,
                                                     cos: Tensor, sin: Tensor, eps: Float, _ q: QuantizedActivation,
                                                     codes: Tensor, scale: Tensor, bias: Tensor?,
                                                     delayed: DelayedE4M3Scale?) -> QuantizedActivation {
        composedFP8AttentionConcatLinearGeluTanhE4M3(attention: qkv, heads: heads, queryWeight: queryWeight, keyWeight: keyWeight,
                                                     cos: cos, sin: sin, eps: eps, q, codes: codes, scale: scale, bias: bias)
    }

    /// The attention in the compute dtype, then `fp8ConcatLinearGeluTanhE4M3` with it as the prefix.
    public func composedFP8AttentionConcatLinearGeluTanhE4M3(attention qkv: Tensor, heads: Int, queryWeight: Tensor, keyWeight: Tensor,
                                                             cos: Tensor, sin: Tensor, eps: Float, _ q: QuantizedActivation,
                                                             codes: Tensor, scale: Tensor, bias: Tensor?) -> QuantizedActivation {
        let attn = qkNormRoPEAttention([qkv], heads: heads, queryWeights: [queryWeight], keyWeights: [keyWeight], cos: cos, sin: sin, eps: eps)
        return fp8ConcatLinearGeluTanhE4M3(attn, q, codes: codes, scale: scale, bias: bias)
    }
}
