import Tensor

/// Modulation parameters computed ahead of the steps (streaming models).
///
/// Every block's modulation Linear maps one vector per step, silu(vec), to its shift/scale/gate
/// parameters; vec depends only on the timestep, the guidance and CLIP's pooled output, all known
/// before denoising starts. A streaming DiT keeps these Linears (3.2 GB of FLUX.1-dev's 11.9 GB of
/// fp8 block weights) in host memory: `prepareModulation` copies each to the device once, runs it on
/// every step's vector at once, and the steps then stream only the rest of the blocks.
extension FluxTransformer {
    /// The guidance embedded when a caller gives none: FLUX.1-dev's preset value (one source of truth).
    static var defaultGuidance: Float { ModelPreset.fluxDev.guidance }

    /// Computes the blocks' modulation parameters for each of `timesteps`, with `guidance` (ignored by
    /// models without a guidance embedder; `defaultGuidance` when nil) and `pooled` (1, pooled_projection_dim), and
    /// keeps them for the forward passes with the same values (the cache holds `pooled`). Streaming
    /// models only; a no-op otherwise. A forward pass that finds no prepared entry prepares its own.
    public func prepareModulation(timesteps: [Float], guidance: Float?, pooled: Tensor) {
        guard streamer != nil, !timesteps.isEmpty else { return }
        precondition(pooled.shape == [1, config.pooledProjectionDim], "prepareModulation takes one pooled row, got \(pooled.shape)")
        let g = guidance ?? FluxTransformer.defaultGuidance
        // vec for every step, as the forward pass computes it for one.
        var vec = timeIn(fluxTimestepEmbedding(timesteps).moved(to: backend))
        if let guidanceIn {
            vec = vec + guidanceIn(fluxTimestepEmbedding([Float](repeating: g, count: timesteps.count)).moved(to: backend))
        }
        vec = vec + vectorIn(pooled.moved(to: backend))
        let siluVec = silu(vec)
        // From page-locked host memory on the copy queue (StreamedBlocks.swift), a layer at a time.
        func onDevice(_ l: any LinearLayer) -> any LinearLayer { (try? streamer?.upload(l)) ?? l }

        var double: [[(img: [ModulationParams], txt: [ModulationParams])]] = Array(repeating: [], count: timesteps.count)
        for i in 0..<config.numLayers {
            let img = Modulation.perRow(siluVec, layer: onDevice(hostModulation[i][0]), sets: 2)
            let txt = Modulation.perRow(siluVec, layer: onDevice(hostModulation[i][1]), sets: 2)
            for s in timesteps.indices { double[s].append((img[s], txt[s])) }
        }
        var single: [[ModulationParams]] = Array(repeating: [], count: timesteps.count)
        for j in 0..<config.numSingleLayers {
            let p = Modulation.perRow(siluVec, layer: onDevice(hostModulation[config.numLayers + j][0]), sets: 1)
            for s in timesteps.indices { single[s].append(p[s][0]) }
        }
        for (s, t) in timesteps.enumerated() {
            modulationCache.store(FluxStepModulation(double: double[s], single: single[s]),
                                  for: FluxModulationCache.Key(timestep: t, guidance: g, pooled: pooled), pooled: pooled)
        }
    }

    /// Forgets the prepared modulation parameters (the pipeline calls it after the last step).
    public func clearModulation() { modulationCache.clear() }

    /// The prepared parameters for one forward pass (prepared now when missing).
    func stepModulation(timestep: [Float], guidance: [Float]?, pooled: Tensor) -> FluxStepModulation {
        precondition(timestep.count == 1, "a streaming DiT runs one image at a time (batch \(timestep.count))")
        let g = guidance?.first ?? FluxTransformer.defaultGuidance
        let key = FluxModulationCache.Key(timestep: timestep[0], guidance: g, pooled: pooled)
        if let m = modulationCache.entry(key) { return m }
        prepareModulation(timesteps: timestep, guidance: g, pooled: pooled)
        return modulationCache.entry(key)!
    }
}

/// One step's modulation parameters for every block: double blocks (image, text), single blocks.
struct FluxStepModulation {
    let double: [(img: [ModulationParams], txt: [ModulationParams])]
    let single: [ModulationParams]
}

/// Prepared modulation parameters by (timestep, guidance, pooled tensor). Entries hold their pooled
/// tensor, so its storage (whose identity is part of the key) cannot be freed and reused meanwhile.
final class FluxModulationCache: Sendable {
    struct Key: Hashable {
        let timestep: UInt32, guidance: UInt32
        let pooled: ObjectIdentifier, offset: Int

        init(timestep: Float, guidance: Float, pooled: Tensor) {
            self.timestep = timestep.bitPattern
            self.guidance = guidance.bitPattern
            self.pooled = ObjectIdentifier(pooled.storage)
            offset = pooled.offset
        }
    }

    private let entries = Locked<[Key: (FluxStepModulation, Tensor)]>([:])
    /// At most this many steps are kept (a runaway caller cannot grow it without bound).
    static let capacity = 256

    func store(_ m: FluxStepModulation, for key: Key, pooled: Tensor) {
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries = [:] }
            entries[key] = (m, pooled)
        }
    }

    func entry(_ key: Key) -> FluxStepModulation? { entries.withLock { $0[key]?.0 } }

    func clear() { entries.withLock { $0 = [:] } }
}

/// Takes the Linear out of every `Modulation` a block declares (any block type: found through its
/// `visit`), leaving an empty Linear in its place.
struct ModulationStripper: ModuleVisitor {
    var path: [String] = []
    var stripped: [any LinearLayer] = []
    mutating func parameter(_ key: String, _ tensor: inout Tensor) throws {}
    mutating func child<M: Module>(_ key: String, _ module: inout M) throws {
        guard var m = module as? Modulation else {
            path.append(key)
            defer { path.removeLast() }
            return try module.visit(&self)
        }
        stripped.append(m.lin)
        m.lin = Linear.empty(in: m.lin.inFeatures)
        module = m as! M  // M is Modulation: the cast above succeeded
    }
}

extension Module {
    /// Empties the block's modulation Linears (their weights are kept elsewhere; the block then runs
    /// only with modulation parameters given) and returns them in visiting order.
    mutating func strippingModulation() throws -> [any LinearLayer] {
        var v = ModulationStripper()
        try visit(&v)
        return v.stripped
    }
}

extension Linear {
    /// A Linear with no outputs (a placeholder for weights kept elsewhere).
    static func empty(in inFeatures: Int) -> Linear {
        Linear(weight: Tensor.zeros([0, inFeatures]), bias: nil)
    }
}
