import Foundation
import Hummingbird
import Logging
import NIOCore  // TimeAmount, for the HTTP server's idle timeout
import Models
import ServiceLifecycle

/// `majicflux serve`: the web console and its JSON API over one loaded model.
///
/// The HTTP server answers at once; the model loads in the background (`/api/status` and the page
/// say "loading model…" until it is ready) and jobs submitted meanwhile wait in the queue.
// unchecked: `task` and `group` are only touched under `lock` (NSLock); every other field is a `let` of a Sendable type.
public final class ConsoleServer: @unchecked Sendable {
    public let configuration: ServerConfiguration
    let host: ModelHost
    let history: HistoryStore
    let queue: JobQueue
    /// The LoRA folder's files, listed and loaded for jobs.
    let loras: LoRALibrary
    private let lock = NSLock()
    private var task: Task<Void, any Error>?
    private var group: ServiceGroup?

    /// Opens the output folder and reads its history (an output folder that cannot be made throws),
    /// and reads the model's tokenizers and configs: bad ones do not throw but leave the model
    /// `failed`, with the reason on the page and in `/api/status`, so the server still answers.
    /// Nothing listens and no weights load until `start`/`run`.
    public init(configuration: ServerConfiguration) throws {
        self.configuration = configuration
        try configuration.security.check(bindHost: configuration.host)  // no open server without a token, unless asked
        host = ModelHost(files: configuration.files, name: configuration.modelName, precision: configuration.precision,
                         backend: configuration.backend, vramBudget: configuration.vramBudget,
                         vaeTilingMode: configuration.vaeTilingMode)
        history = try HistoryStore(directory: configuration.outputDirectory)
        queue = JobQueue(host: host, history: history, maxQueued: configuration.maxQueuedJobs)
        loras = LoRALibrary(directory: configuration.loraDirectory)
    }

    /// What the served model's pipeline was made with, as `configuration` asked (`--precision`,
    /// `--vram-budget`, `--vae-tiling`); nil when the model's files could not even be read.
    public var pipelineSettings: ServedPipelineSettings? { host.settings }

    private func makeApplication(onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let t = configuration.idleTimeout
        let idle = TimeAmount.nanoseconds(Int64((t.isFinite ? min(max(t, 0.001), 86_400) : 20) * 1e9))
        return Application(router: makeRouter(), server: .http1(configuration: .init(idleTimeout: idle)),
                           configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                                serverName: "majicflux"),
                           onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) })
    }

    /// The HTTP server and the job worker as one service group. Shutdown runs in reverse order: the
    /// jobs stop first (ending every event stream), then the server closes with no answer left open.
    private func makeGroup(stopOnSignals: Bool, onListening: @escaping @Sendable (Int) async -> Void) -> ServiceGroup {
        var logger = Logger(label: "majicflux.serve")
        logger.logLevel = .warning
        let services: [any Service] = [makeApplication(onListening: onListening), JobWorkerService(queue: queue)]
        return ServiceGroup(configuration: stopOnSignals
            ? .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            : .init(services: services, logger: logger))
    }

    /// Starts loading the model and listening; returns the bound port (useful with port 0).
    public func start() async throws -> Int {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let group = makeGroup(stopOnSignals: false) { port in continuation.yield(port); continuation.finish() }
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        lock.withLock {
            self.task = task
            self.group = group
        }
        for await port in ports { return port }
        try await task.value
        throw APIError(.internalServerError, "the server stopped before it was listening")
    }

    /// Stops: the running and waiting jobs are cancelled, the worker ends, then the server closes.
    public func stop() async {
        let (group, task) = lock.withLock { (self.group, self.task) }
        await group?.triggerGracefulShutdown()
        _ = try? await task?.value
        lock.withLock {
            self.task = nil
            self.group = nil
        }
    }

    /// Serves until SIGINT or SIGTERM (the command line).
    public func run() async throws {
        let configuration = self.configuration
        let group = makeGroup(stopOnSignals: true) { port in
            Console.info("""
                majicflux console: http://\(configuration.host):\(port)/  (model \(configuration.modelName), pictures in \(configuration.outputDirectory)/)
                loading the model in the background; the page shows its progress.
                """)
            if let dir = configuration.loraDirectory {
                Console.info("LoRAs: \(self.loras.list().loras.count) in \(dir)/")
            }
            if configuration.host == "127.0.0.1" || configuration.host == "localhost" {
                Console.info("remote machine? forward the port: ssh -L \(port):127.0.0.1:\(port) user@host, then open http://127.0.0.1:\(port)/")
            }
        }
        defer { Console.info("stopped") }
        try await group.run()
    }
}

/// Runs the job worker for the life of the service group and stops it on shutdown.
struct JobWorkerService: Service {
    let queue: JobQueue

    func run() async throws {
        queue.start()
        try? await gracefulShutdown()  // returns on graceful shutdown; throws if cancelled instead
        await queue.stop()
    }
}
