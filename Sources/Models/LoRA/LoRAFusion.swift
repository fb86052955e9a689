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
    /// This layer with `up @ down` added to its weight, stored as before: a dense weight in its dtype,
    /// GPU fp8, CPU scaled fp8/int8/int4 and GGUF blocks re-quantised with new scales. The sum is formed in f32 in
    /// host memory one layer at a time (a GPU would round it to its compute dtype), so the error
    /// reported is the storing's alone.
    func fused(_ f: LoRAFactors) throws -> (any LinearLayer, relativeError: Float) {
        let cpu = CPUBackend.shared
        func host(_ t: Tensor) -> Tensor { t.moved(to: cpu).to(.f32) }
        switch self {
        case let l as LoRALinear:
            return try l.base.fused(f)
        case let l as Linear:
            let exact = host(l.weight) + matmul(f.up, f.down)
            let stored = exact.to(l.weight.dtype).contiguous()
            return (Linear(weight: stored.moved(to: l.weight.backend), bias: l.bias), relativeDistance(stored.to(.f32), exact))
        case let l as FP8Linear:
            let scale = host(l.scale)
            let w = host(l.codes) * (scale.count == 1 ? scale.reshaped([1, 1]) : scale.reshaped([l.outFeatures, 1]))
            let exact = w + matmul(f.up, f.down)
            let q = try QuantizedWeight.quantize(exact, format: .fp8e4m3fn, granularity: scale.count == 1 ? .tensor : .channel)
            guard let s = q.scales else { throw ModelError.invalidParameter("fp8 re-quantisation gave no scales") }
            let gpu = l.codes.backend
            return (FP8Linear(codes: q.data.moved(to: gpu), scale: s.to(.f32).reshaped([s.count]).moved(to: gpu), bias: l.bias),
                    relativeDistance(q.dequantized().to(.f32), exact))
        case let l as CPUQuantizedLinear:
            let w = l.layer.weight
            let exact = w.dequantized().to(.f32) + matmul(f.up, f.down)
            let q = try QuantizedWeight.quantize(exact, format: w.format, granularity: w.granularity)
            var layer = try QuantizedLinear(weight: q, bias: l.layer.bias, panelBytes: l.layer.panelBytes)
            layer.precision = l.layer.precision
            return (CPUQuantizedLinear(layer), relativeDistance(q.dequantized().to(.f32), exact))
        case let l as GGUFLinear:
            let exact = l.dequantizedWeight() + matmul(f.up, f.down)
            let q = try GGUFLinear(quantizing: exact, format: l.format, bias: l.bias)
            let placed = try GGUFLinear(blocks: q.blocks.moved(to: l.blocks.backend), format: l.format, inFeatures: l.inFeatures,
                                        outFeatures: l.outFeatures, bias: l.bias)
            return (placed, relativeDistance(q.dequantizedWeight(), exact))
        default:
            throw ModelError.invalidParameter("cannot fuse a LoRA into a \(type(of: self)) layer")
        }
    }
}

/// ‖a − b‖ / ‖b‖ (0 when b is zero).
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
