import Tensor

/// Which sigma schedule the sampler follows.
public enum ScheduleKind: Sendable, Equatable {
    /// The schedule of the model folder's `scheduler_config.json` (diffusers; dynamic shift for dev).
    case model
    /// DiffSynth's static shift (the seed system): sigma_min 0.003/1.002, shift 3 by default.
    case diffSynth(shift: Float)
}

/// Everything that determines a picture. Same request + same weights = same picture.
public struct GenerationRequest: Sendable, Equatable {
    public var prompt: String
    /// Used only when `trueCFGScale > 1`.
    public var negativePrompt: String = ""
    public var seed: UInt64 = 0
    public var steps: Int = 20
    public var width: Int = 1024
    public var height: Int = 1024
    /// Embedded guidance (FLUX.1-dev default 3.5); ignored by models without a guidance embedder.
    public var guidance: Float = 3.5
    /// True classifier-free guidance with the negative prompt; 1 = off (one model call per step).
    public var trueCFGScale: Float = 1
    public var schedule: ScheduleKind = .model
    /// T5 token count: 512 for dev, 256 for schnell.
    public var maxSequenceLength: Int = 512

    public init(prompt: String, seed: UInt64 = 0, steps: Int = 20, width: Int = 1024, height: Int = 1024) {
        self.prompt = prompt
        self.seed = seed
        self.steps = steps
        self.width = width
        self.height = height
    }

    /// The denoising step counts accepted everywhere (this validation, the CLI and the HTTP API):
    /// more than 100 Euler steps of a flow-matching model changes nothing visible and only costs time.
    public static let stepsRange = 1...100

    /// Throws `ModelError.invalidParameter` naming the first nonsense value.
    public func validate(maxPixels: Int = 4096 * 4096) throws {
        if prompt.allSatisfy(\.isWhitespace) { throw ModelError.invalidParameter("the prompt is empty") }
        let sr = Self.stepsRange
        if !sr.contains(steps) { throw ModelError.invalidParameter("steps must be \(sr.lowerBound)...\(sr.upperBound), got \(steps)") }
        for (name, v) in [("width", width), ("height", height)] where v < 16 || v % 16 != 0 {
            throw ModelError.invalidParameter("\(name) must be a positive multiple of 16, got \(v)")
        }
        // Each side alone may already be past the limit, and their product past Int.max.
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        if overflow || pixels > maxPixels { throw ModelError.invalidParameter("\(width)x\(height) exceeds the limit of \(maxPixels) pixels") }
        if !guidance.isFinite || guidance < 0 || guidance > 100 { throw ModelError.invalidParameter("guidance must be 0...100, got \(guidance)") }
        if !trueCFGScale.isFinite || trueCFGScale < 1 || trueCFGScale > 100 { throw ModelError.invalidParameter("true CFG scale must be 1...100, got \(trueCFGScale)") }
        if ![77, 128, 256, 512].contains(maxSequenceLength) && (maxSequenceLength < 1 || maxSequenceLength > 512) {
            throw ModelError.invalidParameter("T5 sequence length must be 1...512, got \(maxSequenceLength)")
        }
        if case .diffSynth(let shift) = schedule, !(shift > 0 && shift.isFinite) {
            throw ModelError.invalidParameter("schedule shift must be positive, got \(shift)")
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
}

/// A generated 8-bit RGB picture with the request that made it.
public struct GeneratedImage: Sendable {
    public var width: Int
    public var height: Int
    /// Row-major interleaved RGB bytes.
    public var rgb: [UInt8]
    public var request: GenerationRequest
}

extension GeneratedImage {
    /// The picture as an RGB PNG image.
    public var png: PNGImage { get throws { try PNGImage(width: width, height: height, channels: 3, pixels: rgb) } }

    /// Text chunks describing how the picture was made: `parameters` in the A1111/Forge style that
    /// image browsers read, and `majicflux` with the full request as JSON.
    public func parameterText(model: String) -> [(key: String, value: String)] {
        let r = request
        var lines = [r.prompt]
        if r.trueCFGScale > 1 && !r.negativePrompt.isEmpty { lines.append("Negative prompt: \(r.negativePrompt)") }
        var settings = "Steps: \(r.steps), Sampler: Euler (flow matching), Seed: \(r.seed), Size: \(width)x\(height), Guidance: \(r.guidance)"
        if r.trueCFGScale > 1 { settings += ", CFG scale: \(r.trueCFGScale)" }
        if case .diffSynth(let shift) = r.schedule { settings += ", Schedule: DiffSynth shift \(shift)" }
        settings += ", Model: \(model)"
        lines.append(settings)
        return [("parameters", lines.joined(separator: "\n")), ("majicflux", r.json)]
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
