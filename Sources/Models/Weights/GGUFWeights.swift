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
    /// for the precisions that quantize again on load (no bf16 rounding in between), bf16 for `.bf16`
    /// (held as bf16 like a released checkpoint).
    var ggufDequantizedDType: DType { self == .bf16 ? .bf16 : .f32 }
}
