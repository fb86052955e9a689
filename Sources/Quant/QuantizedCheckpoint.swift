#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tensor

/// Key and metadata conventions of quantized checkpoints, as found in the wild and as we write them.
public enum QuantKeys {
    /// ComfyUI legacy per-layer weight scale (f32 scalar).
    public static let scaleWeight = ".scale_weight"
    /// ComfyUI legacy static activation scale.
    public static let scaleInput = ".scale_input"
    /// Newer per-layer weight scale (ComfyUI, compressed-tensors, ModelOpt): [], [1], [out], [out, 1],
    /// [out, in/n] (row blocks) or [out/m, in/n] (2-D tiles).
    public static let weightScale = ".weight_scale"
    /// Newer static activation scale.
    public static let inputScale = ".input_scale"
    /// ComfyUI per-layer format marker (u8 JSON text); ignored on reading.
    public static let comfyQuant = ".comfy_quant"
    /// ComfyUI legacy marker key (its dtype names the float8 format), possibly behind a prefix.
    public static let scaledFP8Marker = "scaled_fp8"
    /// `__metadata__` key naming the format of our quantized files (`int8`, `int4`, `fp8-e4m3fn`, ...).
    public static let formatMetadata = "majicflux.quant.format"
    /// `__metadata__` key naming the scale granularity of our quantized files.
    public static let scaleMetadata = "majicflux.quant.scale"

    /// True for companion keys that are not model parameters (scales, markers).
    public static func isCompanion(_ name: String) -> Bool {
        name.hasSuffix(scaleWeight) || name.hasSuffix(scaleInput) || name.hasSuffix(weightScale)
            || name.hasSuffix(inputScale) || name.hasSuffix(comfyQuant)
            || name == scaledFP8Marker || name.hasSuffix("." + scaledFP8Marker)
    }
}

/// A checkpoint whose Linear weights may be stored quantized, read as it is found in the wild:
/// - plain F8_E4M3 / F8_E5M2 weights without scales (DiffSynth, many Flux fp8 files): value = fp8;
/// - ComfyUI scaled fp8: `<layer>.weight` F8 + `<layer>.scale_weight` (+ `scale_input`, `scaled_fp8` marker):
///   value = fp8 * scale_weight;
/// - newer `<layer>.weight_scale` / `input_scale` files (per-tensor, per-channel, row-block or 2-D tile
///   scales; F8, I8 weights), and our own int4 files (U8 nibbles, `majicflux.quant.format` = int4).
/// Model code asks for `linearWeight(_:)` and gets a `QuantizedWeight` without any f32 expansion.
// unchecked: every field is a `let`; `source` (a non-Sendable protocol) is only read, and the package's sources are read-only or locked (`ShardLock`).
public final class QuantizedCheckpoint: @unchecked Sendable {
    /// How the checkpoint stores its weights.
    public enum Style: String, Sendable {
        /// No float8/int weights.
        case unquantized
        /// Float8 weights without scales.
        case plainFP8
        /// ComfyUI `scale_weight` / `scaled_fp8` files.
        case comfyScaledFP8
        /// `weight_scale` files (newer ComfyUI, compressed-tensors, ours).
        case weightScale
    }

    /// The underlying tensors.
    public let source: TensorSource
    /// Detected storage style.
    public let style: Style
    /// Model parameter names: every tensor name except scale companions and markers, in file order.
    public let parameterNames: [String]
    /// The float8 format named by a `scaled_fp8` marker, if present.
    public let markerFormat: QuantFormat?
    private let names: Set<String>
    private let packedInt4: Bool

    /// Inspects `source` (names, dtypes and the small marker tensors only).
    public init(_ source: TensorSource) throws {
        self.source = source
        let all = source.tensorNames
        names = Set(all)
        parameterNames = all.filter { !QuantKeys.isCompanion($0) }
        packedInt4 = source.metadataStrings[QuantKeys.formatMetadata] == QuantFormat.int4.rawValue
        var marker: QuantFormat?
        if let m = all.first(where: { $0 == QuantKeys.scaledFP8Marker || $0.hasSuffix("." + QuantKeys.scaledFP8Marker) }) {
            let dt = try source.tensorInfo(named: m).dtype
            marker = dt == .f8e5m2 ? .fp8e5m2 : .fp8e4m3fn  // ComfyUI treats an f32 marker as e4m3fn
        }
        markerFormat = marker
        if marker != nil || all.contains(where: { $0.hasSuffix(QuantKeys.scaleWeight) }) {
            style = .comfyScaledFP8
        } else if all.contains(where: { $0.hasSuffix(QuantKeys.weightScale) }) {
            style = .weightScale
        } else if try all.contains(where: { n in
            let dt = try source.tensorInfo(named: n).dtype
            return dt == .f8e4m3fn || dt == .f8e5m2
        }) {
            style = .plainFP8
        } else {
            style = .unquantized
        }
    }

    /// True when `name` exists (parameters and companions).
    public func contains(_ name: String) -> Bool { names.contains(name) }

    /// The scale tensor name of Linear `layer` (`<layer>.weight_scale` or `<layer>.scale_weight`), if any.
    public func weightScaleName(layer: String) -> String? {
        for s in [QuantKeys.weightScale, QuantKeys.scaleWeight] where names.contains(layer + s) { return layer + s }
        return nil
    }

    /// The Linear whose weight tensor `name` (`<layer>.weight`) is, when it is stored with a scale.
    public func scaledLayer(ofWeight name: String) -> String? {
        guard name.hasSuffix(".weight") else { return nil }
        let layer = String(name.dropLast(".weight".count))
        return weightScaleName(layer: layer) != nil ? layer : nil
    }

    /// True when `<layer>.weight` is stored in a float8 or integer format (scaled or not).
    public func isQuantized(layer: String) throws -> Bool {
        if weightScaleName(layer: layer) != nil { return true }
        let dt = try source.tensorInfo(named: layer + ".weight").dtype
        return dt == .f8e4m3fn || dt == .f8e5m2
    }

    /// The weight of Linear `layer` (its name without `.weight`) as stored: plain (bf16/f16/f32/fp8)
    /// or quantized with its scales; the static input scale is attached when the file has one.
    public func linearWeight(_ layer: String) throws -> QuantizedWeight {
        let path = source.sourceDescription
        let wName = layer + ".weight"
        guard names.contains(wName) else { throw TensorError.missingTensor(name: wName, path: path) }
        let w = try source.tensor(named: wName)
        guard w.rank == 2 else { throw TensorError.corrupt(path: path, reason: "\(wName) has shape \(w.shape); a Linear weight is 2-D") }
        guard let sName = weightScaleName(layer: layer) else {
            guard QuantFormat(plain: w.dtype) != nil else {
                throw TensorError.corrupt(path: path, reason: "\(wName) is \(w.dtype) without a scale tensor")
            }
            return try QuantizedWeight(plain: w)
        }
        let format: QuantFormat
        switch w.dtype {
        case .f8e4m3fn: format = .fp8e4m3fn
        case .f8e5m2: format = .fp8e5m2
        case .i8: format = .int8
        case .u8 where packedInt4: format = .int4
        case .bf16, .f16, .f32:
            // A scale next to an unquantized weight: fold it in only if it is a scalar 1 (some exporters).
            throw TensorError.corrupt(path: path, reason: "\(wName) is \(w.dtype) but has a scale tensor \(sName)")
        default:
            throw TensorError.corrupt(path: path, reason: "\(wName) has dtype \(w.dtype) with scales; packed format unknown (not \(QuantKeys.formatMetadata)=int4)")
        }
        let rows = w.shape[0], cols = format == .int4 ? w.shape[1] * 2 : w.shape[1]
        let (granularity, scales) = try Self.interpretScales(try source.tensor(named: sName), rows: rows, columns: cols,
                                                             name: sName, path: path)
        var q = try QuantizedWeight(format: format, granularity: granularity, rows: rows, columns: cols, data: w, scales: scales)
        q.inputScale = try inputScale(layer: layer)
        return q
    }

    /// The static activation scale of `layer` (`input_scale` / `scale_input`), if the file has a scalar one.
    public func inputScale(layer: String) throws -> Float? {
        for s in [QuantKeys.inputScale, QuantKeys.scaleInput] where names.contains(layer + s) {
            let t = try source.tensor(named: layer + s)
            if t.count == 1 { return t.floats()[0] }
        }
        return nil
    }

    /// Any parameter as a plain tensor: stored tensors as they are; a quantized Linear weight
    /// dequantized to f32 (a full copy: meant for small tensors or tools, not for model weights).
    public func tensor(named name: String) throws -> Tensor {
        if name.hasSuffix(".weight") {
            let layer = String(name.dropLast(7))
            if weightScaleName(layer: layer) != nil { return try linearWeight(layer).dequantized() }
        }
        return try source.tensor(named: name)
    }

    /// Maps a scale tensor's shape onto a granularity for a (rows, columns) weight.
    static func interpretScales(_ s: Tensor, rows: Int, columns: Int, name: String, path: String) throws -> (ScaleGranularity, Tensor) {
        let bad = TensorError.corrupt(path: path, reason: "\(name) has shape \(s.shape), which fits no scale layout of a \(rows)x\(columns) weight")
        guard s.dtype.isFloatingPoint else { throw TensorError.corrupt(path: path, reason: "\(name) has non-float dtype \(s.dtype)") }
        let n = s.count
        if n == 1 { return (.tensor, s.reshaped([])) }
        let dims = s.shape.filter { $0 != 1 }
        if n == rows && (s.rank == 1 || (s.rank == 2 && s.shape[0] == rows)) { return (.channel, s.reshaped([rows])) }
        guard s.rank == 2, dims.count <= 2 else { throw bad }
        let sr = s.shape[0], sc = s.shape[1]
        guard sc >= 1, sr >= 1, sr <= rows, sc <= columns else { throw bad }
        let block = (columns + sc - 1) / sc
        guard block >= 2, block % 2 == 0, (columns + block - 1) / block == sc else { throw bad }
        if sr == rows { return (.block(block), s) }
        // 2-D tiles [ceil(rows / m), blocks]: give every row its tile row's scales.
        let m = (rows + sr - 1) / sr
        guard (rows + m - 1) / m == sr else { throw bad }
        let v = s.floats()
        var expanded = [Float](repeating: 0, count: rows * sc)
        for r in 0..<rows { for b in 0..<sc { expanded[r * sc + b] = v[(r / m) * sc + b] } }
        return (.block(block), Tensor(expanded, shape: [rows, sc]))
    }
}
