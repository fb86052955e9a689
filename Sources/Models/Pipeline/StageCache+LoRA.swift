import Tensor

/// What a loaded DiT carries: the LoRAs and whether they are fused into its weights.
struct AppliedLoRAs {
    var keys: [LoRAUse.Key] = []
    var fused = false

    func matches(_ loras: [LoRAUse], fused: Bool) -> Bool { keys == loras.map(\.key) && self.fused == fused }
}

/// The stages' LoRAs: the CLIP and DiT parts of `loras` attached when the models are handed out,
/// only when they changed. Unfused LoRAs switch in place; fused ones (`--lora-fuse`) need the DiT
/// loaded again for any other set, since the merged weights cannot be taken apart exactly.
extension StageCache {
    /// Whether `loras` go into `m`'s weights: asked for, any at all, and the blocks resident.
    func wantsFusion(_ m: FluxTransformer?) -> Bool { fuseLoRAs && !loras.isEmpty && m?.residency == nil }

    /// Attaches `loras` to the kept DiT now (without placing evicted blocks), so a LoRA that does not
    /// fit fails here; a DiT with other LoRAs fused in is dropped (loaded again when next needed).
    func updateLoadedDiT() throws {
        guard let m = ditModel else { return try checkLoRAsAgainstDiTFile() }
        if ditLoRAs.fused && !ditLoRAs.matches(loras, fused: wantsFusion(m)) {
            ditModel = nil
            return
        }
        try attachLoRAs(m)
    }

    /// With no DiT loaded, the DiT part of `loras` checked against the DiT file's header (its
    /// Linears' shapes under BFL names): a LoRA for another model fails now, before the text encoders
    /// run, instead of when the DiT loads.
    func checkLoRAsAgainstDiTFile() throws {
        guard loras.contains(where: { $0.lora.patches.contains { $0.component == .transformer } }) else { return }
        let source = try FluxCheckpointLayout.canonical(openWeights(path: files.transformer), component: files.transformerComponent)
        var layers: [String: (in: Int, out: Int)] = [:]
        for use in loras {
            for patch in use.lora.patches where patch.component == .transformer {
                if let s = source.logicalShape(of: patch.layer + ".weight"), s.count == 2 { layers[patch.layer] = (s[1], s[0]) }
            }
        }
        try LoRAFactors.check(loras, component: .transformer, layers: layers)
    }

    /// Puts the CLIP part of `loras` on `m` when it carries others.
    func attachLoRAs(_ m: CLIPTextModel) throws {
        guard clipLoRAs != loras.map(\.key) else { return }
        var model = m
        try model.attachLoRAs(loras, component: .clip, backend: backend, dtype: deviceDType ?? .f32)
        clipLoRAs = loras.map(\.key)
    }

    /// Puts `loras` on the DiT: beside its Linears, or merged into its weights with `fuseLoRAs`.
    /// A DiT with other LoRAs fused in must have been dropped before (`dit()`, `updateLoadedDiT()`).
    func attachLoRAs(_ m: FluxTransformer) throws {
        let fuse = wantsFusion(m)
        guard !ditLoRAs.matches(loras, fused: fuse) else { return }
        precondition(!ditLoRAs.fused, "a DiT with fused LoRAs is loaded again before other LoRAs go on")
        if fuse {
            fusionErrors = try m.fuseLoRAs(loras)  // drops the unfused LoRAs it finds
        } else {
            try m.setLoRAs(loras)
            fusionErrors = []
        }
        ditLoRAs = AppliedLoRAs(keys: loras.map(\.key), fused: fuse)
    }
}
