import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Tensor

/// `majicflux worker`: one generation worker taking jobs from a PostgreSQL job queue that front
/// ends (`majicflux serve --queue URL --no-worker`) fill, on this or any other machine.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a generation worker for a PostgreSQL job queue (majicflux serve --queue URL).",
        discussion: """
            Loads the model once, registers with the queue (its model and LoRAs: it takes only jobs it can \
            run), then runs jobs until SIGINT or SIGTERM; a job it is running then goes back to the queue \
            (a second signal, or a stop still going after 120 s, ends it at once). \
            Run one per GPU (--device cuda:0, cuda:1, ...) on as many machines as you like. A worker that \
            dies mid-job loses its lease after --job-lease seconds and the job runs again elsewhere.
            """)

    @Option(help: ArgumentHelp("The job queue: postgres://user@host:port/database (sslmode=disable|prefer|require as a query parameter); the password from PGPASSWORD or ~/.pgpass (one in the URL shows in ps).", valueName: "URL"))
    var queue: String

    @OptionGroup var model: ModelOptions

    @Option(help: ArgumentHelp("A name for people, shown in the console's worker list (default: host and device).", valueName: "NAME"))
    var name: String?

    @Option(name: .customLong("job-lease"), help: ArgumentHelp("Seconds this worker's claim on a job lasts without a heartbeat (it sends one every second).", valueName: "SECONDS"))
    var jobLease: Double = 30

    @Option(name: .customLong("lora-dir"), help: ArgumentHelp("Folder of LoRA files this worker can apply (default: the model folder's loras/ when it has one).", valueName: "DIR"))
    var loraDir: String?

    func validate() throws {
        guard jobLease.isFinite, (2...86_400).contains(jobLease) else { throw ValidationError("--job-lease must be 2...86400 seconds, got \(jobLease)") }
        if let loraDir, !Serve.isFolder(loraDir) { throw ValidationError("--lora-dir \(loraDir): \(Serve.notAFolder(loraDir))") }
        if let name, name.isEmpty || name.count > 200 { throw ValidationError("--name must be 1 to 200 characters") }
        _ = try PostgresURL(queue)
    }

    func run() async throws {
        StopDeadline.surviveClosedLogPipes()
        let backend = try model.resolveDevice()
        model.checkApplies(to: backend)
        let files = try model.resolveFiles()
        for note in (try? PostgresURL(queue))?.notes ?? [] { Console.info(note) }
        let store = try await PostgresJobStore.open(queue, leaseSeconds: jobLease)
        let host = ModelHost(files: files, name: model.displayName, precision: model.precision, backend: backend,
                             vramBudget: model.vramBudgetBytes(for: backend), vaeTilingMode: model.vaeTiling)
        let device = backend.device.description
        let loraDirectory = loraDir ?? (try? model.modelDir).map { $0 + "/loras" }.flatMap { Serve.isFolder($0) ? $0 : nil }
        let worker = GenerationWorker(store: store, host: host, loras: LoRALibrary(directory: loraDirectory),
                                      id: GenerationWorker.makeID(device: device, index: 0),
                                      name: name ?? "\(ProcessInfo.processInfo.hostName.prefix(40)) \(device)",
                                      device: device)
        Console.info("majicflux worker \(worker.id): model \(host.name) on \(device), queue \(store.location)")
        var logger = Logger(label: "majicflux.worker")
        logger.logLevel = .warning
        let group = ServiceGroup(configuration: .init(services: [WorkerService(worker: worker)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        StopDeadline.arm("majicflux worker")
        do {
            try await group.run()
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        Console.info("stopped")
    }
}

/// The worker's loop for the life of the service group; on SIGINT/SIGTERM its running job goes
/// back to the queue and it leaves the worker list.
struct WorkerService: Service {
    let worker: GenerationWorker

    func run() async throws {
        worker.start()
        try? await gracefulShutdown()
        await worker.stop()
    }
}
