import Tensor

/// The Flux diffusion transformer (FLUX.1-dev/schnell and fine-tunes such as majicflus), any size.
/// Parameters use BFL names; other checkpoint layouts are renamed on load (`FluxCheckpointLayout`).
public final class FluxTransformer {
    public let config: FluxConfig
    let imgIn, txtIn: Linear
    let timeIn, vectorIn: MLPEmbedder
    let guidanceIn: MLPEmbedder?
    /// The blocks as they run (with streaming: views of their device memory; empty while evicted).
    private(set) var doubleBlocks: [FluxDoubleBlock]
    private(set) var singleBlocks: [FluxSingleBlock]
    /// With streaming: the blocks viewing their host copies, from which device views are made.
    private let hostDoubleBlocks: [FluxDoubleBlock], hostSingleBlocks: [FluxSingleBlock]
    /// With streaming: each block's modulation Linears (double: image, text; single: one), kept in
    /// host memory and out of the streamed weights; `prepareModulation` computes their outputs for all
    /// steps at once (`FluxTransformer+Modulation.swift`).
    let hostModulation: [[Linear]]
    /// Modulation parameters computed ahead, per (timestep, guidance, pooled).
    let modulationCache = FluxModulationCache()
    let finalAdaLN, finalLinear: Linear
    let finalNorm = LayerNorm(eps: 1e-6)
    /// Where the weights live and the forward pass runs (inputs are moved here).
    public let backend: any Backend

    /// Builds the model from BFL-named weights. Throws `ModelError.weights` naming every missing,
    /// unexpected or mis-shaped tensor.
    /// `quantization` quantizes the selected block Linears while loading (e.g. `.fluxFP8`); layers the
    /// checkpoint already stores quantized (scaled fp8, int8, int4) load as they are either way.
    ///
    /// With `streaming`, the blocks are read one at a time, copied to host memory and placed by a
    /// `BlockStreamer`: as many as `streaming.weightBudget` allows stay on the device, the rest are
    /// copied in as they run (the GPU's low-VRAM mode).
    public init(config: FluxConfig, weights source: WeightSource, computeDType: DType? = nil,
                quantization: LinearQuantization? = nil, backend: any Backend = CPUBackend.shared,
                streaming: BlockStreaming? = nil) throws {
        let problems = config.problems()
        if !problems.isEmpty { throw ModelError.weights(component: "transformer", problems: problems) }
        self.config = config
        let w = WeightLoader(source, component: "transformer (Flux DiT)")
        w.backend = backend
        self.backend = backend
        w.computeDType = computeDType
        w.quantization = quantization
        let d = config.hiddenSize
        imgIn = Linear(w, "img_in", in: config.inChannels, out: d)
        txtIn = Linear(w, "txt_in", in: config.jointAttentionDim, out: d)
        timeIn = MLPEmbedder(w, "time_in", in: 256, hidden: d)
        vectorIn = MLPEmbedder(w, "vector_in", in: config.pooledProjectionDim, hidden: d)
        guidanceIn = config.guidanceEmbeds ? MLPEmbedder(w, "guidance_in", in: 256, hidden: d) : nil
        finalAdaLN = Linear(w, "final_layer.adaLN_modulation.1", in: d, out: 2 * d)
        finalLinear = Linear(w, "final_layer.linear", in: d, out: config.resolvedOutChannels)
        otherWeightBytes = ([imgIn, txtIn, timeIn.inLayer, timeIn.outLayer, vectorIn.inLayer, vectorIn.outLayer, finalAdaLN, finalLinear]
            + (guidanceIn.map { [$0.inLayer, $0.outLayer] } ?? [])).reduce(0) { $0 + $1.weightByteCount }
        guard let streaming else {
            doubleBlocks = (0..<config.numLayers).map { FluxDoubleBlock(w, "double_blocks.\($0)", config) }
            singleBlocks = (0..<config.numSingleLayers).map { FluxSingleBlock(w, "single_blocks.\($0)", config) }
            streamer = nil
            hostDoubleBlocks = []
            hostSingleBlocks = []
            hostModulation = []
            try w.finish()
            return
        }
        // Each block is built on the backend, copied to host memory, and dropped before the next. Its
        // modulation Linears (27% of the block weights, applied to one vector per step) go to host
        // memory apart and never stream: their outputs for all steps are computed ahead.
        let s = try BlockStreamer(backend: backend, slots: streaming.slots, keepsHostCopies: streaming.keepsHostCopies)
        var modulation: [[Linear]] = []
        func keepModulation(_ linears: [Linear]) throws {
            modulation.append(try linears.map { try $0.mapParameters { $0.moved(to: CPUBackend.shared) } })
        }
        let hostDouble = try (0..<config.numLayers).map { i -> FluxDoubleBlock in
            let block = FluxDoubleBlock(w, "double_blocks.\(i)", config)
            try keepModulation([block.imgMod.lin, block.txtMod.lin])
            return try s.adopt(block.strippingModulation())
        }
        let hostSingle = try (0..<config.numSingleLayers).map { i -> FluxSingleBlock in
            let block = FluxSingleBlock(w, "single_blocks.\(i)", config)
            try keepModulation([block.modulation.lin])
            return try s.adopt(block.strippingModulation())
        }
        hostModulation = modulation
        try w.finish()
        try s.place(budget: streaming.weightBudget, otherBytes: otherWeightBytes, what: "DiT")
        doubleBlocks = try hostDouble.enumerated().map { try s.deviceBlock($1, index: $0) }
        singleBlocks = try hostSingle.enumerated().map { try s.deviceBlock($1, index: config.numLayers + $0) }
        (hostDoubleBlocks, hostSingleBlocks) = streaming.keepsHostCopies ? (hostDouble, hostSingle) : ([], [])
        streamer = s
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
        doubleBlocks = try hostDoubleBlocks.enumerated().map { try streamer.deviceBlock($1, index: $0) }
        singleBlocks = try hostSingleBlocks.enumerated().map { try streamer.deviceBlock($1, index: config.numLayers + $0) }
    }

    /// Whether the blocks have been given back with `evictBlocks` (and not placed again).
    public var blocksEvicted: Bool { streamer.map { !$0.isPlaced } ?? false }

    /// Set when the blocks stream (`streaming` given at load).
    let streamer: BlockStreamer?
    /// Bytes of the Linear weights outside the blocks (embedders, final layer): always resident.
    private let otherWeightBytes: Int

    /// How the blocks are held when they stream; nil when all were loaded resident the usual way.
    public var residency: BlockResidency? { streamer.map { BlockResidency($0, otherWeightBytes: otherWeightBytes) } }

    /// One line on how the blocks are held.
    public var residencySummary: String {
        residency.map { "DiT: " + $0.summary } ?? "DiT: all \(doubleBlocks.count + singleBlocks.count) blocks resident"
    }

    /// Bytes held by the Linear weights and biases (quantized layers count their codes and scales);
    /// the norms' scales are left out (a few KB).
    public var weightByteCount: Int {
        otherWeightBytes + (doubleBlocks.map(\.linears) + singleBlocks.map(\.linears)).joined().reduce(0) { $0 + $1.weightByteCount }
    }

    /// Predicts the flow velocity.
    /// - Parameters:
    ///   - img: packed latent tokens (B, h*w, in_channels)
    ///   - height: `h`, the latent grid height in 2x2 patches (image height / 16)
    ///   - width: `w`, likewise
    ///   - txt: T5 hidden states (B, Ltxt, joint_attention_dim)
    ///   - pooled: CLIP pooled vectors (B, pooled_projection_dim)
    ///   - timestep: sigma in [0, 1] per batch row (the model multiplies by 1000)
    ///   - guidance: embedded guidance per batch row (ignored by models without a guidance embedder)
    public func callAsFunction(img: Tensor, height: Int, width: Int, txt: Tensor, pooled: Tensor,
                               timestep: [Float], guidance: [Float]?) -> Tensor {
        let b = img.shape[0]
        precondition(img.shape == [b, height * width, config.inChannels], "img tokens \(img.shape) do not match a \(height)x\(width) grid of \(config.inChannels)")
        precondition(txt.shape.count == 3 && txt.shape[0] == b && txt.shape[2] == config.jointAttentionDim, "txt \(txt.shape)")
        precondition(pooled.shape == [b, config.pooledProjectionDim], "pooled \(pooled.shape)")
        precondition(timestep.count == b, "one timestep per batch row")
        precondition(!blocksEvicted, "the DiT's blocks were evicted: call placeBlocks first")
        var x = imgIn(img.moved(to: backend))
        var vec = timeIn(fluxTimestepEmbedding(timestep).moved(to: backend))
        if let guidanceIn {
            let g = guidance ?? [Float](repeating: 3.5, count: b)
            vec = vec + guidanceIn(fluxTimestepEmbedding(g).moved(to: backend))
        }
        vec = vec + vectorIn(pooled.moved(to: backend))
        var t = txtIn(txt.moved(to: backend))
        let lt = t.shape[1]
        let rope = FluxRoPE(ids: FluxRoPE.ids(txtLen: lt, height: height, width: width),
                            axesDims: config.axesDimsRope, theta: config.ropeTheta, backend: backend)
        // A streaming model's blocks hold no modulation weights: their parameters come from the cache.
        let mods = streamer == nil ? nil : stepModulation(timestep: timestep, guidance: guidance, pooled: pooled)
        for (i, block) in doubleBlocks.enumerated() {
            streamer?.acquire(i)
            (x, t) = block(img: x, txt: t, vec: vec, rope: rope, mods: mods?.double[i])
            streamer?.release(i)
        }
        var joint = concat([t, x], dim: 1)
        for (j, block) in singleBlocks.enumerated() {
            let i = doubleBlocks.count + j
            streamer?.acquire(i)
            joint = block(joint, vec: vec, rope: rope, mod: mods?.single[j])
            streamer?.release(i)
        }
        x = joint.slice(dim: 1, start: lt)
        let mod = finalAdaLN(silu(vec)).chunked(2, dim: -1)  // (shift, scale)
        x = modulatedLayerNorm(x, shift: mod[0], scale: mod[1], eps: finalNorm.eps)
        return finalLinear(x)
    }
}

/// Packing latents (B, C, H, W) into 2x2-patch tokens (B, (H/2)(W/2), 4C), channel index c*4 + ph*2 + pw.
public enum FluxPacking {
    public static func pack(_ latents: Tensor) -> Tensor {
        let (b, c, h, w) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3])
        precondition(h % 2 == 0 && w % 2 == 0, "latent size \(h)x\(w) must be even")
        return latents.reshaped(b, c, h / 2, 2, w / 2, 2).permuted(0, 2, 4, 1, 3, 5).reshaped(b, (h / 2) * (w / 2), c * 4)
    }

    /// The inverse of `pack` for a latent of `height` x `width` (in latent pixels).
    public static func unpack(_ tokens: Tensor, height h: Int, width w: Int) -> Tensor {
        let b = tokens.shape[0], c = tokens.shape[2] / 4
        return tokens.reshaped(b, h / 2, w / 2, c, 2, 2).permuted(0, 3, 1, 4, 2, 5).reshaped(b, c, h, w)
    }
}
