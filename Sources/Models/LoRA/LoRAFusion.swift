import Quant
import Tensor

/// One layer merged with its LoRA updates (`--lora-fuse`): how far the stored result is from the
/// exact f32 sum W + up·down (bf16 rounding, or fp8/int8 re-quantisation).
public struct LoRAFusionError: Sendable {
    public let layer: String
    /// ‖stored − exact‖ / ‖exact‖.
    public let relativeError: Float
}

extension LinearLayer {
    /// This layer with `up @ down` (f32, on the layer's backend) added to its weight, stored as before:
    /// a dense weight in its dtype, GPU fp8 and CPU scaled fp8/int8/int4 re-quantised with new scales.
    func fused(_ f: LoRAFactors) throws -> (any LinearLayer, relativeError: Float) {
        switch self {
        case let l as LoRALinear:
            return try l.base.fused(f)
        case let l as Linear:
            let exact = l.weight.to(.f32) + matmul(f.up.moved(to: l.weight.backend), f.down.moved(to: l.weight.backend))
            let stored = exact.to(l.weight.dtype)
            return (Linear(weight: stored.contiguous(), bias: l.bias), relativeDistance(stored.to(.f32), exact))
        case let l as FP8Linear:
            guard let gpu = l.codes.backend as? any FP8GEMM else { throw ModelError.invalidParameter("fp8 layer without an fp8 backend") }
            let scale = l.scale.count == 1 ? l.scale.reshaped([1, 1]) : l.scale.reshaped([l.outFeatures, 1])
            let exact = l.codes.to(.f32) * scale + matmul(f.up.moved(to: gpu), f.down.moved(to: gpu))
            let q = gpu.quantizeTensorE4M3(exact)
            return (FP8Linear(codes: q.codes, scale: q.scale, bias: l.bias), relativeDistance(q.codes.to(.f32) * q.scale.reshaped([1, 1]), exact))
        case let l as CPUQuantizedLinear:
            let w = l.layer.weight
            let exact = w.dequantized().to(.f32) + matmul(f.up, f.down)
            let q = try QuantizedWeight.quantize(exact, format: w.format, granularity: w.granularity)
            var layer = try QuantizedLinear(weight: q, bias: l.layer.bias, panelBytes: l.layer.panelBytes)
            layer.precision = l.layer.precision
            return (CPUQuantizedLinear(layer), relativeDistance(q.dequantized().to(.f32), exact))
        default:
            throw ModelError.invalidParameter("cannot fuse a LoRA into a \(type(of: self)) layer")
        }
    }
}

/// ‖a − b‖ / ‖b‖ (0 when b is zero), computed where the tensors live.
func relativeDistance(_ a: Tensor, _ b: Tensor) -> Float {
    let d = a - b
    let num = (d * d).sum().floats()[0], den = (b * b).sum().floats()[0]
    return den > 0 ? (num / den).squareRoot() : 0
}

extension Module {
    /// Merges `factors` (f32, host) into the named Linears' weights for good; returns each layer's
    /// error. Adapters already attached are dropped first (their bases are fused).
    mutating func fuseLoRAFactors(_ factors: [String: LoRAFactors]) throws -> [LoRAFusionError] {
        var errors: [LoRAFusionError] = []
        try replaceLinears { name, layer in
            guard let f = factors[name] else { return (layer as? LoRALinear)?.base }
            let (merged, err) = try layer.fused(f)
            errors.append(LoRAFusionError(layer: name, relativeError: err))
            return merged
        }
        return errors
    }
}
