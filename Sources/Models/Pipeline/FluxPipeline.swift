#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tensor

/// Text-to-image with a Flux model: prompt -> CLIP pooled + T5 sequence -> seeded noise -> Euler
/// flow-matching steps with the DiT -> VAE decode -> 8-bit RGB, as diffusers' FluxPipeline does.
///
/// Stages load their weights when needed (memory-mapped) and, unless `keepLoaded`, drop them when
/// done, so peak memory is the largest stage rather than the sum of all.
public final class FluxPipeline {
    public let files: FluxModelFiles
    /// Keep every component in memory between runs (a server with enough RAM); else load per stage.
    public var keepLoaded: Bool {
        get { stages.keepLoaded }
        set { stages.keepLoaded = newValue }
    }
    public let schedulerConfig: FlowMatchSchedulerConfig
    /// The model's generation settings (kind, size, T5 length, steps, guidance, schedule): the
    /// defaults of `request(prompt:)`, the CLI and the HTTP API.
    public let preset: ModelPreset
    /// The T5 length the model was made for: `tokenizer_2/tokenizer_config.json`'s model_max_length
    /// (512 for FLUX.1-dev, 256 for schnell and small models), 512 when absent or "no limit"; a value
    /// outside 1...512 gives 512 and a line in `warnings`.
    public let preferredSequenceLength: Int
    /// The picture side the model was made for: `vae/config.json`'s `sample_size` (1024 for FLUX.1-dev,
    /// 128 for the shipped default model); 1024 when the config or key is missing, and 1024 with a line
    /// in `warnings` when the value is no multiple of 16 in 64...4096.
    /// The CLI and the console use it when no size is given.
    public let preferredImageSize: Int
    /// What the model folder asked for that could not be used, and what was used instead (one line
    /// each, naming the file, the key and the value). Callers show them to the user.
    public let warnings: [String]
    /// How weights are held in memory (compute is f32 on the CPU in every case).
    public let precision: WeightPrecision
    /// Where every stage runs: the CPU, or a device backend (CUDA) holding weights in the dtype it
    /// prefers (`WeightDTypePreferring`).
    public let backend: any Backend
    /// When the VAE decodes tile by tile: `.auto` (default) tiles images larger than one tile
    /// (1024x1024 with the Flux VAE), so big pictures decode in the memory of a 1024x1024 one.
    public var vaeTilingMode: VAETilingMode = .auto
    /// Tile size and overlap for tiled decoding (diffusers' numbers for the Flux VAE by default).
    public var vaeTiling = VAETiling()

    /// Loads, keeps and frees the stages' models, and keeps the device bookkeeping (StageCache.swift).
    let stages: StageCache
    let clipTokenizer: CLIPTokenizer
    let t5Tokenizer: T5Tokenizer
    /// One generation (or load) at a time: the blocking `generate` and `loadAll` hold it for their
    /// whole run, so tasks (or an actor re-entered while it awaits) sharing a pipeline queue. Settings
    /// (`keepLoaded`, `vaeTilingMode`...) are not guarded: set them before generating.
    let generationGate = PThreadMutex()

    /// Whether `--precision fp8` runs on a GPU: the DiT's block Linears as e4m3 on the GPU through
    /// the backend's fp8 GEMM (`FP8GEMM`, `FP8Linear`) (fp8 tensor cores from compute capability 8.9, dequantised to bf16 on
    /// the fly before). On by default (measured on an H200: BENCHMARKS.md); `MAJICFLUX_CUDA_FP8=0`
    /// turns it off, and fp8 then runs on the CPU only.
    public static var gpuFP8Enabled: Bool { ProcessInfo.processInfo.environment["MAJICFLUX_CUDA_FP8"] != "0" }

    /// Low-VRAM mode on a GPU (`--vram-budget`): the device memory the pipeline may use, by the
    /// driver's count (the CUDA context included). T5 and the DiT keep as many blocks resident as
    /// fit and stream the rest from page-locked host memory (`BlockStreamer`), and every stage is
    /// loaded per generation and freed after it, except that a server (`keepLoaded`) keeps T5's and
    /// the DiT's blocks in host memory between generations and only gives back and takes again their
    /// device memory (`checkpointLoads` counts the reads). nil: no budget.
    public let vramBudget: Int?
    /// A1111's short hash of the DiT checkpoint for the pictures' `Model hash:`, computed in the
    /// background from the time the pipeline is made (cached on disk, see `ModelHash`).
    public let modelHash: ModelHashTask

    /// Checks the files and loads the tokenizers and configs (small); weights load on first use.
    public init(files: FluxModelFiles, keepLoaded: Bool = false, precision: WeightPrecision = .bf16,
                backend: any Backend = CPUBackend.shared, vramBudget: Int? = nil) throws {
        if let vramBudget {
            guard backend is any AsyncUploading else {
                throw ModelError.invalidParameter("--vram-budget needs a backend that copies while it computes (CUDA); \(backend.name) does not")
            }
            guard vramBudget > 0 else { throw ModelError.invalidParameter("--vram-budget must be positive (got \(vramBudget) bytes)") }
        }
        self.vramBudget = vramBudget
        // Quant's kernels read host memory: on a device, quantized weights need its fp8 GEMM.
        let deviceFP8 = precision == .fp8 && backend is any FP8GEMM && FluxPipeline.gpuFP8Enabled
        if backend.device != .cpu && precision.ditQuantization != nil && !deviceFP8 && !precision.holdsGGUFBlocks {
            let fp8Note = !(backend is any FP8GEMM) ? " (\(backend.name) has no fp8 GEMM)" : " (MAJICFLUX_CUDA_FP8=0 turned the GPU fp8 path off)"
            throw ModelError.invalidParameter("--precision \(precision.rawValue) (quantized weights) runs on the CPU only; on \(backend.name) use bf16, f32"
                + (backend is any FP8GEMM ? " or fp8" : "") + (precision == .fp8 ? fp8Note : ""))
        }
        self.backend = backend
        self.files = files
        modelHash = ModelHashTask(checkpoint: files.transformer)
        self.precision = precision
        clipTokenizer = try CLIPTokenizer(directory: files.clipTokenizer)
        t5Tokenizer = try T5Tokenizer(directory: files.t5Tokenizer)
        // Every stage's config is checked now, so a bad value stops the run before any weights load
        // (the stages read them again when they load).
        _ = try FluxPipeline.clipConfig(files)
        _ = try files.t5Config.map { try ConfigFile.load(T5Config.self, path: $0, what: "T5 config") }
        _ = try files.transformerConfig.map { try ConfigFile.load(FluxConfig.self, path: $0, what: "transformer config") }
        _ = try files.vaeConfig.map { try ConfigFile.load(AutoencoderConfig.self, path: $0, what: "VAE config") }
        var warnings: [String] = []
        preset = try ModelPreset.detect(files: files, warnings: &warnings)
        if let note = try Self.ggufHoldingNote(files, precision: precision) { warnings.append(note) }
        schedulerConfig = preset.scheduler
        preferredSequenceLength = preset.sequenceLength
        preferredImageSize = preset.imageSize
        self.warnings = warnings
        stages = StageCache(files: files, precision: precision, backend: backend, vramBudget: vramBudget, keepLoaded: keepLoaded,
                            plannedTokens: (preferredImageSize / 16) * (preferredImageSize / 16) + preferredSequenceLength)
    }

    /// Loads every component now (a server calls this once at start to fail early and warm up).
    public func loadAll() throws {
        generationGate.lock(); defer { generationGate.unlock() }
        _ = try clip()
        _ = try t5()
        try dit().evictBlocks()  // under a budget the GPU is the next stage's (no-op otherwise)
        _ = try vae()
        try backend.throwIfFaulted()
    }

    /// The stages' models as the current generation uses them (loaded by `stages` on first use).
    func clip() throws -> CLIPTextModel { try timed(\.clipLoad) { try stages.clip() } }
    func t5() throws -> T5Encoder { try timed(\.t5Load) { try stages.t5() } }
    func dit(tokens: Int? = nil) throws -> FluxTransformer { try timed(\.ditLoad) { try stages.dit(tokens: tokens) } }
    func vae() throws -> AutoencoderKL { try timed(\.vaeLoad) { try stages.vae() } }

    /// How the last loaded DiT and T5 held their blocks under a VRAM budget (nil without one).
    public var lastDiTResidency: BlockResidency? { stages.lastDiTResidency }
    public var lastT5Residency: BlockResidency? { stages.lastT5Residency }
    /// How many times each stage's weights have been read from their checkpoint since the pipeline
    /// was made, by stage ("CLIP", "T5", "DiT", "VAE"): a kept stage (`keepLoaded`, and under a
    /// budget T5's and the DiT's host copies) is read once.
    public var checkpointLoads: [String: Int] { stages.checkpointLoads }
    /// On a device backend (`DeviceMemoryInfo`): each device stage of the last generation that loaded
    /// a model (CLIP, T5, DiT, VAE, in the order they ran) with the device-counted peak of memory
    /// during it, in bytes.
    public var stagePeaks: [(stage: String, bytes: Int)] { stages.stagePeaks }
    /// The last generation's step cache (`GenerationRequest.cacheThreshold`): steps that ran every
    /// block and steps that reused the cache (the conditional pass; a batch's pictures' steps added
    /// up); nil when it ran without one.
    public internal(set) var lastStepCache: (computed: Int, reused: Int)?
    /// How the loaded DiT's blocks ran so far on a backend that captures graphs (CUDA graphs:
    /// captured once per shape, then replayed); nil when no DiT is loaded.
    public var blockGraphUse: BlockGraphUse? { stages.ditModel?.blockGraphUse }
    /// The loaded DiT's delayed e4m3 scales (`FluxTransformer.fp8DelayedScales`; empty when no DiT is
    /// loaded or its blocks are not fp8), for diagnostics.
    public var fp8DelayedScales: [DelayedE4M3Scale] { stages.ditModel?.fp8DelayedScales ?? [] }
    /// How many pictures the last generation made in one pass (1 for `generate(_:)`; the batch size
    /// for `generate(batch:)`, or 1 when it fell back to one at a time: FluxPipeline+Batch.swift).
    public internal(set) var lastBatchRows = 0
    /// Where the last generation's time went, stage by stage (GenerationTimings.swift).
    public internal(set) var lastTimings = GenerationTimings()

    /// The CLIP config (FLUX.1's when the folder has none), which must hold the 77 prompt positions.
    static func clipConfig(_ files: FluxModelFiles) throws -> CLIPTextConfig {
        let config = try files.clipConfig.map { try ConfigFile.load(CLIPTextConfig.self, path: $0, what: "CLIP config") } ?? CLIPTextConfig()
        if config.maxPositionEmbeddings < clipLength {
            throw ModelError.badConfig(path: files.clipConfig ?? "CLIP config", reason: "max_position_embeddings must be at least "
                                       + "\(clipLength) (the CLIP prompt length), got \(config.maxPositionEmbeddings)")
        }
        return config
    }

    /// Tokens CLIP encodes per prompt.
    static let clipLength = 77

    /// Prompt embeddings: T5 sequence (1, L, 4096) and CLIP pooled (1, 768).
    public func encode(prompt: String, maxSequenceLength: Int) throws -> (sequence: Tensor, pooled: Tensor) {
        let clipIDs = clipTokenizer.encode(prompt, length: FluxPipeline.clipLength).map(Int.init)
        let clip = try clip()
        try checkVocabulary(clipIDs, size: clip.config.vocabSize, tokenizer: files.clipTokenizer, model: files.clip)
        let pooled = timed(\.clipEncode) { clip([clipIDs]).pooled }
        let t5IDs = t5Tokenizer.encode(prompt, length: maxSequenceLength).map(Int.init)
        let t5 = try t5()
        try checkVocabulary(t5IDs, size: t5.config.vocabSize, tokenizer: files.t5Tokenizer, model: files.t5)
        let sequence = timed(\.t5Encode) { t5([t5IDs]) }
        try backend.throwIfFaulted()
        return (sequence, pooled)
    }

    /// A tokenizer and an encoder from different models give ids past the embedding table.
    func checkVocabulary(_ ids: [Int], size: Int, tokenizer: String, model: String) throws {
        if let bad = ids.first(where: { $0 < 0 || $0 >= size }) {
            throw ModelError.invalidParameter("the tokenizer in \(tokenizer) produced token id \(bad), but the encoder in \(model) has only \(size) embeddings: they do not belong together")
        }
    }

    /// Runs the whole pipeline. `progress` is called before the first step and after every step;
    /// returning false cancels (throws `ModelError.cancelled`).
    public func generate(_ request: GenerationRequest,
                         progress: ((GenerationProgress) -> Bool)? = nil) throws -> GeneratedImage {
        generationGate.lock(); defer { generationGate.unlock() }
        let start = ContinuousClock.now
        lastTimings = GenerationTimings()
        defer { lastTimings.total = GenerationTimings.seconds(since: start) }
        return try generateRows([request], progress: progress)[0]
    }

    /// The denoising steps `request` runs (what progress counts to): img2img and inpainting skip the
    /// start of the schedule, and the hires fix adds the end of its second one.
    public func stepsRun(_ request: GenerationRequest) -> Int {
        var steps = request.steps
        if let c = request.conditioning, !c.isEmpty, preset.conditioning == .base {
            steps -= Self.firstStep(steps: request.steps, strength: c.strength ?? ImageConditioning.defaultStrength)
        }
        if let h = request.hires {
            let second = h.steps ?? request.steps
            steps += second - Self.firstStep(steps: second, strength: h.strength)
        }
        return steps
    }

    /// The run of one or more requests that differ only in their seed (checked by the caller), as
    /// one batch: text encoded once, each row's draws from its own generator, one DiT pass per step
    /// for all rows, the VAE decoding picture by picture (FluxPipeline+Batch.swift). The caller holds
    /// `generationGate`.
    func generateRows(_ requests: [GenerationRequest], progress: ((GenerationProgress) -> Bool)?) throws -> [GeneratedImage] {
        let request = requests[0]
        try request.validate()
        do { try GenerationLimits().checkConditioning(request.conditioning ?? ImageConditioning(), preset: preset) } catch let issue as GenerationIssue {
            throw ModelError.invalidParameter(issue.description)
        }
        // Device failures are checked after each stage and step (`throwIfFaulted`): one left from
        // outside a generation is reported here rather than blamed on a later stage.
        try backend.throwIfFaulted()
        try stages.checkVAEWeights()  // the VAE loads last: a wrong file is found now, not after the steps
        if let uses = request.loras { try applyLoRAs(uses, fuse: stages.fuseLoRAs) }
        stages.startGeneration()
        let start = ContinuousClock.now
        let (lh, lw) = (request.height / 8, request.width / 8)
        let schedule = try schedule(for: request, imageTokens: (lh / 2) * (lw / 2))
        let totalSteps = stepsRun(request)
        // The size being denoised: the hires fix's second pass works on the final one.
        var passSize = (width: request.width, height: request.height)
        func report(_ stage: GenerationProgress.Stage, _ step: Int, denoised: Tensor? = nil) throws {
            let secs = (ContinuousClock.now - start).seconds
            var p = GenerationProgress(stage: stage, step: step, totalSteps: totalSteps, elapsed: secs, denoised: denoised)
            (p.width, p.height) = passSize
            if let progress, !progress(p) { throw ModelError.cancelled }
        }
        try report(.encodingText, 0)
        let cond = try encode(prompt: request.prompt, maxSequenceLength: request.maxSequenceLength)
        let useCFG = request.trueCFGScale > 1
        let uncond = useCFG ? try encode(prompt: request.negativePrompt, maxSequenceLength: request.maxSequenceLength) : nil
        stages.evictTextEncoder()  // a kept, streaming T5 gives the device back (no-op otherwise)

        // Each stage's freed activation buffers go back to the system before the next stage loads.
        CPUBackend.shared.releaseCachedBuffers()
        // One generator per picture for every draw, in diffusers' order: VAE samples of input
        // pictures, the noise; so each row gets exactly the draws a single run of its seed makes.
        let generators = requests.map { TorchGenerator(seed: $0.seed) }
        var begin: DenoisingStart?
        if let c = request.conditioning, !c.isEmpty || preset.conditioning != .base {
            begin = try denoisingStart(request, c, schedule: schedule, generators: generators, latentSize: (lh, lw))
            CPUBackend.shared.releaseCachedBuffers()
        }
        // Without a VRAM budget the hires fix's two passes share one loaded DiT; under one, each pass
        // plans its resident blocks for its own token count.
        let sharedDiT = request.hires != nil && vramBudget == nil ? try dit() : nil
        // One pass of steps; `before` steps ran in earlier passes (the progress counts on).
        func run(_ request: GenerationRequest, latentSize: (Int, Int), schedule: FlowMatchSchedule, start: DenoisingStart?,
                 before: Int) throws -> (latents: Tensor, steps: Int) {
            let denoiseStart = ContinuousClock.now, ditLoadBefore = lastTimings.ditLoad
            let (x, steps) = try denoise(request, cond: cond, uncond: uncond, latentSize: latentSize, schedule: schedule,
                                         generators: generators, start: start, model: sharedDiT,
                                         wantsDenoised: progress != nil) { try report(.denoising, before + $0, denoised: $1) }
            settleDevice()
            lastTimings.steps += GenerationTimings.seconds(since: denoiseStart) - (lastTimings.ditLoad - ditLoadBefore)
            lastTimings.stepCount += steps
            CPUBackend.shared.releaseCachedBuffers()
            return (FluxPacking.unpack(x, height: latentSize.0, width: latentSize.1), steps)
        }
        var (latents, steps) = try run(request, latentSize: (lh, lw), schedule: schedule, start: begin, before: 0)
        if let hires = request.hires {
            let pass = try hiresPass(requests, hires, firstPass: latents)
            CPUBackend.shared.releaseCachedBuffers()
            passSize = (hires.width, hires.height)
            let more: Int
            (latents, more) = try run(pass.request, latentSize: pass.latentSize, schedule: pass.schedule, start: pass.start, before: steps)
            steps += more
        }

        try report(.decoding, steps)
        // A latent holding NaN or infinity decodes to a flat black picture: an error instead, with
        // where such values come from (the latent is small: a copy to the host is cheap).
        if !latents.floats().allSatisfy(\.isFinite) {
            throw ModelError.invalidParameter("the denoised latent holds values that are not finite (NaN or infinity), so no picture is made; "
                                              + "usual causes: broken weights (a LoRA or a DiT file), or a LoRA weight far too high")
        }
        let vae = try vae()
        try checkFits(vae: vae.config, latentChannels: latents.shape[1])
        var images: [GeneratedImage] = []
        let decodeStart = ContinuousClock.now
        defer { lastTimings.vaeDecode += GenerationTimings.seconds(since: decodeStart) }
        for (row, rowRequest) in requests.enumerated() {
            // Picture by picture: a batch decodes in the memory of one picture.
            let rowLatents = requests.count == 1 ? latents : latents.slice(dim: 0, start: row, end: row + 1).contiguous()
            let image = try vae.decode(rowLatents, mode: vaeTilingMode, tiling: vaeTiling)
            try backend.throwIfFaulted()
            var png = try PNGImage(tensor: image)  // diffusers' rounding: round((x/2 + 0.5).clamp(0, 1) * 255)
            if let c = rowRequest.conditioning, c.keepUnmasked { png = try c.overlaid(on: png) }
            // The picture records the LoRAs it was made with, whether the request or the pipeline set them.
            var made = rowRequest
            made.loras = stages.loras.isEmpty ? nil : stages.loras
            images.append(GeneratedImage(width: png.width, height: png.height, rgb: png.pixels, request: made, modelHash: modelHash.value))
        }
        stages.endDeviceStage()
        lastBatchRows = requests.count
        return images
    }

    /// The denoising loop. The DiT is loaded here and (unless `keepLoaded`) released on return,
    /// before the VAE loads.
    /// `start`: how a conditioned generation begins (nil: text-to-image, pure noise from each row's
    /// generator). `model`: a DiT already loaded for this generation (nil: load it here). One row per generator: the text embeddings are repeated for every row, and each
    /// model call runs all rows at once. `onStep`'s preview latent is the first row's.
    func denoise(_ request: GenerationRequest, cond: (sequence: Tensor, pooled: Tensor),
                 uncond: (sequence: Tensor, pooled: Tensor)?, latentSize: (Int, Int), schedule: FlowMatchSchedule,
                 generators: [TorchGenerator], start: DenoisingStart? = nil, model: FluxTransformer? = nil, wantsDenoised: Bool = false,
                 onStep: (Int, Tensor?) throws -> Void) throws -> (Tensor, Int) {
        let (lh, lw) = latentSize
        let (gh, gw) = (lh / 2, lw / 2)
        let referenceTokens = start?.reference.map { $0.height * $0.width } ?? 0
        let dit = try model ?? dit(tokens: gh * gw + referenceTokens + cond.sequence.shape[1])
        defer { dit.evictBlocks() }  // a kept, streaming DiT gives the GPU to the VAE (no-op otherwise)
        try checkFits(dit: dit.config, sequence: cond.sequence, pooled: cond.pooled)
        try checkFits(vae: stages.vaeConfig(), latentChannels: dit.config.resolvedOutChannels / 4)
        try checkFits(dit: dit.config, joined: start?.channelTokens?.shape[2] ?? 0)
        // fp8 activations scaled by this generation's own amaxes: the same request, the same picture.
        dit.restartDelayedScales()
        // Noise (1, C, H/8, W/8) per row from its seed, exactly as torch.randn with a CPU generator.
        let rows = generators.count
        func noise() -> Tensor {
            let draws = generators.map { $0.randn([1, dit.config.resolvedOutChannels / 4, lh, lw]) }
            return rows == 1 ? draws[0] : concat(draws, dim: 0)
        }
        var x = start?.latents ?? FluxPacking.pack(noise().moved(to: backend)).contiguous()
        let cond = Self.repeatedRows(cond, rows), uncond = uncond.map { Self.repeatedRows($0, rows) }
        let first = start?.firstStep ?? 0
        // A streaming DiT computes every step's modulation parameters now, in one pass over those
        // weights (a no-op for a resident DiT).
        let timesteps = (first..<schedule.steps).map { schedule.modelTimestep($0) }
        for embedding in [cond] + (uncond.map { [$0] } ?? []) {
            dit.prepareModulation(timesteps: timesteps, guidance: request.guidance, pooled: embedding.pooled)
        }
        defer { dit.clearModulation() }
        // One step cache per kind of model call (conditional, unconditional), for this generation only.
        let caches = request.cacheThreshold > 0
            ? (cond: FirstBlockCache(threshold: request.cacheThreshold), uncond: FirstBlockCache(threshold: request.cacheThreshold)) : nil
        defer { lastStepCache = caches.map { (computed: $0.cond.computed, reused: $0.cond.reused) } }
        // On a device that reads back without waiting, a step's preview is copied to the host behind
        // its work and reported after the next step is queued: the device keeps computing while the
        // host waits for the copy and draws the preview (a waiting download would idle it every step).
        let reader = wantsDenoised ? backend as? any AsyncDownloading : nil
        var pending: (step: Int, denoised: Tensor, copied: QueueFence)?
        func reportPending() throws {
            guard let p = pending else { return }
            pending = nil
            reader?.hostWait(p.copied)
            try onStep(p.step, p.denoised)
        }
        try onStep(0, nil)
        for i in first..<schedule.steps {
            let t = [Float](repeating: schedule.modelTimestep(i), count: rows)
            // The state may come back from a device step in the compute dtype: join in its dtype.
            let input = start?.channelTokens.map { concat([x, $0.to(x.dtype)], dim: 2) } ?? x
            let guidance = [Float](repeating: request.guidance, count: rows)
            func velocity(_ text: (sequence: Tensor, pooled: Tensor), cache: FirstBlockCache?) -> Tensor {
                dit(img: input, height: gh, width: gw, txt: text.sequence, pooled: text.pooled, timestep: t, guidance: guidance,
                    reference: start?.reference, cache: cache)
            }
            var v = velocity(cond, cache: caches?.cond)
            if let uncond {
                let vNeg = velocity(uncond, cache: caches?.uncond)
                v = vNeg + (v - vNeg) * request.trueCFGScale
            }
            // Clean-image estimate for previews (flow matching: x_t = x0 + sigma * v).
            let denoised = wantsDenoised ? Self.firstRow(x) - Self.firstRow(v) * schedule.sigmas[i] : nil
            x = x + v * (schedule.sigmas[i + 1] - schedule.sigmas[i])
            if let blend = start?.blend {
                // Inpainting: the kept region follows the input picture, noised to the next sigma.
                let sigma = schedule.sigmas[i + 1]
                let kept = i < schedule.steps - 1 ? blend.noise * sigma + blend.imageLatents * (1 - sigma) : blend.imageLatents
                x = kept * (1 - blend.mask) + blend.mask * x
            }
            try backend.throwIfFaulted()
            if let reader, let denoised {
                let copied = reader.makeFence()
                let host = reader.downloadAsync(denoised, done: copied)
                try reportPending()
                pending = (i - first + 1, host, copied)
            } else {
                try onStep(i - first + 1, denoised)
            }
        }
        try reportPending()
        try backend.throwIfFaulted()
        return (x, schedule.steps - first)
    }
}

/// How model weights are held in memory. Compute is f32 on the CPU whichever is chosen.
public enum WeightPrecision: String, Sendable, CaseIterable {
    /// Everything converted to f32 at load (2x the memory of bf16 checkpoints; no per-call decoding).
    case f32
    /// Weights as stored (bf16 in released checkpoints), memory-mapped, decoded panel by panel; a GGUF
    /// DiT's Linears in the file's ggml blocks (as `gguf`: the point of a GGUF file on a small machine).
    case bf16
    /// The DiT's block Linears quantized to float8 e4m3fn with per-channel scales (1/4 of f32).
    case fp8
    /// The DiT's block Linears quantized to int8 with per-channel scales.
    case int8
    /// The DiT's block Linears quantized to int4 in groups of 64 columns.
    case int4
    /// A GGUF DiT's Linears kept in the file's ggml block types (Q8_0 ... Q2_K, `GGUFLinear`); other
    /// tensors, and other files, as stored. The same as `bf16`, named for what it does to GGUF files.
    case gguf
    /// The DiT's block Linears as ggml blocks of one type (`GGUFLinear`): kept from a GGUF file that
    /// stores them so, else quantised as they load (see `GGUFBlockHolding.type`).
    case q8_0, q6_k, q5_k, q4_k, q3_k, q2_k

    var denseDType: DType? { self == .f32 ? .f32 : nil }
    var ditQuantization: LinearQuantization? {
        switch self {
        case .f32: return nil
        case .bf16: return .ggufBlocks
        case .fp8: return .fluxFP8
        case .int8: return .fluxInt8
        case .int4: return .fluxInt4
        case .gguf: return .ggufBlocks
        case .q8_0, .q6_k, .q5_k, .q4_k, .q3_k, .q2_k: return ggmlType.map { .gguf($0) }
        }
    }
}
