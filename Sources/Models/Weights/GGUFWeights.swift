import Quant
import Tensor

/// A GGUF file (`GGUFFile`) as a `WeightSource`: the tensors under their stored names, in PyTorch
/// shapes. F32 / F16 / BF16 tensors are zero-copy views of the mapping; quantized ones (Q8_0 ... Q2_K)
/// are dequantized when read, to `dequantizedDType` (exact f32 by default; the loader converts to its
/// compute dtype either way, so asking for that dtype here only saves a transient copy).
///
/// ComfyUI-GGUF's `comfy.gguf.orig_shape.<name>` metadata (int32 arrays, written for tensors it had
/// to flatten) gives a tensor its original shape.
public final class GGUFWeights: WeightSource {
    /// The file.
    public let file: GGUFFile
    /// The dtype quantized tensors are dequantized to (f32, bf16 or f16).
    public let dequantizedDType: DType
    private let shapes: [String: [Int]]

    /// Opens `path`; throws `TensorError` naming the file for anything that is not a valid GGUF file
    /// or a corrupt `comfy.gguf.orig_shape` entry.
    public init(path: String, dequantizedDType: DType = .f32) throws {
        file = try GGUFFile(path: path)
        self.dequantizedDType = dequantizedDType.isFloatingPoint && dequantizedDType.byteSize >= 2 ? dequantizedDType : .f32
        var shapes: [String: [Int]] = [:]
        for info in file.tensorInfos {
            let key = "comfy.gguf.orig_shape." + info.name
            guard let value = file.metadata(key) else { shapes[info.name] = info.shape; continue }
            guard let dims = value.array?.integers, dims.allSatisfy({ $0 >= 0 }),
                  dims.reduce(1, { $0.multipliedReportingOverflow(by: $1).overflow ? -1 : $0 * $1 }) == info.count else {
                throw TensorError.corrupt(path: path, reason: "\(key) = \(value) is not a shape of the tensor's \(info.count) elements")
            }
            shapes[info.name] = dims
        }
        self.shapes = shapes
    }

    public var names: [String] { file.names }
    public func shape(of name: String) -> [Int]? { shapes[name] }

    /// The stored dtype for F32/F16/BF16 and integer tensors, `dequantizedDType` for quantized ones;
    /// nil for absent tensors and types that cannot be read (reading them throws, naming the type).
    public func dtype(of name: String) -> DType? {
        guard let info = try? file.info(named: name), let d = GGUFFile.outputDType(info.type) else { return nil }
        return info.type.blockSize > 1 ? dequantizedDType : d
    }

    public func tensor(_ name: String) throws -> Tensor {
        let info = try file.info(named: name)
        var t = try file.tensor(named: name)
        if info.type.blockSize > 1 && t.dtype != dequantizedDType { t = t.to(dequantizedDType) }
        if let s = shapes[name], s != t.shape { t = t.reshaped(s) }
        return t
    }
}

/// Opens a weights file or folder: a GGUF file (by its magic, whatever the extension) as `GGUFWeights`,
/// anything else as a safetensors checkpoint (`CheckpointWeights`). `dequantizedDType` is the dtype
/// GGUF's quantized tensors come out in.
public func openWeights(path: String, dequantizedDType: DType = .f32) throws -> WeightSource {
    if isGGUF(path) { return try GGUFWeights(path: path, dequantizedDType: dequantizedDType) }
    return try CheckpointWeights(path: path)
}

/// True when `path` is a GGUF file: named `.gguf`, or a regular file starting with the GGUF magic.
public func isGGUF(_ path: String) -> Bool {
    path.lowercased().hasSuffix(".gguf") || GGUFFile.hasMagic(path)
}

extension WeightPrecision {
    /// The dtype GGUF's quantized tensors are dequantized to under this precision: f32 for `.f32` and
    /// for fp8/int8/int4, which quantize again on load (no bf16 rounding in between); bf16 for the
    /// precisions holding ggml blocks (`bf16`, `gguf`, `q8_0` ...: the tensors not kept as blocks, a
    /// GGUF T5 included, are held as bf16 like a released checkpoint).
    var ggufDequantizedDType: DType { holdsGGUFBlocks ? .bf16 : .f32 }
}

/// A weight source that can hand out a GGUF tensor's ggml blocks as stored (for `GGUFLinear`).
public protocol GGUFBlockSource: WeightSource {
    /// The blocks of `name` as a u8 [rows, rowBytes] view of the file when it is a 2-D tensor stored
    /// in a ggml block type (`BlockQuantFormat`); nil for plain (F32/F16/BF16) and absent tensors.
    func ggufBlocks(_ name: String) throws -> (format: BlockQuantFormat, blocks: Tensor)?
}

extension GGUFWeights: GGUFBlockSource {
    public func ggufBlocks(_ name: String) throws -> (format: BlockQuantFormat, blocks: Tensor)? {
        guard file.contains(name) else { return nil }
        let info = try file.info(named: name)
        guard let format = info.type.blockQuantFormat, let shape = shapes[name], shape.count == 2,
              let rowBytes = info.type.rowBytes(shape[1]), shape[0] * rowBytes == info.byteCount else { return nil }
        let bytes = try file.bytes(named: name)
        guard let base = bytes.baseAddress else { return nil }
        // A view of the mapping (u8 needs no alignment); the file stays mapped while the tensor lives.
        let storage = Storage(pointer: UnsafeMutableRawPointer(mutating: base), byteCount: bytes.count,
                              backend: CPUBackend.shared, owner: file.mapping, release: nil)
        return (format, Tensor(storage: storage, dtype: .u8, shape: [shape[0], rowBytes]))
    }
}

extension PrefixedWeights: GGUFBlockSource {
    public func ggufBlocks(_ name: String) throws -> (format: BlockQuantFormat, blocks: Tensor)? {
        guard let b = base as? any GGUFBlockSource else { return nil }
        return try b.ggufBlocks(prefix + name)
    }
}

/// Which Linears a loader holds as ggml blocks (`GGUFLinear`, `LinearQuantization.ggufBlocks`).
public enum GGUFBlockHolding: Sendable, Equatable {
    /// `--precision bf16` (the default, "as stored") and `gguf`: every Linear weight a GGUF file stores
    /// in a ggml block type, as stored; nothing else (other files load as stored). Keeping the blocks
    /// is the point of a GGUF file on a small machine; `--precision f32` dequantises instead.
    case asStored
    /// `--precision q8_0`, `q4_k`, ...: the DiT's block Linears (`QuantPolicy.isFluxBlockLinearWeight`)
    /// in this type: kept as stored when a GGUF file holds them so, else quantised as they load
    /// (`GGUFQuantize`; the k-quants' searches take minutes for a full-size DiT on a small CPU).
    /// Weights whose rows are not whole blocks of the type stay dense.
    case type(GGMLType)

    /// Whether weight `name` (shape `shape`, stored as `stored`, nil when not a ggml block type) is
    /// held as blocks, and in which type (`stored` itself when kept as is).
    func target(_ name: String, shape: [Int], stored: GGMLType?) -> GGMLType? {
        switch self {
        case .asStored: return stored
        case .type(let t):
            guard shape.count == 2, QuantPolicy.isFluxBlockLinearWeight(name, shape: shape), t.rowBytes(shape[1]) != nil else { return nil }
            return t
        }
    }
}

extension LinearQuantization {
    /// `--precision bf16` / `gguf`: Linear weights a GGUF file stores in ggml blocks stay so
    /// (`GGUFLinear`); nothing is quantized on load (the policy selects no tensor).
    public static let ggufBlocks = LinearQuantization(policy: .selectingNothing, ggufBlocks: .asStored)

    /// The DiT's block Linears as `type` blocks (`GGUFBlockHolding.type`).
    public static func gguf(_ type: GGMLType) -> LinearQuantization { LinearQuantization(policy: .selectingNothing, ggufBlocks: .type(type)) }
}

extension QuantPolicy {
    /// Selects nothing: the GGUF holdings choose their layers themselves.
    static let selectingNothing = QuantPolicy(format: .bf16, granularity: .tensor, selects: { _, _ in false })
}

extension WeightPrecision {
    /// The ggml type of `--precision q8_0`, `q4_k`, ...; nil for the others.
    public var ggmlType: GGMLType? { GGMLType(name: rawValue).flatMap { $0.blockQuantFormat != nil ? $0 : nil } }

    /// True for the precisions holding DiT Linears as ggml blocks: `bf16` and `gguf` (those a GGUF file
    /// stores so) and the GGUF types.
    public var holdsGGUFBlocks: Bool { ggufHolding != nil }

    /// The holding of `bf16` and `gguf` (a GGUF file's blocks as stored) and the GGUF types.
    var ggufHolding: GGUFBlockHolding? {
        if self == .gguf || self == .bf16 { return .asStored }
        return ggmlType.map { .type($0) }
    }
}

extension WeightLoader {
    /// Linear `prefix` (out, in) as a `GGUFLinear`, when the loader holds ggml blocks
    /// (`LinearQuantization.ggufBlocks`) for this weight and the backend can run them (the CPU, or a
    /// backend adopting `BlockDequantizing`): the file's blocks when it stores the weight in the
    /// target type, else the weight quantised now. nil otherwise (the layer loads dense).
    func ggufLinear(_ prefix: String, out: Int, in inFeatures: Int, bias: Tensor?) -> GGUFLinear? {
        guard let holding = quantization?.ggufBlocks else { return nil }
        let target = backend ?? CPUBackend.shared
        guard target.device == .cpu || target is any BlockDequantizing else { return nil }
        let weightName = prefix + ".weight"
        guard shape(of: weightName) == [out, inFeatures] else { return nil }
        do {
            let stored = try (source as? any GGUFBlockSource)?.ggufBlocks(weightName)
            guard let type = holding.target(weightName, shape: [out, inFeatures], stored: stored.map { GGMLType($0.format) }),
                  let format = type.blockQuantFormat else { return nil }
            var blocks: Tensor
            if let stored, stored.format == format {
                markUsed(weightName)
                blocks = stored.blocks
            } else {
                let w = take(weightName, shape: [out, inFeatures])
                blocks = try GGUFLinear.blocks(quantizing: w, format: format)
                MappedFile.releaseResidentPages(of: w)
            }
            if blocks.backend !== target { blocks = blocks.moved(to: target) }
            var layer = try GGUFLinear(blocks: blocks, format: format, inFeatures: inFeatures, outFeatures: out, bias: bias)
            // On fp8 tensor cores every format runs as per-tensor e4m3 (BENCHMARKS.md "GGUF on the GPU"):
            // full size, Q8_0 then takes 1.15x the fp8 step at fp8's error (0.0221 vs 0.0220), where
            // ggml's exact values in bf16 took 1.59x; per-row scales (`fp8RowScales`) were measured at
            // 1.20x with the same error, so they stay off.
            layer.computesInFP8 = (target as? any BlockFP8Expanding)?.expandsBlocksToFP8 == true
            return layer
        } catch {
            report("\(weightName): \(error)")
            return nil
        }
    }
}

extension MemoryModel {
    /// Bytes tensor `name` of `w` takes when `precision` holds it as ggml blocks (`gguf`: a 2-D block
    /// tensor of a GGUF file, its stored size; `q8_0`, `q4_k`, ...: a DiT block Linear, in that
    /// type's bytes per weight). nil otherwise (the tensor counts as it loads).
    static func keptGGUFBytes(_ w: WeightSource, _ name: String, precision: WeightPrecision) -> Int64? {
        guard let holding = precision.ggufHolding, let shape = w.shape(of: name) else { return nil }
        let g = w as? GGUFWeights
        let stored = (try? g?.file.info(named: name))??.type
        guard let type = holding.target(QuantPolicy.strippingPrefix(name).description, shape: shape,
                                        stored: stored?.blockQuantFormat != nil && shape.count == 2 ? stored : nil),
              let rowBytes = type.rowBytes(shape[1]) else { return nil }
        return Int64(shape[0]) * Int64(rowBytes)
    }
}
