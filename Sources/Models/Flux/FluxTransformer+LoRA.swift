import Tensor

/// LoRAs on the DiT: unfused beside every Linear they update (`LoRALinear`), resident or streaming,
/// changed between generations without reloading; or fused into the weights for good.
extension FluxTransformer {
    /// Every Linear's (in, out) by BFL name, whatever the blocks' state (resident, streaming, evicted).
    func loraLayerShapes() -> [String: (in: Int, out: Int)] {
        OutsideBlocks(model: self).linearShapes().merging(Self.blockLinearShapes(config)) { a, _ in a }
    }

    /// The blocks' Linears' (in, out) by BFL name, from the config alone (placeholders).
    static func blockLinearShapes(_ config: FluxConfig) -> [String: (in: Int, out: Int)] {
        var shapes: [String: (in: Int, out: Int)] = [:]
        let double = FluxDoubleBlock(config).linearShapes(), single = FluxSingleBlock(config).linearShapes()
        for i in 0..<config.numLayers { for (k, s) in double { shapes["\(doubleKey).\(i).\(k)"] = s } }
        for j in 0..<config.numSingleLayers { for (k, s) in single { shapes["\(singleKey).\(j).\(k)"] = s } }
        return shapes
    }

    /// Device bytes `uses` will take once attached to a model of `config` in `dtype` (layers outside
    /// the blocks counted by their updates' size), for planning a VRAM budget before loading.
    static func adapterBytes(_ uses: [LoRAUse], config: FluxConfig, dtype: DType) -> Int {
        let blocks = blockLinearShapes(config)
        var rank: [String: Int] = [:]
        var outside = 0
        for use in uses {
            for p in use.lora.patches where p.component == .transformer {
                if blocks[p.layer] != nil { rank[p.layer, default: 0] += p.rank } else { outside += p.down.count + p.up.count }
            }
        }
        let inBlocks = rank.reduce(0) { sum, e in sum + e.value * (blocks[e.key]!.in + blocks[e.key]!.out) }
        return (inBlocks + outside) * dtype.byteSize
    }

    /// The dtype LoRA factors are held in: the device's weight dtype (bf16 on a GPU), f32 on the CPU.
    var loraDType: DType { (backend as? any WeightDTypePreferring)?.weightDType ?? .f32 }

    /// Attaches `uses` (replacing any LoRAs attached before; empty detaches all). Throws, changing
    /// nothing, when a LoRA updates a layer this model lacks or does not fit it.
    public func setLoRAs(_ uses: [LoRAUse]) throws {
        let combined = try LoRAFactors.combine(uses, component: .transformer, layers: loraLayerShapes())
        adapters = combined.mapValues { $0.placed(on: backend, dtype: loraDType) }
        try applyAdapters()
        modulationCache.clear()
    }

    /// Device bytes the attached LoRA factors hold.
    public var adapterByteCount: Int { adapters.values.reduce(0) { $0 + $1.down.byteCount + $1.up.byteCount } }

    /// Puts `adapters` beside the running Linears (again after streaming re-made the block views) and,
    /// when streaming, beside the modulation Linears kept in host memory.
    func applyAdapters() throws {
        var me = self
        // A streaming model's running blocks hold emptied modulation Linears: theirs are in hostModulation.
        try me.setLoRAFactors(adapters, skip: { _, base in base.outFeatures == 0 })
        guard streamer != nil else { return }
        for i in hostModulation.indices {
            let names = i < config.numLayers
                ? ["\(Self.doubleKey).\(i).img_mod.lin", "\(Self.doubleKey).\(i).txt_mod.lin"]
                : ["\(Self.singleKey).\(i - config.numLayers).modulation.lin"]
            for (k, name) in names.enumerated() where k < hostModulation[i].count {
                let base = (hostModulation[i][k] as? LoRALinear)?.base ?? hostModulation[i][k]
                hostModulation[i][k] = adapters[name].map { LoRALinear(base: base, down: $0.down, up: $0.up) } ?? base
            }
        }
    }

    /// Merges `uses` into the weights (`--lora-fuse`): dense weights exactly up to their dtype's
    /// rounding, fp8/int8/int4 re-quantised; returns each layer's relative error. Resident models only
    /// (streamed blocks are re-read from their host copies: use `setLoRAs` there).
    public func fuseLoRAs(_ uses: [LoRAUse]) throws -> [LoRAFusionError] {
        guard streamer == nil else {
            throw ModelError.invalidParameter("LoRAs cannot be fused into streamed blocks (--vram-budget); they are applied unfused instead")
        }
        let combined = try LoRAFactors.combine(uses, component: .transformer, layers: loraLayerShapes())
        adapters = [:]
        var me = self
        return try me.fuseLoRAFactors(combined)
    }
}
