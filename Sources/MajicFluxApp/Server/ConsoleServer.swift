import Foundation
import Hummingbird
import Logging
import NIOCore  // TimeAmount, for the HTTP server's idle timeout
import Models
import ServiceLifecycle

/// `majicflux serve`: the web console and its JSON API over a job store and its workers.
///
/// The HTTP server answers at once; each worker's model loads in the background (`/api/status` and
/// the page say "loading model…" until it is ready) and jobs submitted meanwhile wait in the queue.
// unchecked: `task` and `group` are only touched under `lock` (NSLock); every other field is a `let` of a Sendable type.
public final class ConsoleServer: @unchecked Sendable {
    public let configuration: ServerConfiguration
    /// The first worker's model (the page's defaults, `/api/status`'s model).
    let host: ModelHost
    /// Jobs, history, workers (`<output-dir>/majicflux.sqlite`).
    let store: any JobStore
    let queue: JobQueue
    /// One per device, each with its own model.
    let workers: [GenerationWorker]
    /// The LoRA folder's files, listed and loaded for jobs.
    let loras: LoRALibrary
    private let lock = NSLock()
    private var task: Task<Void, any Error>?
    private var group: ServiceGroup?

    /// Opens the output folder's job database (a folder that cannot be made, or a damaged database,
    /// throws, saying what to do) and reconciles its history with the PNGs, and reads the model's
    /// tokenizers and configs: bad ones do not throw but leave the model `failed`, with the reason on
    /// the page and in `/api/status`, so the server still answers. Nothing listens and no weights
    /// load until `start`/`run`.
    public convenience init(configuration: ServerConfiguration) throws {
        try configuration.security.check(bindHost: configuration.host)  // refused before a database is made
        let store = try SQLiteJobStore(directory: configuration.outputDirectory, leaseSeconds: configuration.jobLeaseSeconds)
        for note in store.notes { Console.info(note) }
        try self.init(configuration: configuration, store: store, forgetFinishedOnStart: true)
    }

    /// A server over `store` (the embedded one, or a shared one: other front ends and workers may use
    /// it too). `runWorkers` false: a front end only (no model loads here; `host` still reads the
    /// model's configs for the page's defaults).
    init(configuration: ServerConfiguration, store: any JobStore, forgetFinishedOnStart: Bool, runWorkers: Bool = true) throws {
        try configuration.security.check(bindHost: configuration.host)  // no open server without a token, unless asked
        self.configuration = configuration
        self.store = store
        let loras = LoRALibrary(directory: configuration.loraDirectory)
        self.loras = loras
        let backends = configuration.workerBackends.isEmpty ? [configuration.backend] : configuration.workerBackends
        let hosts = backends.map { backend in
            ModelHost(files: configuration.files, name: configuration.modelName, precision: configuration.precision,
                      backend: backend, vramBudget: configuration.vramBudget, vaeTilingMode: configuration.vaeTilingMode)
        }
        host = hosts[0]
        let queue = JobQueue(store: store, model: configuration.modelName, maxQueued: configuration.maxQueuedJobs,
                             forgetFinishedOnStart: forgetFinishedOnStart)
        self.queue = queue
        var seen: [String: Int] = [:]
        workers = !runWorkers ? [] : zip(backends, hosts).map { backend, host in
            let device = backend.device.description
            let n = seen[device, default: 0]
            seen[device] = n + 1
            return GenerationWorker(store: store, host: host, loras: loras, id: GenerationWorker.makeID(device: device, index: n),
                                    name: "\(ProcessInfo.processInfo.hostName.prefix(40)) \(device)" + (n > 0 ? " #\(n + 1)" : ""),
                                    device: device,
                                    failJobsWhenBroken: hosts.count == 1 && forgetFinishedOnStart,
                                    onProgress: { id, p in queue.localProgress(id, p) })
        }
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
        let services: [any Service] = [makeApplication(onListening: onListening), JobWorkerService(queue: queue, workers: workers)]
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

    /// Stops: the running and waiting jobs are cancelled, the workers end, then the server closes,
    /// then the job store.
    public func stop() async {
        let (group, task) = lock.withLock { (self.group, self.task) }
        await group?.triggerGracefulShutdown()
        _ = try? await task?.value
        lock.withLock {
            self.task = nil
            self.group = nil
        }
        await store.close()
    }

    /// `PRAGMA integrity_check` of the job database in `outputDirectory`: `["ok"]` when it is whole
    /// (tests and support: run it on a stopped server's folder).
    public static func databaseIntegrity(outputDirectory: String) throws -> [String] {
        try SQLiteJobStore.integrityCheck(directory: outputDirectory)
    }

    /// The console's address as a browser takes it: an IPv6 host in brackets (`http://[::1]:6006/`;
    /// it printed `http://::1:6006/`), and for a wildcard host the loopback one, saying it listens
    /// on every interface.
    static func address(host: String, port: Int) -> String {
        switch host {
        case "0.0.0.0": return "http://127.0.0.1:\(port)/ (listening on every IPv4 interface: use this machine's address from others)"
        case "::", "[::]": return "http://[::1]:\(port)/ (listening on every interface: use this machine's address from others)"
        default: return host.contains(":") && !host.hasPrefix("[") ? "http://[\(host)]:\(port)/" : "http://\(host):\(port)/"
        }
    }

    /// Serves until SIGINT or SIGTERM (the command line).
    public func run() async throws {
        let configuration = self.configuration
        let group = makeGroup(stopOnSignals: true) { port in
            Console.info("""
                majicflux console: \(Self.address(host: configuration.host, port: port))  (model \(configuration.modelName), pictures in \(configuration.outputDirectory)/)
                loading the model in the background; the page shows its progress.
                """)
            if configuration.security.insecureNoAuth && !ServerSecurity.isLoopback(configuration.host) {
                Console.info("warning: --insecure-no-auth: anyone who reaches port \(port) may queue jobs and see every picture")
            }
            if self.workers.count > 1 {
                Console.info("\(self.workers.count) generation workers: " + self.workers.map { $0.snapshot.device }.joined(separator: ", "))
            }
            if let dir = configuration.loraDirectory {
                Console.info("LoRAs: \(self.loras.list().loras.count) in \(dir)/")
            }
            if configuration.host == "127.0.0.1" || configuration.host == "localhost" {
                Console.info("remote machine? forward the port: ssh -L \(port):127.0.0.1:\(port) user@host, then open http://127.0.0.1:\(port)/")
            }
        }
        defer { Console.info("stopped") }
        StopDeadline.arm("majicflux serve")
        try await group.run()
        await store.close()
    }
}

/// Runs the job queue and the workers for the life of the service group and stops them on
/// shutdown: no new jobs; the running ones stop at their next step and go back to the queue, where
/// they and the waiting ones stay for the restart.
struct JobWorkerService: Service {
    let queue: JobQueue
    let workers: [GenerationWorker]

    func run() async throws {
        queue.start()
        for w in workers { w.start() }
        try? await gracefulShutdown()  // returns on graceful shutdown; throws if cancelled instead
        await queue.beginStop()
        await withTaskGroup(of: Void.self) { group in
            for w in workers { group.addTask { await w.stop() } }
        }
        await queue.finishStop()
    }
}
