import Foundation
import Models

/// The served model: loaded once, in the background, kept in memory for every job.
final class ModelHost: @unchecked Sendable {
    enum State: Equatable { case loading, ready, failed(String) }

    let files: FluxModelFiles
    let name: String
    private let lock = NSLock()
    private var state = State.loading
    private var loadStarted = ProcessInfo.processInfo.systemUptime
    private var loadSeconds: Double?
    private var loaded: FluxPipeline?

    init(files: FluxModelFiles, name: String) {
        self.files = files
        self.name = name
    }

    /// Loads every component (blocking; runs on the job worker's thread before the first job).
    func load() {
        lock.withLock { loadStarted = ProcessInfo.processInfo.systemUptime }
        let result: State
        var pipeline: FluxPipeline?
        do {
            let p = try FluxPipeline(files: files, keepLoaded: true)
            try p.loadAll()
            pipeline = p
            result = .ready
        } catch {
            result = .failed("the model could not be loaded: \(error)")
        }
        lock.withLock {
            loaded = pipeline
            state = result
            loadSeconds = ProcessInfo.processInfo.systemUptime - loadStarted
        }
    }

    var isLoading: Bool { lock.withLock { state == .loading } }

    /// The pipeline once loaded; else the reason it is not there.
    func pipeline() -> Result<FluxPipeline, APIError> {
        lock.withLock {
            switch state {
            case .ready: return .success(loaded!)
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
