/// The one set of limits on a generation's settings, and the one check of a request against them.
/// The library (`FluxPipeline.generate`), the CLI and the HTTP API all check through `check(_:preset:)`;
/// each shows a failure in its own words by naming the field its way (`GenerationIssue.message(calling:)`).
public struct GenerationLimits: Sendable, Equatable {
    /// Denoising steps: more than 100 Euler steps of a flow-matching model change nothing visible.
    public static let steps = 1...100
    /// Picture sides: multiples of 16 (8x VAE, 2x2 patches). The upper bound keeps every product of
    /// two sides far from overflowing, whatever the pixel limit.
    public static let sides = 16...16384
    /// Embedded guidance and true CFG scale (1 = off).
    public static let guidance: ClosedRange<Float> = 0...100
    public static let trueCFGScale: ClosedRange<Float> = 1...100
    /// T5 tokens: FLUX's T5 was trained on at most 512.
    public static let sequenceLengths = 1...512
    /// Static (DiffSynth) shift, as `scheduler_config.json`'s `shift` is bounded.
    public static let shift: ClosedRange<Float> = Float.leastNonzeroMagnitude...1000
    /// First-Block-Cache threshold: 0 = off; above 1 every step after the first would be reused.
    public static let cacheThreshold: ClosedRange<Float> = 0...1
    /// Pictures of one request made in one pass (`FluxPipeline.generate(batch:)`, `--batch`).
    public static let batch = 1...8
    /// Characters of a prompt or negative prompt: the encoders read at most 512 (T5) and 77 (CLIP)
    /// tokens, so longer text is only ever cut off; the bound keeps tokenizing cheap.
    public static let promptCharacters = 10_000

    /// Largest width x height (per deployment: a server sets its own with `--max-pixels`).
    public var maxPixels: Int
    /// How messages name the pixel limit ("the limit", "this server's limit").
    public var pixelLimitName: String
    /// The setting that raises the pixel limit, named after it in messages ("--max-pixels").
    public var pixelLimitSetting: String?
    /// Whether an empty (or all-whitespace) prompt is taken: the library and the A1111 API take it, as
    /// diffusers and A1111 do; the command line and the console ask for a description.
    public var allowsEmptyPrompt = false

    /// Limits with `maxPixels` (default 4096 x 4096), named `pixelLimitName` in messages.
    public init(maxPixels: Int = 4096 * 4096, pixelLimitName: String = "the limit", pixelLimitSetting: String? = nil) {
        self.maxPixels = maxPixels
        self.pixelLimitName = pixelLimitName
        self.pixelLimitSetting = pixelLimitSetting
    }

    /// Throws the first `GenerationIssue` of `r`: a value out of its range, an empty or overlong prompt,
    /// control characters in a prompt, or (with `preset`) a guidance value for a model that has no
    /// guidance embedder and would ignore it.
    public func check(_ r: GenerationRequest, preset: ModelPreset? = nil) throws {
        typealias I = GenerationIssue
        try Self.checkPrompt(r.prompt, .prompt, mayBeEmpty: allowsEmptyPrompt)
        try Self.checkPrompt(r.negativePrompt, .negativePrompt, mayBeEmpty: true)
        if !Self.steps.contains(r.steps) { throw I(.steps, Self.between(Self.steps, got: "\(r.steps)")) }
        for (field, v) in [(I.Field.width, r.width), (.height, r.height)] {
            if v < Self.sides.lowerBound || v % 16 != 0 { throw I(field, "must be a positive multiple of 16, got \(v)") }
            // Sides are bounded before they are multiplied, so no input overflows the product.
            if v > Self.sides.upperBound { throw I(field, "must be at most \(Self.sides.upperBound), got \(v)") }
        }
        if r.width * r.height > maxPixels {
            throw I(.size, "\(r.width)x\(r.height) is \(r.width * r.height) pixels, above \(pixelLimitName) of \(maxPixels)"
                    + (pixelLimitSetting.map { " (\($0))" } ?? ""))
        }
        try Self.checkNumber(r.guidance, Self.guidance, .guidance)
        try Self.checkNumber(r.trueCFGScale, Self.trueCFGScale, .trueCFGScale)
        try Self.checkNumber(r.cacheThreshold, Self.cacheThreshold, .cacheThreshold)
        if !Self.sequenceLengths.contains(r.maxSequenceLength) {
            throw I(.maxSequenceLength, Self.between(Self.sequenceLengths, got: "\(r.maxSequenceLength)"))
        }
        if case .diffSynth(let shift) = r.schedule, !(shift.isFinite && Self.shift.contains(shift)) {
            throw I(.shift, "must be positive and at most \(Int(Self.shift.upperBound)), got \(shift)")
        }
        if let preset, !preset.usesGuidance, r.guidance != preset.guidance {
            throw I(.guidance, "does not apply: \(preset.name) has no guidance embedder and ignores it (leave it out)")
        }
        try checkHires(r)
        // Fill and control models need their pictures even when the request has none.
        try checkConditioning(r.conditioning ?? ImageConditioning(), preset: preset)
    }

    static func checkPrompt(_ text: String, _ field: GenerationIssue.Field, mayBeEmpty: Bool) throws {
        if !mayBeEmpty && text.allSatisfy(\.isWhitespace) { throw GenerationIssue(field, "is empty: describe what to paint") }
        if text.count > promptCharacters { throw GenerationIssue(field, "is \(text.count) characters long, more than \(promptCharacters)") }
        // Tab, line feed and carriage return are whitespace; other control characters are never text.
        if let bad = text.unicodeScalars.first(where: { ($0.value < 0x20 && !"\t\n\r".unicodeScalars.contains($0)) || $0.value == 0x7F }) {
            throw GenerationIssue(field, "contains the control character U+\(String(bad.value, radix: 16, uppercase: true).leftPadded(4))")
        }
    }

    static func checkNumber(_ v: Float, _ range: ClosedRange<Float>, _ field: GenerationIssue.Field) throws {
        if !v.isFinite || !range.contains(v) { throw GenerationIssue(field, between(range, got: "\(v)")) }
    }

    static func between(_ range: ClosedRange<Int>, got: String) -> String {
        "must be between \(range.lowerBound) and \(range.upperBound), got \(got)"
    }

    static func between(_ range: ClosedRange<Float>, got: String) -> String {
        let shown = GeneratedImage.infotextNumber  // 0, 100, 3.5: as people write them
        return "must be between \(shown(range.lowerBound)) and \(shown(range.upperBound)), got \(got)"
    }
}

/// A setting that breaks a `GenerationLimits` rule. `description` names the field as the library
/// does; the CLI and the HTTP API name it their way with `message(calling:)`.
public struct GenerationIssue: Error, Sendable, Equatable, CustomStringConvertible {
    /// The setting at fault; `rawValue` is its HTTP API (JSON) name.
    public enum Field: String, Sendable, CaseIterable {
        case prompt, negativePrompt = "negative_prompt", steps, width, height, size, guidance
        case trueCFGScale = "true_cfg_scale", maxSequenceLength = "max_sequence_length", shift
        case cacheThreshold = "cache_threshold", hires
        case image, mask, strength, maskBlur = "mask_blur", outpaint, control, reference

        /// The name in library messages.
        public var label: String {
            switch self {
            case .negativePrompt: return "negative prompt"
            case .trueCFGScale: return "true CFG scale"
            case .maxSequenceLength: return "T5 sequence length"
            case .maskBlur: return "mask blur"
            case .cacheThreshold: return "step cache threshold"
            case .hires: return "hires fix"
            case .reference: return "reference image"
            case .control: return "control image"
            case .image: return "input image"
            default: return rawValue
            }
        }
    }

    public var field: Field
    /// What is wrong, said after the field's name ("must be between 1 and 100, got 0").
    public var problem: String

    public init(_ field: Field, _ problem: String) {
        self.field = field
        self.problem = problem
    }

    /// The message with the field called `name` (an option name, a JSON key); the picture size as a
    /// whole is not a field of its own and is never prefixed.
    public func message(calling name: String) -> String { field == .size ? problem : "\(name) \(problem)" }

    public var description: String { message(calling: field.label) }
}

private extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
