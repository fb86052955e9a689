import Quant
import Tensor

/// A Linear whose weight is quantized with scales (scaled fp8, int8, int4) and multiplied by Quant's
/// panel-dequantising CPU kernel. Its codes live inside Quant's kernel object: streaming and device
/// slots cannot move them (`visit` refuses to hand them out for replacement).
public struct CPUQuantizedLinear: LinearLayer {
    public let layer: QuantizedLinear

    public init(_ layer: QuantizedLinear) { self.layer = layer }

    /// The codes and scales are visited read-only: a visitor that replaces them gets an error, so a
    /// CPU-quantized model is never silently half-moved to another memory.
    public mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        var tensors: [Tensor?] = [layer.weight.data, layer.weight.scales, layer.bias]
        for (key, i) in [("weight", 0), ("weight_scale", 1), ("bias", 2)] {
            let before = tensors[i]
            try v.parameter(key, &tensors[i])
            if let b = before, let a = tensors[i], a.storage !== b.storage || a.offset != b.offset {
                throw ModelError.invalidParameter("a layer quantized for the CPU (int8/int4/scaled fp8) cannot be moved between memories; use bf16 or fp8 on the GPU")
            }
        }
    }

    public var inFeatures: Int { layer.weight.columns }
    public var outFeatures: Int { layer.weight.rows }
    public func callAsFunction(_ x: Tensor) -> Tensor { layer(x) }
}
