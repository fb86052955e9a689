import Foundation
import Models
import Tensor

/// The served model: its weights load once, in the background, and stay in memory for every job.
final class ModelHost: @unchecked Sendable {
    enum State: Equatable { case loading, ready, failed(String) }

    let name: String
    /// Tokenizers and configs are read at once; weights load in `load()`.
    let pipeline: FluxPipeline
    private let lock = NSLock()
    private var state = State.loading
    private var loadStarted = ProcessInfo.processInfo.systemUptime
    private var loadSeconds: Double?

    init(files: FluxModelFiles, name: String, precision: WeightPrecision, backend: any Backend = CPUBackend.shared,
         vramBudget: Int? = nil) throws {
        self.name = name
        pipeline = try FluxPipeline(files: files, keepLoaded: true, precision: precision, backend: backend, vramBudget: vramBudget)
    }

    /// Loads every component (blocking; runs on the job worker's thread before the first job).
    func load() {
        lock.withLock { loadStarted = ProcessInfo.processInfo.systemUptime }
        let result: State
        do {
            try pipeline.loadAll()
            result = .ready
        } catch {
            result = .failed("the model could not be loaded: \(error)")
        }
        lock.withLock {
            state = result
            loadSeconds = ProcessInfo.processInfo.systemUptime - loadStarted
        }
    }

    var isLoading: Bool { lock.withLock { state == .loading } }

    /// The pipeline once loaded; else the reason it is not there.
    func readyPipeline() -> Result<FluxPipeline, APIError> {
        lock.withLock {
            switch state {
            case .ready: return .success(pipeline)
            case .failed(let m): return .failure(APIError(.serviceUnavailable, m))
            case .loading: return .failure(APIError(.serviceUnavailable, "the model is still loading"))
            }
        }
    }

    /// The `model` part of `/api/status`.
    func status() -> ModelStatus {
        lock.withLock {
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
}

/// Whether the model can take jobs yet.
struct ModelStatus: Codable, Sendable {
    /// "loading", "ready" or "failed".
    var state: String
    var name: String
    var message: String
    /// Seconds spent loading (so far, while loading).
    var seconds: Double
}
