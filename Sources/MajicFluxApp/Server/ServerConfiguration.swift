import Models
import Tensor

/// Everything `majicflux serve` needs to know; the command line fills it, tests build it directly.
public struct ServerConfiguration: Sendable {
    /// The model's parts on disk.
    public var files: FluxModelFiles
    /// Name shown on the page and written into the PNGs' parameters.
    public var modelName: String
    /// Address to bind: 127.0.0.1 by default; 0.0.0.0 only when asked for explicitly.
    public var host: String = "127.0.0.1"
    /// TCP port; 0 picks a free one (tests), reported by `ConsoleServer.start()`.
    public var port: Int = 6006
    /// Folder for the generated PNGs and the job database (`majicflux.sqlite`).
    public var outputDirectory: String = "outputs"
    /// Largest width x height a job may ask for.
    public var maxPixels: Int = 2048 * 2048
    /// Largest accepted request body in bytes.
    public var maxBodyBytes: Int = 64 * 1024
    /// Limits on the input pictures of a job (img2img, inpainting, control, Kontext); a body carrying
    /// pictures may be larger than `maxBodyBytes`, by its pictures only.
    public var imageLimits = ServerImageLimits()
    /// Seconds a connection may go without a complete request — its headers unfinished, a body
    /// stalled, or idle between requests — before the server closes it, so that half-sent requests
    /// cannot hold connections open forever. Answers being sent (event streams) are not cut.
    public var idleTimeout: Double = 20
    /// Most jobs waiting at once (the running one not counted).
    public var maxQueuedJobs: Int = 32
    /// T5 token count used when a job does not give one; nil = the model's own
    /// (`tokenizer_2` model_max_length: 512 for FLUX.1-dev).
    public var defaultMaxSequenceLength: Int?
    /// How the weights are held in memory.
    public var precision: WeightPrecision = .bf16
    /// Where the model runs (`--device`).
    public var backend: any Backend = CPUBackend.shared
    /// One generation worker per backend, each with its own loaded model (`serve --gpus 0,1`,
    /// `--devices cpu,cpu`); empty: one worker on `backend`.
    public var workerBackends: [any Backend] = []
    /// Seconds a worker's claim on a job lasts without a heartbeat (a worker heartbeats every second);
    /// a job whose worker died goes back to the queue after this.
    public var jobLeaseSeconds: Double = 30
    /// Low-VRAM mode: bytes of device memory the pipeline stays within (`--vram-budget`); nil for none.
    public var vramBudget: Int?
    /// When the VAE decodes tile by tile (`--vae-tiling`).
    public var vaeTilingMode: VAETilingMode = .auto
    /// Sigma schedule used when a job does not give one; nil = the model's (`ModelPreset.schedule`).
    public var defaultSchedule: ScheduleKind?
    /// The folder whose `.safetensors` LoRAs jobs may name (`--lora-dir`; `serve` defaults to the
    /// model folder's `loras/`); nil for none.
    public var loraDirectory: String?
    /// Tokens, CORS, public names and rate limit for a shared server (docs/API.md, "Security").
    public var security = ServerSecurity()

    /// A configuration serving the model in `files` under the name `modelName`.
    public init(files: FluxModelFiles, modelName: String) {
        self.files = files
        self.modelName = modelName
    }

    /// The most denoising steps a job may ask for.
    public static var maxSteps: Int { GenerationLimits.steps.upperBound }

    /// What a job that leaves settings out gets: the served model's preset with this server's
    /// `defaultMaxSequenceLength` and `defaultSchedule` in place of the model's.
    public func jobDefaults(model: ModelPreset) -> ModelPreset {
        var p = model
        if let n = defaultMaxSequenceLength { p.sequenceLength = n }
        if let s = defaultSchedule { p.schedule = s }
        return p
    }

    /// The limits every job is checked against (`--max-pixels`).
    var limits: GenerationLimits { GenerationLimits(maxPixels: maxPixels, pixelLimitName: "this server's limit", pixelLimitSetting: "--max-pixels") }
}
