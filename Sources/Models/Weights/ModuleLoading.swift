import Quant
import Tensor

/// Fills a module's parameters from a `WeightLoader`: each parameter is taken under its full
/// checkpoint name with the placeholder's shape (missing and mis-shaped ones are recorded, and
/// `WeightLoader.finish()` reports them with the unused ones). Each dense Linear placeholder is
/// loaded in the form the checkpoint and the loader's policy call for, one layer at a time, so a
/// model is never held dense on the device first: `FP8Linear` on a backend with an fp8 GEMM,
/// `CPUQuantizedLinear` for scaled or policy-selected weights, else a dense `Linear`.
struct LoadingVisitor: ModuleVisitor {
    var path: [String]
    let loader: WeightLoader

    mutating func parameter(_ key: String, _ tensor: inout Tensor) throws {
        tensor = loader.take(name(key), shape: tensor.shape)
    }

    mutating func linear(_ key: String, _ layer: inout any LinearLayer) throws {
        guard let dense = layer as? Linear else { return try child(key, &layer) }
        layer = loader.loadLinear(name(key), like: dense)
    }
}

extension WeightLoader {
    /// Loads `module` (built with placeholders) from the checkpoint names under `path`.
    public func load<M: Module>(_ module: inout M, at path: [String] = []) throws {
        var v = LoadingVisitor(path: path, loader: self)
        try module.visit(&v)
    }

    /// Linear `prefix` shaped like `placeholder` (whose bias says whether there is one): on an
    /// `FP8GEMM` backend with an fp8 policy selecting it, e4m3 codes on the device; on the CPU,
    /// quantized as the checkpoint stores it or as the policy selects it; else dense (a checkpoint's
    /// quantized layer dequantized).
    func loadLinear(_ prefix: String, like placeholder: Linear) -> any LinearLayer {
        let (out, inFeatures) = (placeholder.outFeatures, placeholder.inFeatures)
        let bias = placeholder.bias.map { take("\(prefix).bias", shape: $0.shape) }
        if let fp8 = gpuFP8Linear(prefix, out: out, in: inFeatures) {
            return FP8Linear(codes: fp8.codes, scale: fp8.scale, bias: bias)
        }
        if let gguf = ggufLinear(prefix, out: out, in: inFeatures, bias: bias) { return gguf }
        // Quant's kernel for scaled fp8 / int8 / int4 runs on the CPU only: on another backend such a
        // layer is taken dequantized (`take`), as a dense Linear in the compute type.
        if backend == nil || backend is CPUBackend, let q = quantizedLinear(prefix, out: out, in: inFeatures),
           let layer = try? QuantizedLinear(weight: q, bias: bias) {
            return CPUQuantizedLinear(layer)
        }
        return Linear(weight: take("\(prefix).weight", shape: [out, inFeatures]), bias: bias)
    }
}
