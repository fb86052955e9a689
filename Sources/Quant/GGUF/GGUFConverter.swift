#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tensor

/// Converts a checkpoint into a GGUF file, tensor by tensor (`majicflux quantize --format gguf-...`).
///
/// The tensors the policy selects (by default the Linear weights of the Flux blocks) whose rows are
/// whole blocks of the type are stored as `type` (bytes identical to `gguf.quants.quantize`, or to
/// ggml's reference C quantisers for the k-quants); the
/// others keep their precision: F32, F16 and BF16 as stored, other floats (fp8, quantized layers
/// of the input) as F32, integers as I8 / I32 / I64. Names are kept (BFL names stay BFL names, which is
/// what ComfyUI-GGUF reads). Peak memory is about one weight in f32 plus its quantized bytes.
public final class GGUFConverter {
    /// One output tensor.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let type: GGMLType
        public let shape: [Int]
        /// True when the tensor is quantized to the target type (it gets an error report line).
        public let quantized: Bool
    }

    /// The target type of the selected tensors.
    public let type: GGMLType
    /// The input, read through the quantized-checkpoint reader (so fp8 / int inputs are understood).
    public let checkpoint: QuantizedCheckpoint
    /// Every output tensor in source order.
    public private(set) var entries: [Entry] = []
    /// The metadata written (after the architecture).
    public private(set) var metadata: [(String, GGUFValue)] = []
    /// Reports of the tensors quantized so far.
    public private(set) var reports: [QuantizeConverter.LayerReport] = []

    /// ggml's `LlamaFileType` for a file whose tensors are mostly `type` (`general.file_type`).
    static func fileType(_ type: GGMLType) -> UInt32 {
        switch type {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 7
        case .q5_0: return 8
        case .q5_1: return 9
        case .bf16: return 32
        case .q2_K: return 10
        case .q3_K: return 11  // MOSTLY_Q3_K_S: every selected tensor Q3_K
        case .q4_K: return 14  // MOSTLY_Q4_K_S
        case .q5_K: return 16  // MOSTLY_Q5_K_S
        case .q6_K: return 18
        default: return 0
        }
    }

    /// Plans the output of `source` (reads names, dtypes and shapes only). `selects` picks the tensors
    /// stored as `type` (by name and logical shape).
    public init(source: TensorSource, type: GGMLType,
                selects: @escaping @Sendable (String, [Int]) -> Bool = QuantPolicy.isFluxBlockLinearWeight) throws {
        guard GGMLType.quantizable.contains(type) else {
            throw TensorError.invalidArgument("GGUF output type must be one of \(GGMLType.quantizable.map(\.name).joined(separator: ", ")), got \(type)")
        }
        self.type = type
        checkpoint = try QuantizedCheckpoint(source)
        var planned: [Entry] = []
        for name in checkpoint.parameterNames {
            let info = try source.tensorInfo(named: name)
            var shape = info.shape
            let layer = name.hasSuffix(".weight") ? String(name.dropLast(7)) : nil
            let scaled = layer.map { checkpoint.weightScaleName(layer: $0) != nil } ?? false
            if scaled, let l = layer { let q = try checkpoint.linearWeight(l); shape = [q.rows, q.columns] }
            if (info.dtype.isFloatingPoint || scaled), selects(name, shape), type.rowBytes(shape.last ?? 1) != nil, shape.count <= 4 {
                planned.append(Entry(name: name, type: type, shape: shape, quantized: true))
                continue
            }
            let stored: GGMLType
            switch info.dtype {
            case _ where scaled: stored = .f32
            case .f32: stored = .f32
            case .f16: stored = .f16
            case .bf16: stored = .bf16
            case .f8e4m3fn, .f8e5m2: stored = .f32
            case .i8: stored = .i8
            case .i32: stored = .i32
            case .i64: stored = .i64
            default: throw TensorError.invalidArgument("\(source.sourceDescription): tensor '\(name)' is \(info.dtype), which GGUF cannot hold")
            }
            guard shape.count <= 4 else {
                throw TensorError.invalidArgument("\(source.sourceDescription): tensor '\(name)' has \(shape.count) dimensions; GGUF holds at most 4")
            }
            planned.append(Entry(name: name, type: stored, shape: shape, quantized: false))
        }
        entries = planned
        let stripped = planned.map { QuantPolicy.strippingPrefix($0.name) }
        if stripped.contains(where: { $0.hasPrefix("double_blocks.") || $0.hasPrefix("single_blocks.") || $0.hasPrefix("transformer_blocks.") }) {
            metadata.append(("general.architecture", .string("flux")))
        }
        metadata += [("general.quantization_version", .uint32(2)),
                     ("general.file_type", .uint32(GGUFConverter.fileType(type))),
                     ("majicflux.quant.format", .string("gguf-" + type.name.lowercased()))]
    }

    /// Number of tensors stored as the target type.
    public var quantizedLayerCount: Int { entries.filter(\.quantized).count }

    /// The input tensor `name` as stored, or dequantized to f32 for quantized layers of the input.
    private func original(_ name: String) throws -> Tensor {
        if name.hasSuffix(".weight"), checkpoint.weightScaleName(layer: String(name.dropLast(7))) != nil {
            return try checkpoint.linearWeight(String(name.dropLast(7))).dequantized()
        }
        return try checkpoint.source.tensor(named: name)
    }

    /// The bytes of `entry`; quantizing also appends its report and calls `onLayer`.
    public func bytes(for entry: Entry, onLayer: ((QuantizeConverter.LayerReport) -> Void)? = nil) throws -> [UInt8] {
        let start = Date()
        let t = try original(entry.name)
        let count = entry.shape.reduce(1, *)
        switch entry.type {
        case .f16 where !entry.quantized && t.dtype == .f16, .bf16 where !entry.quantized && t.dtype == .bf16,
             .i8 where t.dtype == .i8, .i32 where t.dtype == .i32, .i64 where t.dtype == .i64:
            return t.contiguous().hostBytes()
        default: break
        }
        let x = t.to(.f32).contiguous()
        var out = [UInt8](repeating: 0, count: GGUFQuantize.byteCount(entry.type, count: count))
        let src = UnsafePointer<Float>(x.rawPointer.assumingMemoryBound(to: Float.self))
        try out.withUnsafeMutableBytes { try GGUFQuantize.quantize(entry.type, from: src, count: count, into: $0.baseAddress!) }
        guard entry.quantized else { return out }
        let error = try out.withUnsafeBytes { q in
            try GGUFConverter.measure(original: src, quantized: q.baseAddress!, type: entry.type, count: count)
        }
        let report = QuantizeConverter.LayerReport(layer: entry.name.hasSuffix(".weight") ? String(entry.name.dropLast(7)) : entry.name,
                                                   shape: entry.shape, error: error, bytesIn: t.byteCount, bytesOut: out.count,
                                                   seconds: Date().timeIntervalSince(start))
        reports.append(report)
        onLayer?(report)
        return out
    }

    /// The error of `quantized` (count elements of `type`) against `original`: relative Frobenius
    /// error and max abs error over finite originals; NaN results of non-NaN originals; "overflow"
    /// counts finite originals that came back infinite (a block scale beyond the f16 range).
    static func measure(original: UnsafePointer<Float>, quantized: UnsafeRawPointer, type: GGMLType, count: Int) throws -> QuantizationError {
        var back = [Float](repeating: 0, count: count)
        try back.withUnsafeMutableBufferPointer { try GGUFDequantize.dequantize(type, from: quantized, count: count, into: $0.baseAddress!) }
        var sd = 0.0, so = 0.0, m: Float = 0, nans = 0, overs = 0
        for i in 0..<count {
            let x = original[i], y = back[i]
            if x.isNaN { continue }
            if y.isNaN { nans += 1; continue }
            if x.isFinite && y.isInfinite { overs += 1; continue }
            if x.isFinite && y.isFinite {
                let e = Swift.abs(x - y)
                m = Swift.max(m, e)
                sd += Double(e) * Double(e)
                so += Double(x) * Double(x)
            }
        }
        return QuantizationError(count: count, relativeError: so > 0 ? (sd / so).squareRoot() : (sd > 0 ? .infinity : 0),
                                 maxAbsError: m, nanCount: nans, overflowCount: overs)
    }

    /// Streams the GGUF file to `path` (a temporary name renamed when complete).
    public func write(to path: String, onLayer: ((QuantizeConverter.LayerReport) -> Void)? = nil) throws -> QuantizeConverter.Summary {
        try OutputPath.check(path, notSameAs: checkpoint.source.filePaths)
        let start = Date()
        let writer = try GGUFWriter(path: path, metadata: metadata,
                                    entries: entries.map { GGUFWriter.Entry(name: $0.name, type: $0.type, shape: $0.shape) })
        for e in entries {
            let b = try bytes(for: e, onLayer: onLayer)
            try b.withUnsafeBytes { try writer.append($0, named: e.name) }
            if let t = try? checkpoint.source.tensor(named: e.name) { QuantizeConverter.releasePages(of: t) }
        }
        try writer.finish()
        return QuantizeConverter.Summary(tensors: entries.count, quantizedLayers: quantizedLayerCount,
                                         bytesWritten: writer.dataBytesWritten, seconds: Date().timeIntervalSince(start))
    }
}
