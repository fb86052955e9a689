import Tensor

/// How a generation starts and what each step adds, from the request's pictures, following
/// diffusers' Flux pipelines (img2img, inpainting, Fill, Control, Kontext) step for step and draw for
/// draw: every VAE sample and the noise come from one generator seeded with the request's seed, in
/// the pipeline's order.
struct DenoisingStart {
    /// Packed start latents (1, L, 4C) on the backend.
    var latents: Tensor
    /// The first schedule index that runs (img2img and inpainting start part-way, by strength).
    var firstStep = 0
    /// Tokens joined to the latents on channels at every step (Fill: masked-picture latents and the
    /// folded mask; Canny/Depth: the control picture's latents).
    var channelTokens: Tensor?
    /// Kontext: the reference picture's tokens and their grid.
    var reference: (tokens: Tensor, height: Int, width: Int)?
    /// Inpainting: after every step the kept region is put back, noised to the next sigma.
    var blend: (imageLatents: Tensor, noise: Tensor, mask: Tensor)?
}

extension FluxPipeline {
    /// The schedule a request runs (before strength cuts it).
    func schedule(for request: GenerationRequest, imageTokens: Int) throws -> FlowMatchSchedule {
        let schedule: FlowMatchSchedule
        switch request.schedule {
        case .model: schedule = FlowMatchSchedule(steps: request.steps, imageSeqLen: imageTokens, config: schedulerConfig)
        case .diffSynth(let shift): schedule = FlowMatchSchedule(diffSynthSteps: request.steps, shift: shift)
        }
        guard schedule.isUsable else {
            throw ModelError.badConfig(path: files.schedulerConfig ?? "the FLUX.1-dev schedule", reason: "its shift values give sigmas outside [0, 1] "
                                       + "for \(imageTokens) image tokens (\(schedule.sigmas.prefix(3).map { "\($0)" }.joined(separator: ", "))...): the picture would be black")
        }
        return schedule
    }

    /// The first step img2img / inpainting runs at `strength` of `steps`: diffusers' `get_timesteps`,
    /// int(N - min(N * strength, N)), with the strength as the decimal number it was written as.
    public static func firstStep(steps: Int, strength: Float) -> Int {
        let s = Double("\(strength)") ?? Double(strength)
        return Int(Swift.max(Double(steps) - Swift.min(Double(steps) * s, Double(steps)), 0))
    }

    /// Encodes the request's pictures (the VAE stage) and draws the noise: the start of denoising,
    /// one row per generator (a batch's rows stacked). Each input picture runs through the encoder
    /// once (`lastTimings.vaeEncodes`); every row then draws its samples and noise from its own
    /// generator in the single run's order, so a row equals the single run of its seed.
    func denoisingStart(_ request: GenerationRequest, _ c: ImageConditioning, schedule: FlowMatchSchedule,
                        generators: [TorchGenerator], latentSize: (Int, Int)) throws -> DenoisingStart {
        let (lh, lw) = latentSize
        let pictures = try ConditioningPictures(c, width: request.width, height: request.height)
        let vae = try vae()
        let channels = vae.config.latentChannels
        let began = ContinuousClock.now
        defer { lastTimings.vaeEncode += GenerationTimings.seconds(since: began) }
        func distribution(_ picture: Tensor) throws -> LatentDistribution {
            lastTimings.vaeEncodes += 1
            return try vae.latentDistribution(picture.moved(to: backend), mode: vaeTilingMode, tiling: vaeTiling)
        }
        // Latents join the denoising state, which is f32 whatever the VAE computed in.
        func sample(_ d: LatentDistribution, _ g: TorchGenerator) -> Tensor { vae.scaled(d.sample(g)).to(.f32) }
        func noise(_ g: TorchGenerator) -> Tensor { g.randn([1, channels, lh, lw]).moved(to: backend) }
        func rows(_ make: (TorchGenerator) throws -> DenoisingStart) rethrows -> DenoisingStart {
            DenoisingStart.stacked(try generators.map(make))
        }
        defer { try? backend.throwIfFaulted() }

        switch preset.conditioning {
        case .fill:
            // FluxFillPipeline (diffusers 0.42): the picture's latents are drawn (and, at its fixed strength
            // 1, multiplied by 0), then the noise, then the masked picture's latents.
            guard let image = pictures.image, let mask = pictures.mask else { throw ModelError.invalidParameter("FLUX.1-Fill needs an image and a mask") }
            let keep = Tensor(mask.map { 1 - $0 }, shape: [1, 1, request.height, request.width])
            let whole = try distribution(image), masked = try distribution(image * keep)
            let folded = Self.foldedMask(mask, latentHeight: lh, latentWidth: lw).moved(to: backend)
            let start = rows { g in
                _ = whole.sample(g)
                var start = DenoisingStart(latents: FluxPacking.pack(noise(g)).contiguous())
                start.channelTokens = concat([FluxPacking.pack(sample(masked, g)), folded], dim: 2).contiguous()
                return start
            }
            try backend.throwIfFaulted()
            return start
        case .control:
            // FluxControlPipeline: the control picture's latents (a draw), then the noise.
            guard let control = pictures.control else { throw ModelError.invalidParameter("a control model needs a control image") }
            let d = try distribution(control)
            return rows { g in
                let latents = sample(d, g)
                var start = DenoisingStart(latents: FluxPacking.pack(noise(g)).contiguous())
                start.channelTokens = FluxPacking.pack(latents).contiguous()
                return start
            }
        case .kontext:
            // FluxKontextPipeline: the reference's mean latents (no draw), then the noise.
            var reference: (Tensor, Int, Int)?
            if let picture = pictures.reference {
                let latents = vae.scaled(try distribution(picture).mean).to(.f32)
                reference = (FluxPacking.pack(latents).contiguous(), latents.shape[2] / 2, latents.shape[3] / 2)
            }
            return rows { g in
                var start = DenoisingStart(latents: FluxPacking.pack(noise(g)).contiguous())
                start.reference = reference
                return start
            }
        case .base:
            // FluxImg2ImgPipeline / FluxInpaintPipeline: the picture's latents (a draw), then the noise,
            // mixed at the first step's sigma.
            guard let image = pictures.image else { throw ModelError.invalidParameter("img2img needs an input image") }
            let first = Self.firstStep(steps: schedule.steps, strength: c.strength ?? ImageConditioning.defaultStrength)
            guard first < schedule.steps else {
                throw ModelError.invalidParameter("strength \(c.strength ?? ImageConditioning.defaultStrength) leaves none of the \(schedule.steps) steps to run: raise the strength or the steps")
            }
            let d = try distribution(image)
            let sigma = schedule.sigmas[first]
            let latentMask = pictures.mask.map {
                Self.latentMask($0, width: request.width, latentHeight: lh, latentWidth: lw, channels: channels).moved(to: backend)
            }
            return rows { g in
                let imageLatents = sample(d, g)
                let n = noise(g)
                var start = DenoisingStart(latents: FluxPacking.pack(n * sigma + imageLatents * (1 - sigma)).contiguous(), firstStep: first)
                if let latentMask {
                    start.blend = (FluxPacking.pack(imageLatents).contiguous(), FluxPacking.pack(n).contiguous(), latentMask)
                }
                return start
            }
        }
    }

    /// Inpainting's mask on the latent grid, packed like the latents: torch's nearest interpolation
    /// takes each 8x8 block's top-left pixel; repeated over the latent channels.
    static func latentMask(_ mask: [Float], width: Int, latentHeight lh: Int, latentWidth lw: Int, channels: Int) -> Tensor {
        let f = width / lw
        var grid = [Float](repeating: 0, count: channels * lh * lw)
        for c in 0..<channels {
            for y in 0..<lh { for x in 0..<lw { grid[(c * lh + y) * lw + x] = mask[(y * f) * width + x * f] } }
        }
        return FluxPacking.pack(Tensor(grid, shape: [1, channels, lh, lw])).contiguous()
    }

    /// FLUX.1-Fill's mask tokens: the pixel mask folded 8x8 per latent cell (channel = row-in-block * 8
    /// + column-in-block), then packed 2x2: (1, L, 256).
    static func foldedMask(_ mask: [Float], latentHeight lh: Int, latentWidth lw: Int) -> Tensor {
        let f = 8, width = lw * f
        var folded = [Float](repeating: 0, count: f * f * lh * lw)
        for dy in 0..<f {
            for dx in 0..<f {
                for y in 0..<lh {
                    for x in 0..<lw { folded[((dy * f + dx) * lh + y) * lw + x] = mask[(y * f + dy) * width + x * f + dx] }
                }
            }
        }
        return FluxPacking.pack(Tensor(folded, shape: [1, f * f, lh, lw])).contiguous()
    }
}
