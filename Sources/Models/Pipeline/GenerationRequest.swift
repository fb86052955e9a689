import Tensor

/// Which sigma schedule the sampler follows.
public enum ScheduleKind: Sendable, Equatable {
    /// The schedule of the model folder's `scheduler_config.json` (diffusers; dynamic shift for dev).
    case model
    /// DiffSynth's static shift (the seed system): sigma_min 0.003/1.002, shift 3 by default.
    case diffSynth(shift: Float)
}

/// Everything that determines a picture. Same request + same weights = same picture.
///
/// Values left out take FLUX.1-dev's settings (`ModelPreset.fluxDev`); `init(prompt:preset:seed:)`
/// or `FluxPipeline.request(prompt:seed:)` take the loaded model's instead (4 steps for schnell...).
public struct GenerationRequest: Sendable, Equatable {
    public var prompt: String
    /// Used only when `trueCFGScale > 1`.
    public var negativePrompt: String = ""
    public var seed: UInt64 = 0
    public var steps: Int = ModelPreset.fluxDev.steps
    public var width: Int = ModelPreset.fluxDev.imageSize
    public var height: Int = ModelPreset.fluxDev.imageSize
    /// Embedded guidance (FLUX.1-dev default 3.5); models without a guidance embedder ignore it.
    public var guidance: Float = ModelPreset.fluxDev.guidance
    /// True classifier-free guidance with the negative prompt; 1 = off (one model call per step).
    public var trueCFGScale: Float = 1
    public var schedule: ScheduleKind = ModelPreset.fluxDev.schedule
    /// T5 token count: 512 for dev, 256 for schnell.
    public var maxSequenceLength: Int = ModelPreset.fluxDev.sequenceLength
    /// LoRAs for this picture (they stay attached for the next); nil: those the pipeline runs with
    /// (`FluxPipeline.setLoRAs`).
    public var loras: [LoRAUse]? = nil
    /// Pictures to start from or be guided by (img2img, inpainting, Fill, outpainting, control,
    /// Kontext); nil: text-to-image.
    public var conditioning: ImageConditioning? = nil
    /// First-Block-Cache threshold (`FirstBlockCache`): a step whose first-block residual changed by
    /// less than this, relative, reuses the last computed step's other blocks. 0 = off (every step
    /// computed; the picture does not depend on it then).
    public var cacheThreshold: Float = 0
    /// A1111's hires fix: after the picture is made at `width` x `height`, upscale it and run part of a
    /// second schedule at the larger size (`HiresFix`); nil: one pass. Text-to-image only.
    public var hires: HiresFix? = nil

    public init(prompt: String, seed: UInt64 = 0, steps: Int = ModelPreset.fluxDev.steps,
                width: Int = ModelPreset.fluxDev.imageSize, height: Int = ModelPreset.fluxDev.imageSize) {
        self.prompt = prompt
        self.seed = seed
        self.steps = steps
        self.width = width
        self.height = height
    }

    /// A request for `prompt` with every other setting from `preset`: its steps, square size,
    /// guidance, T5 length and schedule.
    public init(prompt: String, preset: ModelPreset, seed: UInt64 = 0) {
        self.init(prompt: prompt, seed: seed, steps: preset.steps, width: preset.imageSize, height: preset.imageSize)
        guidance = preset.guidance
        maxSequenceLength = preset.sequenceLength
        schedule = preset.schedule
    }

    /// The denoising step counts accepted everywhere (`GenerationLimits.steps`).
    public static var stepsRange: ClosedRange<Int> { GenerationLimits.steps }

    /// Checks the request against `GenerationLimits` with `maxPixels`, and against `preset` when given;
    /// throws `ModelError.invalidParameter` naming the first nonsense value. An empty prompt is taken
    /// (front ends that want a description check for it themselves).
    public func validate(maxPixels: Int = 4096 * 4096, preset: ModelPreset? = nil) throws {
        var limits = GenerationLimits(maxPixels: maxPixels)
        limits.allowsEmptyPrompt = true
        do { try limits.check(self, preset: preset) } catch let issue as GenerationIssue {
            throw ModelError.invalidParameter(issue.description)
        }
    }
}

/// Where a run is, for progress reporting.
public struct GenerationProgress: Sendable {
    public enum Stage: String, Sendable { case encodingText = "encoding text", denoising, decoding }
    public var stage: Stage
    /// Denoising steps finished (0 before the first).
    public var step: Int
    public var totalSteps: Int
    /// Seconds since the run started.
    public var elapsed: Double
    /// During denoising (step >= 1): the model's current estimate of the clean packed latents,
    /// x0 = x_t - sigma_t * v, shape (1, (H/16)*(W/16), 64) in the DiT's latent space (before the VAE's
    /// scaling and shift). For cheap live previews; nil before the first step and in other stages.
    public var denoised: Tensor? = nil
    /// The picture size this stage works on: the request's, then the final one in the hires fix's
    /// second pass (the size `denoised` is laid out for).
    public var width = 0
    public var height = 0
}

/// A generated 8-bit RGB picture with the request that made it.
public struct GeneratedImage: Sendable {
    public var width: Int
    public var height: Int
    /// Row-major interleaved RGB bytes.
    public var rgb: [UInt8]
    public var request: GenerationRequest
    /// A1111's short hash of the DiT checkpoint (`ModelHash`), nil when not (yet) known.
    public var modelHash: String?

    /// A picture of `width` x `height` RGB bytes made by `request` with the model whose short hash is
    /// `modelHash`.
    public init(width: Int, height: Int, rgb: [UInt8], request: GenerationRequest, modelHash: String? = nil) {
        self.width = width
        self.height = height
        self.rgb = rgb
        self.request = request
        self.modelHash = modelHash
    }
}

extension GeneratedImage {
    /// The picture as an RGB PNG image.
    public var png: PNGImage { get throws { try PNGImage(width: width, height: height, channels: 3, pixels: rgb) } }

    /// Text chunks describing how the picture was made: `parameters` in the A1111/Forge "infotext"
    /// format that their PNG Info tab and image browsers read, and `majicflux` with the full request
    /// as JSON.
    ///
    /// `parameters` is the prompt, a `Negative prompt:` line when true CFG used one, and one line of
    /// fields in Forge's order for FLUX, with the names those tools know: `Steps`, `Sampler: Euler`
    /// and `Schedule type: Simple` (Euler steps over evenly spaced, shifted flow-matching sigmas),
    /// `CFG scale` (true CFG, 1 when off; readers assume 7 when it is missing), `Distilled CFG Scale`
    /// (the embedded guidance), `Seed`, `Size`, `Shift` (only for the DiffSynth schedule's static
    /// shift), `Model hash` (when known) and `Model`, always last (the server's history rebuild reads
    /// the model name from the end). Values holding `,`, `:` or a line break are JSON-quoted, as
    /// A1111 quotes them. `T5 length` (ours) follows when the request read another number of T5
    /// tokens than `presetSequenceLength` (the model's preset; FLUX.1-dev's 512 when not given), so a
    /// JPEG or WebP, which keep only this text, still says how to make the picture again.
    public func parameterText(model: String, presetSequenceLength: Int = ModelPreset.fluxDev.sequenceLength) -> [(key: String, value: String)] {
        let r = request
        let loras = r.loras ?? []
        // A1111 writes each LoRA into the prompt as it was asked for, and their file hashes apart.
        var lines = [([r.prompt] + loras.map { "<lora:\($0.lora.name):\(Self.infotextNumber($0.weight))>" }).joined(separator: " ")]
        if r.trueCFGScale > 1 && !r.negativePrompt.isEmpty { lines.append("Negative prompt: \(r.negativePrompt)") }
        var fields: [(String, String)] = [
            ("Steps", "\(r.steps)"), ("Sampler", "Euler"), ("Schedule type", "Simple"),
            ("CFG scale", Self.infotextNumber(r.trueCFGScale)), ("Distilled CFG Scale", Self.infotextNumber(r.guidance)),
            // With the hires fix A1111 writes the first pass's size (the fields below give the final one).
            ("Seed", "\(r.seed)"), ("Size", r.hires == nil ? "\(width)x\(height)" : "\(r.width)x\(r.height)"),
        ]
        if case .diffSynth(let shift) = r.schedule { fields.append(("Shift", Self.infotextNumber(shift))) }
        if r.maxSequenceLength != presetSequenceLength { fields.append(("T5 length", "\(r.maxSequenceLength)")) }
        if r.cacheThreshold > 0 { fields.append(("First block cache", Self.infotextNumber(r.cacheThreshold))) }
        if let h = r.hires {
            // A1111's fields and order; `Size` stays the first pass's, as A1111 writes it.
            fields.append(("Denoising strength", Self.infotextNumber(h.strength)))
            fields += h.infotextFields
        }
        let loraHashes = loras.compactMap { use in use.lora.shortHash.map { "\(use.lora.name): \($0)" } }
        if !loraHashes.isEmpty { fields.append(("Lora hashes", loraHashes.joined(separator: ", "))) }
        if let modelHash { fields.append(("Model hash", modelHash)) }
        fields.append(("Model", model))
        lines.append(fields.map { "\($0.0): \(Self.infotextQuoted($0.1))" }.joined(separator: ", "))
        return [("parameters", lines.joined(separator: "\n")), ("majicflux", r.json)]
    }

    /// A number as A1111 writes it: integers without a fraction (`1`, `7`), others in the shortest
    /// form that reads back exactly (`3.5`).
    static func infotextNumber(_ v: Float) -> String {
        v == v.rounded() && abs(v) < 1e7 ? String(Int(v)) : "\(v)"
    }

    /// A1111's `quote`: values holding `,`, `:` or a line break become a JSON string.
    public static func infotextQuoted(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == ":" || $0.isNewline }) else { return s }
        return JSONValue.string(s).serialized()
    }
}

extension GenerationRequest {
    /// The request as a JSON object (stable key order).
    public var json: String {
        var o: [(String, JSONValue)] = [("prompt", .string(prompt)), ("negative_prompt", .string(negativePrompt)),
                                        ("seed", .int(Int(truncatingIfNeeded: seed))), ("steps", .int(steps)),
                                        ("width", .int(width)), ("height", .int(height)),
                                        ("guidance", .double(Double(guidance))), ("true_cfg_scale", .double(Double(trueCFGScale))),
                                        ("max_sequence_length", .int(maxSequenceLength))]
        if let loras, !loras.isEmpty {
            o.append(("loras", .array(loras.map { .object(["name": .string($0.lora.name), "weight": .double(Double("\($0.weight)") ?? Double($0.weight))]) })))
        }
        if cacheThreshold > 0 { o.append(("cache_threshold", .double(Double("\(cacheThreshold)") ?? Double(cacheThreshold)))) }
        if let h = hires { o.append(("hires", h.json)) }
        switch schedule {
        case .model: o.append(("schedule", .string("model")))
        case .diffSynth(let shift): o.append(("schedule", .string("diffsynth"))); o.append(("shift", .double(Double(shift))))
        }
        return o.map { "\(JSONValue.string($0.0).serialized()): \($0.1.serialized())" }.joined(separator: ", ").wrappedInBraces
    }
}

private extension String {
    var wrappedInBraces: String { "{" + self + "}" }
}
