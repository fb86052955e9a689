import Tensor

/// A Linear with its weight as float8 e4m3 `codes` (out, in) and an f32 `scale` (1 or out), in the
/// memory of a backend that multiplies by them itself (`FP8GEMM`: CUDA's fp8 tensor cores).
public struct FP8Linear: LinearLayer {
    public var codes: Tensor
    public var scale: Tensor
    public var bias: Tensor?
    /// The delayed scale of this layer's GELU output where a backend quantises it in the GEMM
    /// (`geluTanhE4M3`, `attentionConcatGeluTanhE4M3`): one per layer, shared by copies of it.
    public let geluScale: DelayedE4M3Scale
    /// The delayed scale of the modulated LayerNorm output this layer takes first (Flux blocks'
    /// `modulatedLinear` / `modulatedMLP`, single blocks' linear1), where a backend quantises it in the
    /// LayerNorm kernel.
    public let inputScale: DelayedE4M3Scale

    /// `geluScale`, `inputScale`: a layer made again for each call (a GGUF layer's e4m3 form, a row
    /// slice) passes the ones it keeps.
    public init(codes: Tensor, scale: Tensor, bias: Tensor?, geluScale: DelayedE4M3Scale = DelayedE4M3Scale(),
                inputScale: DelayedE4M3Scale = DelayedE4M3Scale()) {
        self.codes = codes
        self.scale = scale
        self.bias = bias
        self.geluScale = geluScale
        self.inputScale = inputScale
    }

    public mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.parameter("weight", &codes)
        try v.parameter("weight_scale", &scale)
        try v.parameter("bias", &bias)
    }

    public var inFeatures: Int { codes.shape[1] }
    public var outFeatures: Int { codes.shape[0] }

    /// The backend that runs the GEMM. Loading makes an `FP8Linear` only for a backend that adopts
    /// `FP8GEMM`, and the inputs live on the same backend.
    private func gemm(_ x: Tensor) -> any FP8GEMM {
        guard let b = x.backend as? any FP8GEMM else {
            preconditionFailure("an fp8 Linear ran on \(x.backend.name), which has no fp8 GEMM")
        }
        return b
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        gemm(x).fp8Linear(x, codes: codes, scale: scale, bias: bias, gelu: false, into: nil, ldc: nil)
    }

    public func geluTanh(_ x: Tensor) -> Tensor {
        gemm(x).fp8Linear(x, codes: codes, scale: scale, bias: bias, gelu: true, into: nil, ldc: nil)
    }

    /// Row slices need one scale for the whole tensor (a per-channel scale would need slicing too).
    /// They keep this layer's delayed scales: a slice is made again at each call (Flux single blocks'
    /// linear1), all slices take the same input, and only one of them runs GELU.
    public func rows(_ start: Int, _ end: Int) -> (any LinearLayer)? {
        guard scale.count == 1 else { return nil }
        return FP8Linear(codes: codes.slice(dim: 0, start: start, end: end), scale: scale,
                         bias: bias?.slice(dim: 0, start: start, end: end), geluScale: geluScale, inputScale: inputScale)
    }

    public func concatGeluTanh(_ prefix: Tensor, _ x: Tensor) -> Tensor {
        gemm(x).fp8ConcatLinearGeluTanh(prefix, x, codes: codes, scale: scale, bias: bias)
    }

    public func accumulate(_ x: Tensor, into out: Tensor, ldc: Int, gelu: Bool) -> Bool {
        guard let acc = out.backend as? any LinearAccumulating else { return false }
        return acc.fp8Linear(x, codes: codes, scale: scale, bias: bias, gelu: gelu, into: out, ldc: ldc, accumulate: true)
    }
}

/// Several fp8 Linears run on one quantised activation (`QuantizedActivation`): the activation is
/// quantised once, its amax taken from its producer where the backend can (Flux blocks,
/// Flux/FluxBlocks+FP8.swift).
extension FP8Linear {
    /// The backend and the layers when every layer is an `FP8Linear` with one weight scale, or a
    /// `GGUFLinear` running on fp8 tensor cores with one scale (expanded to e4m3 here), and `x`'s
    /// backend shares quantised activations; nil otherwise (the layers then run one by one).
    public static func sharedQuantization(_ x: Tensor, _ layers: [any LinearLayer]) -> (backend: any FP8GEMM, layers: [FP8Linear])? {
        guard let b = x.backend as? any FP8GEMM, b.sharesQuantizedActivations else { return nil }
        // Checked for every layer before any GGUF layer is expanded.
        for layer in layers {
            if let f = layer as? FP8Linear, f.scale.count == 1 { continue }
            if let g = layer as? GGUFLinear, g.runsFP8PerTensor(x) { continue }
            return nil
        }
        let fp8 = layers.compactMap { ($0 as? FP8Linear) ?? ($0 as? GGUFLinear)?.fp8Layer(for: x) }
        return fp8.count == layers.count ? (b, fp8) : nil
    }

    /// y = q W^T + b on `backend` (the one `sharedQuantization` gave).
    public func callAsFunction(_ q: QuantizedActivation, on backend: any FP8GEMM) -> Tensor {
        backend.fp8Linear(q, codes: codes, scale: scale, bias: bias, gelu: false)
    }

    /// gelu_tanh(q W^T + b), quantised for the next fp8 Linear (by the delayed `geluScale` where the
    /// backend does that).
    public func geluTanhE4M3(_ q: QuantizedActivation, on backend: any FP8GEMM) -> QuantizedActivation {
        backend.fp8LinearGeluTanhE4M3(q, codes: codes, scale: scale, bias: bias, delayed: geluScale)
    }

    /// [qkNormRoPEAttention([qkv]) | gelu_tanh(q W^T + b)], quantised for the next fp8 Linear (the
    /// backend may write the attention in place).
    public func attentionConcatGeluTanhE4M3(_ qkv: Tensor, heads: Int, queryWeight: Tensor, keyWeight: Tensor, cos: Tensor,
                                            sin: Tensor, eps: Float, _ q: QuantizedActivation, on backend: any FP8GEMM) -> QuantizedActivation {
        backend.fp8AttentionConcatLinearGeluTanhE4M3(attention: qkv, heads: heads, queryWeight: queryWeight, keyWeight: keyWeight,
                                                     cos: cos, sin: sin, eps: eps, q, codes: codes, scale: scale, bias: bias,
                                                     delayed: geluScale)
    }

    /// [prefix | gelu_tanh(q W^T + b)], quantised for the next fp8 Linear.
    public func concatGeluTanhE4M3(_ prefix: Tensor, _ q: QuantizedActivation, on backend: any FP8GEMM) -> QuantizedActivation {
        backend.fp8ConcatLinearGeluTanhE4M3(prefix, q, codes: codes, scale: scale, bias: bias)
    }
}
