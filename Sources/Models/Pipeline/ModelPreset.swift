/// The generation settings a model is made for: what a request gets for every value it leaves out.
///
/// One table row per kind of model (`ModelPreset.standard(_:)`); `ModelPreset.detect(files:warnings:)`
/// picks the kind from the model folder and lets the folder's own files (VAE `sample_size`, T5
/// `model_max_length`, `scheduler_config.json`) refine the row. The CLI, the HTTP API, the console page
/// and `GenerationRequest(prompt:preset:)` all read their defaults from here.
public struct ModelPreset: Sendable, Equatable {
    /// The families of models whose defaults differ. Adding one is one case here and one row in
    /// `standard(_:)` (and, when the folder can tell it apart, one rule in `ModelKind.detect`).
    public enum Kind: String, Sendable, CaseIterable {
        /// FLUX.1-dev and models of its layout (embedded guidance, dynamic shift, 512 T5 tokens).
        case fluxDev = "FLUX.1-dev"
        /// FLUX.1-schnell: timestep-distilled, no guidance embedder, 4 steps, 256 T5 tokens, no shift.
        case fluxSchnell = "FLUX.1-schnell"
        /// majicflus (a FLUX.1-dev fine-tune, usually one BFL/ComfyUI DiT file): FLUX.1-dev's settings.
        case majicflus = "majicflus"
        /// FLUX.1-Fill: inpainting/outpainting model (DiT input = noise + masked picture + mask).
        case fluxFill = "FLUX.1-Fill"
        /// FLUX.1-Canny: control by an edge map joined to the noise on channels.
        case fluxCanny = "FLUX.1-Canny"
        /// FLUX.1-Depth: control by a depth map joined to the noise on channels.
        case fluxDepth = "FLUX.1-Depth"
        /// FLUX.1 Kontext: editing by instruction, the reference picture appended as extra tokens.
        case fluxKontext = "FLUX.1-Kontext"

        /// Which pictures the kind takes (`ImageConditioning`).
        public var conditioning: ConditioningKind {
            switch self {
            case .fluxDev, .fluxSchnell, .majicflus: return .base
            case .fluxFill: return .fill
            case .fluxCanny, .fluxDepth: return .control
            case .fluxKontext: return .kontext
            }
        }
    }

    /// What a model does with pictures, by the shape of its DiT input.
    public enum ConditioningKind: String, Sendable {
        /// Text-to-image models: img2img, inpainting and outpainting by blending latents.
        case base
        /// FLUX.1-Fill: an image and a mask (or outpaint margins) are required; no strength.
        case fill
        /// FLUX.1 Canny/Depth: a control picture is required.
        case control
        /// FLUX.1 Kontext: an optional reference picture.
        case kontext
    }

    public var kind: Kind
    /// Default picture side in pixels (square).
    public var imageSize: Int
    /// Default T5 token count.
    public var sequenceLength: Int
    /// Default denoising steps.
    public var steps: Int
    /// Default embedded guidance.
    public var guidance: Float
    /// Whether the DiT has a guidance embedder; without one any guidance value is ignored, so a
    /// request may not ask for another value than `guidance`.
    public var usesGuidance: Bool
    /// The sigma schedule `ScheduleKind.model` follows (the folder's `scheduler_config.json`).
    public var scheduler: FlowMatchSchedulerConfig
    /// Default schedule of a request.
    public var schedule: ScheduleKind = .model

    /// The name shown to users ("FLUX.1-dev", ...).
    public var name: String { kind.rawValue }
    /// Which pictures the model takes.
    public var conditioning: ConditioningKind { kind.conditioning }

    /// A preset with every value given.
    public init(kind: Kind, imageSize: Int, sequenceLength: Int, steps: Int, guidance: Float, usesGuidance: Bool,
                scheduler: FlowMatchSchedulerConfig, schedule: ScheduleKind = .model) {
        self.kind = kind
        self.imageSize = imageSize
        self.sequenceLength = sequenceLength
        self.steps = steps
        self.guidance = guidance
        self.usesGuidance = usesGuidance
        self.scheduler = scheduler
        self.schedule = schedule
    }

    /// The settings of `kind` as released, before the folder's files refine them.
    /// Steps: 20 for the guidance-distilled models (this project's default since its start; diffusers
    /// suggests 28), 4 for schnell, as Black Forest Labs ship it.
    public static func standard(_ kind: Kind) -> ModelPreset {
        switch kind {
        case .fluxDev, .majicflus:
            return ModelPreset(kind: kind, imageSize: 1024, sequenceLength: 512, steps: 20, guidance: 3.5,
                               usesGuidance: true, scheduler: .fluxDev)
        case .fluxSchnell:
            return ModelPreset(kind: kind, imageSize: 1024, sequenceLength: 256, steps: 4, guidance: 0,
                               usesGuidance: false, scheduler: .fluxSchnell)
        // Guidance as diffusers' pipelines and BFL's model cards use them.
        case .fluxFill, .fluxCanny:
            return ModelPreset(kind: kind, imageSize: 1024, sequenceLength: 512, steps: 20, guidance: 30,
                               usesGuidance: true, scheduler: .fluxDev)
        case .fluxDepth:
            return ModelPreset(kind: kind, imageSize: 1024, sequenceLength: 512, steps: 20, guidance: 10,
                               usesGuidance: true, scheduler: .fluxDev)
        case .fluxKontext:
            return ModelPreset(kind: kind, imageSize: 1024, sequenceLength: 512, steps: 20, guidance: 2.5,
                               usesGuidance: true, scheduler: .fluxDev)
        }
    }

    /// FLUX.1-dev's settings: the defaults of a `GenerationRequest` made without a model.
    public static let fluxDev = standard(.fluxDev)
}
