import Tensor

/// The layers of a `FluxTransformer` outside its blocks, as a module of their own (loaded and
/// counted apart when the blocks stream).
struct OutsideBlocks: Module {
    let model: FluxTransformer
    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws { try model.visitOutsideBlocks(&v) }
}

/// Low-VRAM mode: the DiT's blocks in host memory, placed on the device within a budget by a
/// `BlockStreamer` (the generic part is NN/StreamedBlocks.swift). Flux's own step: each block's
/// modulation Linears (27% of the block weights, applied to one vector per step) are kept in host
/// memory apart and never stream; their outputs for all steps are computed ahead.
extension FluxTransformer {
    /// Loads the blocks one at a time into a new streamer's host memory (not yet placed).
    func streamBlocks(from w: WeightLoader, streaming: BlockStreaming) throws {
        let s = try BlockStreamer(backend: backend, slots: streaming.slots, keepsHostCopies: streaming.keepsHostCopies,
                                  layout: streaming.layout)
        var modulation: [[any LinearLayer]] = []
        func keepModulation<B: Module>(_ block: inout B) throws {
            let linears = try block.strippingModulation()
            // Page-locked: `prepareModulation` uploads them once per generation on the copy queue.
            modulation.append(try linears.map { try s.pinned($0) })
        }
        let hostDouble = try s.adoptLoading(doubleBlocks, key: Self.doubleKey, from: w, prepare: keepModulation)
        let hostSingle = try s.adoptLoading(singleBlocks, key: Self.singleKey, from: w, prepare: keepModulation)
        hostModulation = modulation
        (hostDoubleBlocks, hostSingleBlocks) = (hostDouble, hostSingle)
        doubleBlocks = []
        singleBlocks = []
        streamer = s
    }

    /// Points the running blocks at their device memory (after `place`); drops the host blocks
    /// unless they are kept for `evictBlocks`/`placeBlocks`.
    func placeDeviceViews() throws {
        guard let streamer else { return }
        doubleBlocks = try streamer.deviceBlocks(hostDoubleBlocks, first: 0)
        singleBlocks = try streamer.deviceBlocks(hostSingleBlocks, first: config.numLayers)
        if !adapters.isEmpty { try applyAdapters() }  // the new views start without the LoRAs
        if !streamer.keepsHostCopies { (hostDoubleBlocks, hostSingleBlocks) = ([], []) }
    }

    /// With streaming and `keepsHostCopies`: gives the blocks' device memory back, keeping their
    /// host copies (a server between generations, so the text encoders and the VAE have the GPU).
    /// The model cannot run until `placeBlocks`.
    public func evictBlocks() {
        guard let streamer, streamer.keepsHostCopies else { return }
        doubleBlocks = []
        singleBlocks = []
        streamer.evict()
    }

    /// Takes device memory for the blocks again after `evictBlocks`, planned for `weightBudget`
    /// (as `BlockStreaming.weightBudget`). No-op when the blocks are placed.
    public func placeBlocks(weightBudget: Int) throws {
        guard let streamer, !streamer.isPlaced else { return }
        try streamer.place(budget: weightBudget, otherBytes: otherWeightBytes, what: "DiT")
        try placeDeviceViews()
    }

    /// Whether the blocks have been given back with `evictBlocks` (and not placed again).
    public var blocksEvicted: Bool { streamer.map { !$0.isPlaced } ?? false }

    /// How the blocks are held when they stream; nil when all were loaded resident the usual way.
    public var residency: BlockResidency? { streamer.map { BlockResidency($0, otherWeightBytes: otherWeightBytes) } }

    /// One line on how the blocks are held.
    public var residencySummary: String {
        residency.map { "DiT: " + $0.summary } ?? "DiT: all \(doubleBlocks.count + singleBlocks.count) blocks resident"
    }
}
