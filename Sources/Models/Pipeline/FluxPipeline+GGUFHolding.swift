import Quant

/// What `--precision q8_0`, `q4_k`, ... will hold of a DiT, said before it loads.
extension FluxPipeline {
    /// A warning when `precision` asks for ggml blocks of a type whose blocks do not fit some or all of
    /// the DiT's block Linears (their rows must be whole blocks: 32 values, 256 for the k-quants):
    /// those run dense. It ran as bf16 without a word where `quantize` says "nothing will be quantized".
    /// nil when every selected Linear fits, or for other precisions. Reads the DiT file's header only.
    static func ggufHoldingNote(_ files: FluxModelFiles, precision: WeightPrecision) throws -> String? {
        guard let type = precision.ggmlType else { return nil }
        let source = try FluxCheckpointLayout.canonical(openWeights(path: files.transformer), component: files.transformerComponent)
        let holding = GGUFBlockHolding.type(type)
        var selected = 0, dense: [String: Int] = [:]  // layer widths left dense, with counts
        for name in source.names {
            guard let shape = source.logicalShape(of: name), shape.count == 2, QuantPolicy.isFluxBlockLinearWeight(name, shape: shape) else { continue }
            selected += 1
            if holding.target(name, shape: shape, stored: nil) == nil { dense["\(shape[1])", default: 0] += 1 }
        }
        guard !dense.isEmpty else { return nil }
        let left = dense.values.reduce(0, +)
        let widths = dense.keys.sorted().joined(separator: ", ")
        return "--precision \(precision.rawValue): \(left == selected ? "none" : "\(left)") of the DiT's \(selected) block Linears "
            + "can be held as \(type.name) blocks (their rows, \(widths) values wide, are not whole \(type.blockSize)-value blocks); "
            + "\(left == selected ? "they" : "those") run in bf16"
    }
}
