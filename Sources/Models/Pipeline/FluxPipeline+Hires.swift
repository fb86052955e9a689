import Tensor

/// The hires fix's second pass (`HiresFix`): its request, schedule and start, from the first pass's
/// latents.
struct HiresPass {
    /// The request at the final size with the second schedule's steps, no hires fix.
    var request: GenerationRequest
    var schedule: FlowMatchSchedule
    var start: DenoisingStart
    /// (H/8, W/8) of the final picture.
    var latentSize: (Int, Int)
}

extension FluxPipeline {
    /// Upscales the first pass's unpacked latents (B, C, h/8, w/8), one row per request, and mixes each
    /// row with noise from a fresh generator of its seed at the first running step's sigma, as A1111's
    /// `sample_hr_pass` starts its img2img. Picture upscalers decode, resize and encode (the encoding's
    /// sample drawn first, as img2img draws it), so a row equals img2img on its upscaled picture.
    func hiresPass(_ requests: [GenerationRequest], _ hires: HiresFix, firstPass latents: Tensor) throws -> HiresPass {
        let first = requests[0]
        var second = first
        second.width = hires.width
        second.height = hires.height
        second.steps = hires.steps ?? first.steps
        second.hires = nil
        let (lh, lw) = (hires.height / 8, hires.width / 8)
        let schedule = try schedule(for: second, imageTokens: (lh / 2) * (lw / 2))
        let firstStep = Self.firstStep(steps: schedule.steps, strength: hires.strength)
        let sigma = schedule.sigmas[firstStep]
        // Upscaled to cover the final size with the first pass's aspect ratio, then cropped around the
        // centre in whole 8-pixel latent cells (A1111's truncate_x / truncate_y).
        let up = hires.upscaledSize(fromWidth: first.width, height: first.height)
        let (cutX, cutY) = ((up.width - hires.width) / 8, (up.height - hires.height) / 8)
        let channels = latents.shape[1]
        // Picture upscalers decode and encode: the VAE once for every row (unkept stages load per call).
        let pictureVAE = hires.upscaler.isLatent ? nil : try vae()
        var rows: [DenoisingStart] = []
        for (row, request) in requests.enumerated() {
            let g = TorchGenerator(seed: request.seed)
            let own = requests.count == 1 ? latents : latents.slice(dim: 0, start: row, end: row + 1).contiguous()
            let upscaled: Tensor
            switch hires.upscaler {
            case .latent(let mode, let antialias):
                let grown = interpolate(own, height: up.height / 8, width: up.width / 8, mode: mode, antialias: antialias)
                upscaled = grown.slice(dim: 2, start: cutY / 2, end: cutY / 2 + lh).slice(dim: 3, start: cutX / 2, end: cutX / 2 + lw).contiguous()
            case .picture(let upscaler):
                let vae = try pictureVAE ?? vae()
                let decodeStart = ContinuousClock.now
                let picture = try PNGImage(tensor: vae.decode(own, mode: vaeTilingMode, tiling: vaeTiling))
                lastTimings.vaeDecode += GenerationTimings.seconds(since: decodeStart)
                let grown = try upscaler.resize(picture, width: up.width, height: up.height)
                let cropped = try grown.cropped(x: cutX / 2 * 8, y: cutY / 2 * 8, width: hires.width, height: hires.height)
                let encodeStart = ContinuousClock.now
                lastTimings.vaeEncodes += 1
                let d = try vae.latentDistribution(cropped.tensor().moved(to: backend), mode: vaeTilingMode, tiling: vaeTiling)
                upscaled = vae.scaled(d.sample(g)).to(.f32)
                lastTimings.vaeEncode += GenerationTimings.seconds(since: encodeStart)
            }
            let noise = g.randn([1, channels, lh, lw]).moved(to: backend)
            rows.append(DenoisingStart(latents: FluxPacking.pack(noise * sigma + upscaled.to(.f32) * (1 - sigma)).contiguous(), firstStep: firstStep))
            try backend.throwIfFaulted()
        }
        return HiresPass(request: second, schedule: schedule, start: DenoisingStart.stacked(rows), latentSize: (lh, lw))
    }
}
