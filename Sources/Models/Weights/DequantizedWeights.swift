import Quant
import Tensor

/// A checkpoint whose scaled Linear weights (fp8 / int8 / int4 with `weight_scale` or `scale_weight`
/// companions) are presented as plain f32 weights, the companions and markers hidden. For layouts
/// that rename and fuse tensors on the way to BFL names (a quantized diffusers `transformer/`:
/// separately scaled q, k, v become one qkv), where the codes alone would lose their scales; the
/// loader quantizes again when `--precision` asks for it.
public final class DequantizedWeights: WeightSource {
    public let base: WeightSource
    private let checkpoint: QuantizedCheckpoint
    public let names: [String]

    /// `base` itself when it holds no scaled layer; else the dequantizing view.
    public static func wrapping(_ base: WeightSource, component: String) throws -> WeightSource {
        guard base.names.contains(where: QuantKeys.isCompanion) else { return base }
        return DequantizedWeights(base, checkpoint: try QuantizedCheckpoint(WeightSourceTensors(base, description: component)))
    }

    private init(_ base: WeightSource, checkpoint: QuantizedCheckpoint) {
        self.base = base
        self.checkpoint = checkpoint
        names = base.names.filter { !QuantKeys.isCompanion($0) }
    }

    public var metadata: [String: String] { base.metadata }

    /// From the stored shape, without reading the tensor (int4 packs two columns per byte).
    public func shape(of name: String) -> [Int]? {
        guard let stored = base.shape(of: name), checkpoint.scaledLayer(ofWeight: name) != nil, stored.count == 2 else { return base.shape(of: name) }
        let packed = base.dtype(of: name) == .u8 && metadata[QuantKeys.formatMetadata] == QuantFormat.int4.rawValue
        return [stored[0], packed ? stored[1] * 2 : stored[1]]
    }

    public func dtype(of name: String) -> DType? { checkpoint.scaledLayer(ofWeight: name) != nil ? .f32 : base.dtype(of: name) }

    public func tensor(_ name: String) throws -> Tensor {
        guard let layer = checkpoint.scaledLayer(ofWeight: name) else { return try base.tensor(name) }
        return try checkpoint.linearWeight(layer).dequantized()
    }
}

extension WeightSource {
    /// The shape `name` has as a model parameter: a Linear weight packed as int4 (two columns a byte,
    /// with its `weight_scale`) has twice its stored columns. What config inference must read, so
    /// that a DiT quantized with `--all-linear` (`img_in` packed too) infers its real input width.
    public func logicalShape(of name: String) -> [Int]? {
        guard let stored = shape(of: name), stored.count == 2, name.hasSuffix(".weight"), dtype(of: name) == .u8,
              metadata[QuantKeys.formatMetadata] == QuantFormat.int4.rawValue else { return shape(of: name) }
        let scale = String(name.dropLast(".weight".count)) + QuantKeys.weightScale
        return shape(of: scale) != nil ? [stored[0], stored[1] * 2] : stored
    }
}
