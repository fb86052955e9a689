import Foundation
import Hummingbird
import Logging
import Models
import ServiceLifecycle

/// `majicflux serve`: the web console and its JSON API over one loaded model.
///
/// The HTTP server answers at once; the model loads in the background (`/api/status` and the page
/// say "loading model…" until it is ready) and jobs submitted meanwhile wait in the queue.
public final class ConsoleServer: @unchecked Sendable {
    public let configuration: ServerConfiguration
    let host: ModelHost
    let history: HistoryStore
    let queue: JobQueue
    private var task: Task<Void, any Error>?
    private var group: ServiceGroup?

    /// Opens the output folder and reads its history; nothing listens or loads until `start`/`run`.
    public init(configuration: ServerConfiguration) throws {
        self.configuration = configuration
        host = ModelHost(files: configuration.files, name: configuration.modelName)
        history = try HistoryStore(directory: configuration.outputDirectory)
        queue = JobQueue(host: host, history: history, maxQueued: configuration.maxQueuedJobs)
    }

    private func makeApplication(onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        Application(router: makeRouter(),
                    configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                         serverName: "majicflux"),
                    onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) })
    }

    /// Starts loading the model and listening; returns the bound port (useful with port 0).
    public func start() async throws -> Int {
        queue.start()
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = makeApplication { port in continuation.yield(port); continuation.finish() }
        var logger = Logger(label: "majicflux.serve")
        logger.logLevel = .warning
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        self.task = task
        self.group = group
        for await port in ports { return port }
        do { try await task.value } catch {
            await queue.stop()
            throw error
        }
        await queue.stop()
        throw APIError(.internalServerError, "the server stopped before it was listening")
    }

    /// Stops listening (gracefully: open answers finish), cancels the running and waiting jobs,
    /// and waits for the worker to end.
    public func stop() async {
        await queue.stop()  // ends every event stream, so no answer stays open
        await group?.triggerGracefulShutdown()
        _ = try? await task?.value
        task = nil
        group = nil
    }

    /// Serves until SIGINT or SIGTERM (the command line).
    public func run() async throws {
        queue.start()
        let configuration = self.configuration
        let app = makeApplication { port in
            Console.info("""
                majicflux console: http://\(configuration.host):\(port)/  (model \(configuration.modelName), pictures in \(configuration.outputDirectory)/)
                loading the model in the background; the page shows its progress.
                """)
            if configuration.host == "127.0.0.1" || configuration.host == "localhost" {
                Console.info("remote machine? forward the port: ssh -L \(port):127.0.0.1:\(port) user@host, then open http://127.0.0.1:\(port)/")
            }
        }
        defer { Console.info("stopped") }
        do {
            try await app.runService()
        } catch {
            await queue.stop()
            throw error
        }
        await queue.stop()
    }
}
