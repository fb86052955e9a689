import Foundation
import Models
import Tensor

/// The served model: its weights load once, in the background, and stay in memory for every job.
///
/// An actor: its state (loading, ready, failed) is isolated to it, and the pipeline never leaves
/// it. Loading and generating run on a thread of their own (`FluxPipeline`'s async entry points),
/// so while the host awaits them it keeps answering `status()`.
///
/// Nothing about the model stops the server: a model whose tokenizers or configs cannot be read
/// (here, at creation) or whose weights cannot be loaded (in `load()`) ends in the `failed` state
/// with the reason, which `/api/status` shows and every job reports.
actor ModelHost {
    enum State: Equatable { case loading, ready, failed(String) }

    nonisolated let name: String
    /// What the model folder asked for that could not be used (`FluxPipeline.warnings`).
    nonisolated let warnings: [String]
    /// The model's preset (FLUX.1-dev's when its files could not be read: the model is then `failed`
    /// and takes no jobs).
    nonisolated let preset: ModelPreset
    /// A1111's short hash of the DiT file, once known (the A1111 API's model list).
    nonisolated var modelHash: String? { modelHashTask?.value }
    /// The whole SHA-256 behind `modelHash`, once known (A1111's `sha256`).
    nonisolated var modelSHA256: String? { modelHashTask?.sha256 }
    private nonisolated let modelHashTask: ModelHashTask?
    /// How the pipeline was made, as `serve`'s model options asked; nil when it could not be made.
    nonisolated let settings: ServedPipelineSettings?
    /// The model's tokenizers, for counting a prompt's tokens while jobs run (`POST /api/prompt-length`);
    /// nil when the model's files could not be read.
    nonisolated let promptTokens: PromptTokenCounter?
    /// Tokenizers and configs are read at creation; weights load in `load()`. nil when the model's
    /// files could not even be read (the state then says why).
    private let pipeline: FluxPipeline?
    private var state = State.loading
    private var loadStarted = ProcessInfo.processInfo.systemUptime
    private var loadSeconds: Double?

    init(files: FluxModelFiles, name: String, precision: WeightPrecision, backend: any Backend = CPUBackend.shared,
         vramBudget: Int? = nil, vaeTilingMode: VAETilingMode = .auto) {
        self.name = name
        var pipeline: FluxPipeline?
        do {
            let p = try FluxPipeline(files: files, keepLoaded: true, precision: precision, backend: backend, vramBudget: vramBudget)
            p.vaeTilingMode = vaeTilingMode
            pipeline = p
        } catch {
            state = .failed(Self.failure(error))
            loadSeconds = 0
        }
        self.pipeline = pipeline
        warnings = pipeline?.warnings ?? []
        preset = pipeline?.preset ?? .fluxDev
        modelHashTask = pipeline?.modelHash
        promptTokens = pipeline?.promptTokenCounter
        settings = pipeline.map { ServedPipelineSettings(precision: $0.precision, vramBudget: $0.vramBudget, vaeTilingMode: $0.vaeTilingMode, keepLoaded: $0.keepLoaded) }
    }

    private static func failure(_ error: any Error) -> String { "the model could not be loaded: \(error)" }

    /// Loads every component (before the first job). Every error ends as the `failed` state; none
    /// leaves this function.
    func load() async {
        guard let pipeline, state == .loading else { return }
        loadStarted = ProcessInfo.processInfo.systemUptime
        let result: State
        do {
            try await pipeline.loadAll()
            result = .ready
        } catch {
            result = .failed(Self.failure(error))
        }
        state = result
        loadSeconds = ProcessInfo.processInfo.systemUptime - loadStarted
    }

    var isLoading: Bool { state == .loading }

    /// Makes a job's picture once the model is loaded; throws `Unavailable` saying why not when it
    /// is not. `progress` is called on the generation thread; false stops the run
    /// (`ModelError.cancelled`).
    func generate(_ request: GenerationRequest,
                  progress: @escaping @Sendable (GenerationProgress) -> Bool) async throws -> GeneratedImage {
        switch state {
        case .ready:
            guard let pipeline else { throw Unavailable(message: "the model is not available") }
            let image = try await pipeline.generate(request, progress: progress)
            lastTimings = pipeline.lastTimings
            logStreamingPlan(pipeline)
            return image
        case .failed(let m): throw Unavailable(message: m)
        case .loading: throw Unavailable(message: "the model is still loading")
        }
    }

    /// Makes the pictures of requests that differ only in their seeds in one pass
    /// (`FluxPipeline.generate(batch:)`), as `generate` makes one.
    func generate(batch requests: [GenerationRequest],
                  progress: @escaping @Sendable (GenerationProgress) -> Bool) async throws -> [GeneratedImage] {
        switch state {
        case .ready:
            guard let pipeline else { throw Unavailable(message: "the model is not available") }
            let images = try await pipeline.generate(batch: requests, progress: progress)
            passes += 1
            lastPassRows = pipeline.lastBatchRows
            lastTimings = pipeline.lastTimings
            logStreamingPlan(pipeline)
            return images
        case .failed(let m): throw Unavailable(message: m)
        case .loading: throw Unavailable(message: "the model is still loading")
        }
    }

    /// Batched runs so far (`generate(batch:)`), and how many pictures the last one made in one pass.
    private(set) var passes = 0, lastPassRows = 0
    /// Where the last run's time went (`FluxPipeline.lastTimings`), for the worker's log.
    private(set) var lastTimings = GenerationTimings()

    /// The streaming plan last logged (T5's and the DiT's under `--vram-budget`).
    private var loggedPlan = ""

    /// Logs how T5 and the DiT hold their blocks under a budget when it differs from the last job's
    /// (so once per server unless a job's size changes it): resident blocks, slots, bytes copied per
    /// pass, which blocks stream.
    private func logStreamingPlan(_ pipeline: FluxPipeline) {
        let plan = [("T5", pipeline.lastT5Residency), ("DiT", pipeline.lastDiTResidency)]
            .compactMap { name, r in r.map { "\(name): \($0.summary)" } }.joined(separator: "\n")
        guard !plan.isEmpty, plan != loggedPlan else { return }
        loggedPlan = plan
        Console.info("model \(name), streaming under --vram-budget:\n" + plan)
    }

    /// No model to run a job on: it failed to load (the message says why) or is still loading.
    struct Unavailable: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// The `model` part of `/api/status`.
    func status() -> ModelStatus {
        let now = ProcessInfo.processInfo.systemUptime
        switch state {
        case .loading:
            return ModelStatus(state: "loading", name: name, message: "loading model… (\(Int(now - loadStarted))s)",
                               seconds: now - loadStarted)
        case .ready:
            return ModelStatus(state: "ready", name: name, message: "model ready", seconds: loadSeconds ?? 0)
        case .failed(let m):
            return ModelStatus(state: "failed", name: name, message: m, seconds: loadSeconds ?? 0)
        }
    }
}

/// Whether the model can take jobs yet.
struct ModelStatus: Codable, Sendable {
    /// "loading", "ready" or "failed"; for a front end without workers of its own also "waiting" (no
    /// worker serving the model is connected).
    var state: String
    var name: String
    var message: String
    /// Seconds spent loading (so far, while loading).
    var seconds: Double
}

/// What the served pipeline was made with (`serve`'s `--precision`, `--vram-budget`, `--vae-tiling`).
public struct ServedPipelineSettings: Sendable, Equatable {
    public let precision: WeightPrecision
    public let vramBudget: Int?
    public let vaeTilingMode: VAETilingMode
    public let keepLoaded: Bool
}
