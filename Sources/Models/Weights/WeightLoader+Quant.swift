import Quant
import Tensor

/// A `WeightSource` seen as Quant's `TensorSource`, so `QuantizedCheckpoint` can read scaled layers
/// and the quantize converters can write a view (names sorted: a file's order must not depend on a
/// dictionary's).
final class WeightSourceTensors: TensorSource {
    let base: WeightSource
    let sourceDescription: String
    let tensorNames: [String]
    init(_ base: WeightSource, description: String) {
        self.base = base
        sourceDescription = description
        tensorNames = base.names.sorted()
    }
    var metadataStrings: [String: String] { base.metadata }
    func tensorInfo(named name: String) throws -> (dtype: DType, shape: [Int]) {
        guard let d = base.dtype(of: name), let s = base.shape(of: name) else {
            throw TensorError.missingTensor(name: name, path: sourceDescription)
        }
        return (d, s)
    }
    func tensor(named name: String) throws -> Tensor { try base.tensor(name) }
}

/// How Linear weights are held in memory, chosen by the caller (the `--precision` option).
public struct LinearQuantization: Sendable {
    /// Which Linear weights (canonical name, shape) are quantized when loaded unquantized.
    public var policy: QuantPolicy
    /// Linears held as ggml blocks (`GGUFLinear`): a GGUF file's as stored, or one type (GGUFWeights.swift).
    public var ggufBlocks: GGUFBlockHolding?
    public init(policy: QuantPolicy, ggufBlocks: GGUFBlockHolding? = nil) {
        self.policy = policy
        self.ggufBlocks = ggufBlocks
    }

    /// FLUX DiT block Linears in float8 e4m3fn with per-output-channel scales (1 byte per weight).
    public static let fluxFP8 = LinearQuantization(policy: .fluxDiT(format: .fp8e4m3fn, granularity: .channel))
    /// FLUX DiT block Linears in int8 with per-output-channel scales.
    public static let fluxInt8 = LinearQuantization(policy: .fluxDiT(format: .int8, granularity: .channel))
    /// FLUX DiT block Linears in int4 with one scale per 64 columns (ggml q4-style groups).
    public static let fluxInt4 = LinearQuantization(policy: .fluxDiT(format: .int4, granularity: .block(64)))
}

extension WeightLoader {
    /// Loads Linear `prefix` (weight (out, in)): quantized as the checkpoint stores it (ComfyUI
    /// `scale_weight`, `weight_scale` files, int4), or quantized now when `quantization` selects it;
    /// nil when the weight is used as a plain tensor. Scale companions count as used.
    func quantizedLinear(_ prefix: String, out: Int, in inFeatures: Int) -> QuantizedWeight? {
        let weightName = prefix + ".weight"
        guard let stored = shape(of: weightName) else { return nil }
        do {
            if let checkpoint = try quantizedCheckpoint(), checkpoint.weightScaleName(layer: prefix) != nil {
                markCompanionsUsed(prefix)
                markUsed(weightName)
                let q = try checkpoint.linearWeight(prefix)
                if q.rows != out || q.columns != inFeatures {
                    report("\(weightName): checkpoint has \(q.rows)x\(q.columns), model expects \(out)x\(inFeatures)")
                }
                return q
            }
            if let quantization, quantization.policy.shouldQuantize(weightName, shape: stored), stored == [out, inFeatures] {
                let w = take(weightName, shape: [out, inFeatures])
                let p = quantization.policy
                let q = try QuantizedWeight.quantize(w, format: p.format, granularity: p.granularity, overflow: p.overflow)
                // The full-precision pages are not read again: keep them out of the resident set.
                MappedFile.releaseResidentPages(of: w)
                return q
            }
        } catch {
            report("\(weightName): \(error)")
        }
        return nil
    }
}

extension WeightLoader {
    /// On a backend with an fp8 GEMM (`FP8GEMM`) and an fp8 `quantization` (`--precision fp8 --device
    /// cuda`): Linear `prefix` as float8 e4m3 codes plus f32 scale on the device, for `FP8Linear`. Scaled fp8 layers
    /// of the checkpoint keep their codes and scales, plain e4m3 weights get scale 1, and weights the
    /// policy selects are quantised per tensor on the GPU (the scaling cuBLASLt's fp8 GEMM takes on
    /// Hopper). nil when this layer stays a plain or CPU-quantized Linear.
    func gpuFP8Linear(_ prefix: String, out: Int, in inFeatures: Int) -> (codes: Tensor, scale: Tensor)? {
        guard let gpu = backend as? any FP8GEMM, let quantization, quantization.policy.format == .fp8e4m3fn else { return nil }
        let weightName = prefix + ".weight"
        // The layer's shape, not the stored one (packed int4 stores half the columns).
        guard quantization.policy.shouldQuantize(weightName, shape: [out, inFeatures]) else { return nil }
        do {
            if let checkpoint = try quantizedCheckpoint(), checkpoint.weightScaleName(layer: prefix) != nil {
                let q = try checkpoint.linearWeight(prefix)
                guard q.rows == out, q.columns == inFeatures else { return nil }   // the dense path reports it
                guard q.format == .fp8e4m3fn, q.granularity == .tensor || q.granularity == .channel, let s = q.scales else {
                    // int8, int4 or block-scaled fp8 (Quant's CPU formats): dequantized, then e4m3 per tensor.
                    return gpu.quantizeTensorE4M3(take(weightName, shape: [out, inFeatures]))
                }
                markCompanionsUsed(prefix)
                markUsed(weightName)
                return (q.data.moved(to: gpu), s.reshaped([s.count]).moved(to: gpu))
            }
            guard shape(of: weightName) == [out, inFeatures] else { return nil }
            if source.dtype(of: weightName) == .f8e4m3fn {
                markUsed(weightName)
                return (try source.tensor(weightName).moved(to: gpu), Tensor([1], shape: [1]).moved(to: gpu))
            }
            let w = take(weightName, shape: [out, inFeatures])
            return gpu.quantizeTensorE4M3(w)
        } catch {
            report("\(weightName): \(error)")
            return nil
        }
    }
}
