import Quant
import Tensor

/// y = x W^T + b. A plain weight stays in its stored dtype (bf16, f16, f32, unscaled fp8) and the
/// backend converts bounded pieces while multiplying; a quantized weight (scaled fp8, int8, int4)
/// runs through Quant's panel-dequantising `QuantizedLinear`.
public struct Linear {
    /// (out, in) as stored; for a quantized layer, its codes.
    public var weight: Tensor
    /// (out) or nil.
    public var bias: Tensor?
    /// Set when the weight is quantized with scales.
    public var quantized: QuantizedLinear?
    /// Set on a CUDA backend with `--precision fp8`: e4m3 codes and f32 scale (1 or out) on the GPU,
    /// multiplied by `CUDABackend.fp8Linear`.
    public var gpuFP8: (codes: Tensor, scale: Tensor)?

    public init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    /// Loads `prefix.weight` (out, in) and, when `bias`, `prefix.bias` (out); quantized when the
    /// checkpoint stores it so or the loader's `quantization` selects it.
    public init(_ w: WeightLoader, _ prefix: String, in inFeatures: Int, out outFeatures: Int, bias: Bool = true) {
        self.bias = bias ? w.take("\(prefix).bias", shape: [outFeatures]) : nil
        if let fp8 = w.gpuFP8Linear(prefix, out: outFeatures, in: inFeatures) {
            weight = fp8.codes
            gpuFP8 = fp8
        } else if let q = w.quantizedLinear(prefix, out: outFeatures, in: inFeatures),
           let layer = try? QuantizedLinear(weight: q, bias: self.bias) {
            weight = q.data
            quantized = layer
        } else {
            weight = w.take("\(prefix).weight", shape: [outFeatures, inFeatures])
        }
    }

    /// Bytes held by the weight (codes and scales when quantized) and the bias.
    public var weightByteCount: Int {
        (quantized?.weight.byteCount ?? weight.byteCount) + (gpuFP8?.scale.byteCount ?? 0) + (bias?.byteCount ?? 0)
    }

    public var inFeatures: Int { quantized?.weight.columns ?? weight.shape[1] }
    public var outFeatures: Int { quantized?.weight.rows ?? weight.shape[0] }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let gpuFP8, let gpu = x.backend as? CUDABackend { return gpu.fp8Linear(x, codes: gpuFP8.codes, scale: gpuFP8.scale, bias: bias) }
        if let quantized { return quantized(x) }
        return linear(x, weight: weight, bias: bias)
    }

    /// GELU (tanh approximation) of the output, fused into the GEMM where the backend can.
    public func geluTanh(_ x: Tensor) -> Tensor {
        if let gpuFP8, let gpu = x.backend as? CUDABackend {
            return gpu.fp8Linear(x, codes: gpuFP8.codes, scale: gpuFP8.scale, bias: bias, gelu: true)
        }
        if let quantized { return gelu(quantized(x), approximate: .tanh) }
        return linearGeluTanh(x, weight: weight, bias: bias)
    }

    /// The layer restricted to output features `start..<end` (row slices of the weight; no copy). nil
    /// for CPU-quantized layers and for GPU fp8 layers with a scale per output channel.
    public func rows(_ start: Int, _ end: Int) -> Linear? {
        if quantized != nil { return nil }
        var l = Linear(weight: weight.slice(dim: 0, start: start, end: end), bias: bias?.slice(dim: 0, start: start, end: end))
        if let fp8 = gpuFP8 {
            guard fp8.scale.count == 1 else { return nil }
            l.gpuFP8 = (l.weight, fp8.scale)
        }
        return l
    }

    /// [prefix | gelu_tanh(x W^T + b)] along the last dimension, the GEMM writing its GELU output
    /// straight into the right-hand columns (Flux single blocks: attention beside the MLP).
    public func concatGeluTanh(_ prefix: Tensor, _ x: Tensor) -> Tensor {
        guard let gpuFP8, let gpu = x.backend as? CUDABackend else {
            return concatLinearGeluTanh(prefix, x, weight: weight, bias: bias)
        }
        return gpu.fp8ConcatLinearGeluTanh(prefix, x, codes: gpuFP8.codes, scale: gpuFP8.scale, bias: bias)
    }
}
