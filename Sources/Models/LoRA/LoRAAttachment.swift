import Tensor

/// Several LoRAs combined into one pair of factors per Linear (`LoRALinear`), checked against the
/// model's layers first, so a LoRA for another model fails before anything changes.
struct LoRAFactors {
    /// (R, in) and (out, R), f32 in host memory; scales and user weights are in `up`.
    var down: Tensor
    var up: Tensor

    /// Bytes once placed in `dtype`.
    func byteCount(_ dtype: DType) -> Int { (down.count + up.count) * dtype.byteSize }

    /// Combines the `component` updates of `uses` for layers of the given (in, out) shapes. Throws
    /// `LoRAError.missingLayers` for layers the model lacks, `.shapeMismatch` for updates that do not fit.
    static func combine(_ uses: [LoRAUse], component: LoRAComponent, layers: [String: (in: Int, out: Int)]) throws -> [String: LoRAFactors] {
        let (byLayer, order) = try check(uses, component: component, layers: layers)
        var result: [String: LoRAFactors] = [:]
        for layer in order {
            let entries = byLayer[layer]!, shape = layers[layer]!
            let r = entries.reduce(0) { $0 + $1.patch.rank }
            var up = [Float](repeating: 0, count: shape.out * r)
            var column = 0
            for (patch, weight) in entries {
                let rows = try rowRange(patch, shape: shape, file: "")
                let u = patch.up.floats(), k = patch.rank, s = patch.scale * weight
                for i in 0..<rows.count {
                    for j in 0..<k { up[(rows.lowerBound + i) * r + column + j] = s * u[i * k + j] }
                }
                column += k
            }
            result[layer] = LoRAFactors(down: concat(entries.map { $0.patch.down }, dim: 0).contiguous(),
                                        up: Tensor(up, shape: [shape.out, r]))
        }
        return result
    }

    /// Checks that the `component` updates of `uses` fit layers of the given (in, out) shapes, building
    /// nothing (`combine` without its result): the patches by layer, and the layers in first-seen order.
    @discardableResult
    static func check(_ uses: [LoRAUse], component: LoRAComponent, layers: [String: (in: Int, out: Int)]) throws
        -> (byLayer: [String: [(patch: LoRAPatch, weight: Float)]], order: [String]) {
        var byLayer: [String: [(patch: LoRAPatch, weight: Float)]] = [:]
        var order: [String] = []
        for use in uses {
            var missing: [String] = []
            for patch in use.lora.patches where patch.component == component {
                guard let shape = layers[patch.layer] else { missing.append(patch.layer); continue }
                _ = try rowRange(patch, shape: shape, file: use.lora.name)
                if byLayer[patch.layer] == nil { order.append(patch.layer) }
                byLayer[patch.layer, default: []].append((patch, use.weight))
            }
            if !missing.isEmpty {
                let unique = orderedUnique(missing)
                throw LoRAError.missingLayers(file: use.lora.name, layers: Array(unique.prefix(5)), total: unique.count)
            }
        }
        return (byLayer, order)
    }

    /// The output rows a patch updates in a layer of `shape`, after checking that it fits.
    static func rowRange(_ patch: LoRAPatch, shape: (in: Int, out: Int), file: String) throws -> Range<Int> {
        let rows = patch.up.shape[0], cols = patch.down.shape[1]
        func mismatch() -> LoRAError {
            let what = patch.target.part.map { " (part \($0) of the fused weight)" } ?? ""
            return .shapeMismatch(file: file, layer: patch.layer + what, lora: "\(rows)x\(cols) (rank \(patch.rank))", model: "\(shape.out)x\(shape.in)")
        }
        guard cols == shape.in else { throw mismatch() }
        guard let part = patch.target.part else {
            guard rows == shape.out else { throw mismatch() }
            return 0..<rows
        }
        // q, k, v are `in` rows each; the single blocks' MLP rows follow them.
        let start = part == LoRATarget.qkvPart ? 0 : part * shape.in
        let expected = part == LoRATarget.qkvPart ? 3 * shape.in : part < 3 ? shape.in : shape.out - 3 * shape.in
        guard rows == expected, start + rows <= shape.out else { throw mismatch() }
        return start..<(start + rows)
    }
}

/// Keeps the first occurrence of each element, in order.
private func orderedUnique(_ xs: [String]) -> [String] {
    var seen: Set<String> = []
    return xs.filter { seen.insert($0).inserted }
}

extension Module {
    /// Every Linear by name with its (in, out), adapters seen through to their base.
    func linearShapes() -> [String: (in: Int, out: Int)] {
        var shapes: [String: (in: Int, out: Int)] = [:]
        var copy = self
        try? copy.replaceLinears { name, layer in
            shapes[name] = (layer.inFeatures, layer.outFeatures)
            return nil
        }
        return shapes
    }

    /// Puts `factors` (already on the right backend and dtype) beside the named Linears and removes
    /// every other adapter. `skip` names Linears left alone (a streaming DiT's emptied modulations).
    mutating func setLoRAFactors(_ factors: [String: LoRAFactors], skip: (String, any LinearLayer) -> Bool = { _, _ in false }) throws {
        try replaceLinears { name, layer in
            let base = (layer as? LoRALinear)?.base ?? layer
            if let f = factors[name], !skip(name, base) { return LoRALinear(base: base, down: f.down, up: f.up) }
            return layer is LoRALinear ? base : nil
        }
    }
}

extension LoRAFactors {
    /// The factors in `dtype` on `backend`.
    func placed(on backend: any Backend, dtype: DType) -> LoRAFactors {
        LoRAFactors(down: down.to(dtype).moved(to: backend), up: up.to(dtype).moved(to: backend))
    }
}

extension Module {
    /// Attaches the `component` updates of `uses` beside this model's Linears (factors in `dtype` on
    /// `backend`), replacing any attached before; `[]` detaches. Throws, changing nothing, when an
    /// update names a layer the model lacks or does not fit it.
    public mutating func attachLoRAs(_ uses: [LoRAUse], component: LoRAComponent, backend: any Backend, dtype: DType) throws {
        let combined = try LoRAFactors.combine(uses, component: component, layers: linearShapes())
        try setLoRAFactors(combined.mapValues { $0.placed(on: backend, dtype: dtype) })
    }
}
