import Tensor

/// The Flux diffusion transformer (FLUX.1-dev/schnell and fine-tunes such as majicflus), any size.
/// Parameters use BFL names; other checkpoint layouts are renamed on load (`FluxCheckpointLayout`).
/// Streaming (low-VRAM) set-up and residency are in FluxTransformer+Streaming.swift.
public final class FluxTransformer: Module {
    public let config: FluxConfig
    var imgIn, txtIn: any LinearLayer
    var timeIn, vectorIn: MLPEmbedder
    var guidanceIn: MLPEmbedder?
    var finalAdaLN, finalLinear: any LinearLayer
    let finalNorm = LayerNorm(eps: 1e-6)
    /// The blocks as they run (with streaming: views of their device memory; empty while evicted).
    var doubleBlocks: [FluxDoubleBlock]
    var singleBlocks: [FluxSingleBlock]
    /// With streaming: the blocks viewing their host copies, from which device views are made.
    var hostDoubleBlocks: [FluxDoubleBlock] = [], hostSingleBlocks: [FluxSingleBlock] = []
    /// With streaming: each block's modulation Linears (double: image, text; single: one), kept in
    /// host memory and out of the streamed weights; `prepareModulation` computes their outputs for all
    /// steps at once (`FluxTransformer+Modulation.swift`).
    var hostModulation: [[any LinearLayer]] = []
    /// Modulation parameters computed ahead, per (timestep, guidance, pooled).
    let modulationCache = FluxModulationCache()
    /// Rotary tables by token layout, made once for all the steps of a generation.
    let ropeTables = FluxRoPECache()
    /// The blocks captured as a graph on backends that can (FluxTransformer+Graphs.swift).
    let blockGraphs = FluxBlockGraphs()
    /// Set by `restartDelayedScales`: the next blocks run eagerly (exact quantisation, calibrating).
    let calibrationPending = Locked(false)
    /// Where the weights live and the forward pass runs (inputs are moved here).
    public let backend: any Backend
    /// Set when the blocks stream (`streaming` given at load).
    var streamer: BlockStreamer?
    /// Attached LoRA factors by BFL layer name, on `backend` (FluxTransformer+LoRA.swift).
    var adapters: [String: LoRAFactors] = [:]

    static let doubleKey = "double_blocks", singleKey = "single_blocks"

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
        imgIn = Linear(in: config.inChannels, out: d)
        txtIn = Linear(in: config.jointAttentionDim, out: d)
        timeIn = MLPEmbedder(in: 256, hidden: d)
        vectorIn = MLPEmbedder(in: config.pooledProjectionDim, hidden: d)
        guidanceIn = config.guidanceEmbeds ? MLPEmbedder(in: 256, hidden: d) : nil
        finalAdaLN = Linear(in: d, out: 2 * d)
        finalLinear = Linear(in: d, out: config.resolvedOutChannels)
        doubleBlocks = (0..<config.numLayers).map { _ in FluxDoubleBlock(config) }
        singleBlocks = (0..<config.numSingleLayers).map { _ in FluxSingleBlock(config) }
        var outside = OutsideBlocks(model: self)
        try w.load(&outside)
        if let streaming {
            try streamBlocks(from: w, streaming: streaming)
        } else {
            try w.load(&doubleBlocks, at: [Self.doubleKey])
            try w.load(&singleBlocks, at: [Self.singleKey])
        }
        try w.finish()
        if let streamer, let streaming {
            try streamer.place(budget: streaming.weightBudget, otherBytes: otherWeightBytes, what: "DiT")
            try placeDeviceViews()
        }
    }

    /// The layers outside the blocks, in BFL's names (always resident).
    func visitOutsideBlocks<V: ModuleVisitor>(_ v: inout V) throws {
        try v.linear("img_in", &imgIn)
        try v.linear("txt_in", &txtIn)
        try v.child("time_in", &timeIn)
        try v.child("vector_in", &vectorIn)
        try v.child("guidance_in", &guidanceIn)
        try v.linear("final_layer.adaLN_modulation.1", &finalAdaLN)
        try v.linear("final_layer.linear", &finalLinear)
    }

    /// Every layer: those outside the blocks, then the blocks as they run.
    public func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try visitOutsideBlocks(&v)
        try v.children(Self.doubleKey, &doubleBlocks)
        try v.children(Self.singleKey, &singleBlocks)
    }

    /// Bytes of the weights outside the blocks (embedders, final layer): always resident.
    var otherWeightBytes: Int { OutsideBlocks(model: self).weightByteCount }

    // `weightByteCount` (Module): every parameter as the model runs, quantized layers counting
    // their codes and scales; a streaming DiT's blocks without their modulation Linears.

    /// Predicts the flow velocity.
    /// - Parameters:
    ///   - img: packed latent tokens (B, h*w, in_channels)
    ///   - height: `h`, the latent grid height in 2x2 patches (image height / 16)
    ///   - width: `w`, likewise
    ///   - txt: T5 hidden states (B, Ltxt, joint_attention_dim)
    ///   - pooled: CLIP pooled vectors (B, pooled_projection_dim)
    ///   - timestep: sigma in [0, 1] per batch row (the model multiplies by 1000)
    ///   - guidance: embedded guidance per batch row (ignored by models without a guidance embedder)
    ///   - reference: FLUX.1 Kontext's reference tokens (B, rh*rw, in_channels) on their own rh x rw
    ///     grid: appended to the image tokens with position ids (1, row, col); only the image tokens'
    ///     velocity is returned
    public func callAsFunction(img: Tensor, height: Int, width: Int, txt: Tensor, pooled: Tensor,
                               timestep: [Float], guidance: [Float]?,
                               reference: (tokens: Tensor, height: Int, width: Int)? = nil,
                               cache: FirstBlockCache? = nil) -> Tensor {
        let b = img.shape[0]
        precondition(img.shape == [b, height * width, config.inChannels], "img tokens \(img.shape) do not match a \(height)x\(width) grid of \(config.inChannels)")
        if let r = reference {
            precondition(r.tokens.shape == [b, r.height * r.width, config.inChannels], "reference tokens \(r.tokens.shape) do not match a \(r.height)x\(r.width) grid")
        }
        let img = reference.map { concat([img, $0.tokens.moved(to: img.backend).to(img.dtype)], dim: 1) } ?? img
        precondition(txt.shape.count == 3 && txt.shape[0] == b && txt.shape[2] == config.jointAttentionDim, "txt \(txt.shape)")
        precondition(pooled.shape == [b, config.pooledProjectionDim], "pooled \(pooled.shape)")
        precondition(timestep.count == b, "one timestep per batch row")
        precondition(!blocksEvicted, "the DiT's blocks were evicted: call placeBlocks first")
        var x = imgIn(img.moved(to: backend))
        var vec = timeIn(fluxTimestepEmbedding(timestep).moved(to: backend))
        if let guidanceIn {
            let g = guidance ?? [Float](repeating: FluxTransformer.defaultGuidance, count: b)
            vec = vec + guidanceIn(fluxTimestepEmbedding(g).moved(to: backend))
        }
        vec = vec + vectorIn(pooled.moved(to: backend))
        var t = txtIn(txt.moved(to: backend))
        let lt = t.shape[1]
        let layout = FluxRoPE.Layout(textTokens: lt, height: height, width: width,
                                     referenceHeight: reference?.height ?? 0, referenceWidth: reference?.width ?? 0)
        let rope = ropeTables.table(layout) {
            FluxRoPE(ids: layout.ids, axesDims: config.axesDimsRope, theta: config.ropeTheta, backend: backend)
        }
        // A streaming model's blocks hold no modulation weights: their parameters come from the cache.
        let mods = streamer == nil ? nil : stepModulation(timestep: timestep, guidance: guidance, pooled: pooled)
        // With a step cache the first block runs alone first: its residual decides, row by row,
        // whether the others run (FirstBlockCache).
        if let cache, !doubleBlocks.isEmpty {
            streamer?.acquire(0)
            let before = x
            (x, t) = doubleBlocks[0](img: x, txt: t, vec: vec, rope: rope, mods: mods?.double[0])
            streamer?.release(0)
            let residual = x - before
            let reuse = cache.reusableRows(residual)
            let run = reuse.indices.filter { !reuse[$0] }
            if run.isEmpty {
                cache.noteReused(rows: b)
                return finalLayer(x + cache.remaining(rows: Array(0..<b)), vec: vec, tokens: height * width)
            }
            // The rows that must compute run the other blocks as a batch of their own (a streaming
            // DiT runs one row, so it never splits: `mods` is for all rows).
            func rows(_ t: Tensor) -> Tensor { run.count == b ? t : concat(run.map { FirstBlockCache.row(t, $0) }, dim: 0) }
            let computed = runBlocks(from: 1, x: rows(x), t: rows(t), vec: rows(vec), rope: rope, layout: layout, mods: mods)
            var out: [Tensor] = []
            for i in 0..<b {
                let xi = FirstBlockCache.row(x, i)
                if let j = run.firstIndex(of: i) {
                    let done = FirstBlockCache.row(computed, j)
                    cache.store(row: i, of: b, first: FirstBlockCache.row(residual, i), remaining: done - xi)
                    out.append(done)
                } else {
                    cache.noteReused(rows: 1)
                    out.append(xi + cache.remaining(rows: [i]))
                }
            }
            return finalLayer(b == 1 ? out[0] : concat(out, dim: 0), vec: vec, tokens: height * width)
        }
        x = runBlocks(from: 0, x: x, t: t, vec: vec, rope: rope, layout: layout, mods: mods)
        return finalLayer(x, vec: vec, tokens: height * width)
    }

    /// The output projection of the image tokens (the first `tokens`; reference tokens after them
    /// are dropped).
    private func finalLayer(_ hidden: Tensor, vec: Tensor, tokens: Int) -> Tensor {
        let x = hidden.shape[1] == tokens ? hidden : hidden.slice(dim: 1, start: 0, end: tokens)
        let mod = finalAdaLN(silu(vec)).chunked(2, dim: -1)  // (shift, scale)
        return finalLinear(modulatedLayerNorm(x, shift: mod[0], scale: mod[1], eps: finalNorm.eps))
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
