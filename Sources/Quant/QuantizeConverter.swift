#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tensor

/// Converts a checkpoint into a quantized one, tensor by tensor.
///
/// `entries` lists every output tensor (name, dtype, shape) before any data is produced, so a streaming
/// writer can emit the header first; `tensor(for:)` then produces one output tensor at a time, in any
/// order. Peak memory is about one weight plus its quantized copy: inputs are read through the source
/// (memory-mapped for safetensors) and only the small scale arrays are cached between calls.
///
/// Output layout per quantized Linear `<layer>` (all readable by `QuantizedCheckpoint`):
/// - `<layer>.weight`: F8_E4M3 / F8_E5M2 codes, I8 values, or U8 int4 nibbles [out, in/2];
/// - fp8 with a tensor scale: ComfyUI's `<layer>.scale_weight` (F32 scalar) plus a `scaled_fp8` marker,
///   so ComfyUI loads the file natively;
/// - every other scale: `<layer>.weight_scale` F32, [] / [out, 1] (channel) / [out, in/n] (block);
/// - `__metadata__`: `majicflux.quant.format` and `majicflux.quant.scale`.
/// Tensors the policy leaves alone are copied byte for byte. Not thread-safe: produce from one thread.
public final class QuantizeConverter {
    /// One output tensor.
    public struct Entry: Sendable, Equatable {
        /// What produces an entry's data.
        public enum Kind: Sendable, Equatable {
            /// A source tensor copied unchanged.
            case copy(source: String)
            /// The codes of quantized Linear `layer`.
            case weight(layer: String)
            /// The scales of quantized Linear `layer`.
            case scale(layer: String)
            /// The empty `scaled_fp8` marker.
            case marker
        }
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public let kind: Kind
    }

    /// The per-layer line of the error report.
    public struct LayerReport: Sendable {
        public let layer: String
        public let shape: [Int]
        public let error: QuantizationError
        public let bytesIn: Int
        public let bytesOut: Int
        public let seconds: Double
    }

    /// The quantisation policy.
    public let policy: QuantPolicy
    /// The input, read through the quantized-checkpoint reader (so fp8 inputs are understood).
    public let checkpoint: QuantizedCheckpoint
    /// Every output tensor, in source order (quantized layers expand to weight [+ scale]).
    public private(set) var entries: [Entry] = []
    /// `__metadata__` of the output.
    public private(set) var metadata: [String: String] = [:]
    /// Reports of the layers quantized so far, in production order.
    public private(set) var reports: [LayerReport] = []

    private var scaleCache: [String: [Float]] = [:]

    /// Plans the output of `source` under `policy` (reads names, dtypes and shapes only).
    public init(source: TensorSource, policy: QuantPolicy) throws {
        guard policy.format.isQuantized else {
            throw TensorError.invalidArgument("quantize format must be one of \(QuantFormat.quantizedFormats.map(\.rawValue))")
        }
        if policy.format.isInteger && policy.granularity == .none {
            throw TensorError.invalidArgument("--format \(policy.format) needs --scale tensor, channel or block:N")
        }
        self.policy = policy
        checkpoint = try QuantizedCheckpoint(source)
        let fmt = policy.format, gran = policy.granularity
        let comfyLegacy = fmt.isFloat8 && gran == .tensor
        var requantized = Set<String>()
        var planned: [Entry] = []
        for name in checkpoint.parameterNames {
            let info = try source.tensorInfo(named: name)
            var logical = info.shape
            let layer = name.hasSuffix(".weight") ? String(name.dropLast(7)) : nil
            if let l = layer, info.dtype == .u8, info.shape.count == 2, checkpoint.weightScaleName(layer: l) != nil {
                logical = [info.shape[0], info.shape[1] * 2]  // int4 input
            }
            guard let l = layer, info.dtype.isFloatingPoint || logical != info.shape || info.dtype == .i8,
                  policy.shouldQuantize(name, shape: logical) else {
                planned.append(Entry(name: name, dtype: info.dtype, shape: info.shape, kind: .copy(source: name)))
                continue
            }
            if fmt == .int4 && logical[1] % 2 != 0 {
                throw TensorError.invalidArgument("\(name): int4 files need an even number of columns, got \(logical[1])")
            }
            requantized.insert(l)
            planned.append(Entry(name: name, dtype: fmt.storageDType,
                                 shape: [logical[0], fmt == .int4 ? logical[1] / 2 : logical[1]], kind: .weight(layer: l)))
            if let shape = gran.scaleShape(rows: logical[0], columns: logical[1]) {
                let scaleName = l + (comfyLegacy ? QuantKeys.scaleWeight : QuantKeys.weightScale)
                planned.append(Entry(name: scaleName, dtype: .f32, shape: gran == .channel ? [logical[0], 1] : shape,
                                     kind: .scale(layer: l)))
            }
        }
        // Companions (scales) of layers that are not re-quantized are carried over; an old `scaled_fp8`
        // marker only while some carried layer still has a ComfyUI `scale_weight`.
        var carried: [String] = []
        var oldMarkers: [String] = []
        for name in source.tensorNames where QuantKeys.isCompanion(name) {
            if name == QuantKeys.scaledFP8Marker || name.hasSuffix("." + QuantKeys.scaledFP8Marker) {
                oldMarkers.append(name)
                continue
            }
            let owner = [QuantKeys.scaleWeight, QuantKeys.scaleInput, QuantKeys.weightScale, QuantKeys.inputScale, QuantKeys.comfyQuant]
                .first { name.hasSuffix($0) }.map { String(name.dropLast($0.count)) }
            if let o = owner, requantized.contains(o) { continue }
            carried.append(name)
        }
        let newMarker = comfyLegacy && !requantized.isEmpty
        if !newMarker && carried.contains(where: { $0.hasSuffix(QuantKeys.scaleWeight) }) { carried += oldMarkers }
        for name in carried {
            let info = try source.tensorInfo(named: name)
            planned.append(Entry(name: name, dtype: info.dtype, shape: info.shape, kind: .copy(source: name)))
        }
        if newMarker {
            let prefix = checkpoint.parameterNames.contains { $0.hasPrefix("model.diffusion_model.") } ? "model.diffusion_model." : ""
            planned.append(Entry(name: prefix + QuantKeys.scaledFP8Marker, dtype: fmt.storageDType, shape: [0], kind: .marker))
        }
        entries = planned
        var meta = source.metadataStrings
        meta[QuantKeys.formatMetadata] = fmt.rawValue
        meta[QuantKeys.scaleMetadata] = gran.description
        if fmt == .fp8e4m3fn && gran == .none {
            meta["majicflux.quant.overflow"] = policy.overflow == .saturate ? "saturate" : "nan"
        }
        if meta["format"] == nil { meta["format"] = "pt" }
        metadata = meta
    }

    /// Number of Linear weights that will be quantized.
    public var quantizedLayerCount: Int {
        entries.reduce(0) { if case .weight = $1.kind { return $0 + 1 } else { return $0 } }
    }

    /// The layer's original weight as a float tensor (dequantized first if the input stored it quantized).
    private func original(_ layer: String) throws -> Tensor {
        if checkpoint.weightScaleName(layer: layer) != nil { return try checkpoint.linearWeight(layer).dequantized() }
        return try checkpoint.source.tensor(named: layer + ".weight")
    }

    private func scales(_ layer: String, _ w: Tensor) throws -> [Float] {
        if let c = scaleCache[layer] { return c }
        let s = try QuantizedWeight.computeScales(w, format: policy.format, granularity: policy.granularity)
        scaleCache[layer] = s
        return s
    }

    /// Produces the data of `entry`. Quantizing a weight also appends its `LayerReport` and calls
    /// `onLayer` with it.
    public func tensor(for entry: Entry, onLayer: ((LayerReport) -> Void)? = nil) throws -> Tensor {
        switch entry.kind {
        case .copy(let name):
            return try checkpoint.source.tensor(named: name)
        case .marker:
            return CPUBackend.shared.empty([0], entry.dtype)
        case .scale(let layer):
            let s = try scales(layer, try original(layer))
            return Tensor(s, shape: entry.shape)
        case .weight(let layer):
            let start = Date()
            let w = try original(layer)
            let s = try scales(layer, w)
            let q = try QuantizedWeight.quantize(w, format: policy.format, granularity: policy.granularity,
                                                 scales: s, overflow: policy.overflow)
            let err = QuantizationError.measure(original: w, quantized: q)
            let report = LayerReport(layer: layer, shape: [q.rows, q.columns], error: err,
                                     bytesIn: w.byteCount, bytesOut: q.byteCount, seconds: Date().timeIntervalSince(start))
            reports.append(report)
            scaleCache[layer] = nil
            onLayer?(report)
            return q.data
        }
    }
}
