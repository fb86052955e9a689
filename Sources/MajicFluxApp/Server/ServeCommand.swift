import ArgumentParser
import Foundation
import NIOCore
import Models
import Tensor

/// `majicflux serve`: the web console.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the web console and its JSON API (http://127.0.0.1:6006 by default).",
        discussion: """
            Loads the model once and keeps it in memory. Binds 127.0.0.1 only unless --host says otherwise;
            on a remote machine forward the port: ssh -L 6006:127.0.0.1:6006 user@host. The API is described
            in docs/API.md.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup(title: "Shared server (see docs/API.md)") var auth: AuthOptions

    @Option(help: "Address to listen on; 0.0.0.0 opens the console to the whole network.") var host: String = "127.0.0.1"
    @Option(help: "TCP port (0 picks a free one).") var port: Int = 6006
    @Option(name: .customLong("output-dir"), help: "Folder for the PNGs and the job database (majicflux.sqlite).") var outputDir: String = "outputs"
    @Option(name: .customLong("max-pixels"), help: "Largest width x height a job may ask for.") var maxPixels: Int = 2048 * 2048
    @Option(name: .customLong("max-sequence-length"), help: "Default T5 tokens per job (default: the model's tokenizer_2 model_max_length; 512 for dev, 256 for schnell).") var maxSequenceLength: Int?
    @Option(help: "Default sigma schedule: model (scheduler_config.json) or diffsynth (static shift 3, as the seed console); default: the model's.") var schedule: ScheduleOption?
    @Option(help: ArgumentHelp("Run one generation worker per listed CUDA GPU (0,1,...), each with its own copy of the model; jobs go to whichever is idle.", valueName: "N,N,...")) var gpus: String?
    @Option(help: ArgumentHelp("Run one generation worker per listed device: cpu, cuda or cuda:N, repeats allowed (cpu,cpu: two CPU workers, for tests).", valueName: "DEVICE,...")) var devices: String?
    @Option(name: .customLong("job-lease"), help: ArgumentHelp("Seconds a worker's claim on a job lasts without a heartbeat (workers send one every second); a job whose worker died runs again after this.", valueName: "SECONDS")) var jobLease: Double = 30
    @Option(help: ArgumentHelp("A PostgreSQL job queue shared with other front ends and `majicflux worker`s instead of the output folder's database; the password from PGPASSWORD or ~/.pgpass (one in the URL shows in ps).", valueName: "postgres://user@host:port/db")) var queue: String?
    @Flag(name: .customLong("no-worker"), help: "With --queue: serve the console and API only; `majicflux worker` processes run the jobs.") var noWorker = false
    @Option(name: .customLong("lora-dir"), help: ArgumentHelp("Folder of LoRA .safetensors files the page offers and jobs may name (default: the model folder's loras/ when it has one).", valueName: "DIR")) var loraDir: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535, got \(port)") }
        let sides = GenerationLimits.sides
        guard (256...sides.upperBound * sides.upperBound).contains(maxPixels) else {
            throw ValidationError("--max-pixels must be between 256 and \(sides.upperBound * sides.upperBound), got \(maxPixels)")
        }
        let lengths = GenerationLimits.sequenceLengths
        if let n = maxSequenceLength, !lengths.contains(n) {
            throw ValidationError("--max-sequence-length must be between \(lengths.lowerBound) and \(lengths.upperBound), got \(n)")
        }
        if let loraDir, !Self.isFolder(loraDir) { throw ValidationError("--lora-dir \(loraDir): \(Self.notAFolder(loraDir))") }
        _ = try auth.security(bindHost: host)
        _ = try workerDevices()
        if noWorker && queue == nil { throw ValidationError("--no-worker needs --queue URL (without a shared queue nothing would run the jobs)") }
        if let queue { _ = try PostgresURL(queue) }
        guard jobLease.isFinite, (2...86_400).contains(jobLease) else { throw ValidationError("--job-lease must be 2...86400 seconds, got \(jobLease)") }
    }

    /// The devices of `--gpus` or `--devices` (nil: neither, one worker on `--device`).
    func workerDevices() throws -> [ComputeDevice]? {
        if gpus != nil && devices != nil { throw ValidationError("--gpus and --devices both list the workers' devices; give one") }
        if let gpus {
            let items = gpus.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let ordinals = items.compactMap { Int($0) }.filter { (0...255).contains($0) }
            guard !items.isEmpty, ordinals.count == items.count else {
                throw ValidationError("--gpus takes CUDA device numbers separated by commas (0,1,2), got \"\(gpus.prefix(80))\"")
            }
            guard Set(ordinals).count == ordinals.count else { throw ValidationError("--gpus lists a GPU twice: \(gpus)") }
            return ordinals.map { .cuda($0) }
        }
        if let devices {
            let items = devices.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard !items.isEmpty, items.count <= 64 else { throw ValidationError("--devices takes 1 to 64 devices, got \(items.count)") }
            return try items.map { item in
                if let device = ComputeDevice(parsing: item), device != .auto { return device }
                throw ValidationError("--devices: \"\(item.prefix(40))\" is not a device (cpu, cuda or cuda:N)")
            }
        }
        return nil
    }

    /// `--lora-dir`, else the model folder's `loras/` when there is one (the default model ships its
    /// style LoRAs there), else none.
    func loraDirectory() -> String? {
        if let loraDir { return loraDir }
        guard let dir = try? model.modelDir, Self.isFolder(dir + "/loras") else { return nil }
        return dir + "/loras"
    }

    /// Why `path` is no folder: "no such folder", or that it is a file (give its folder).
    static func notAFolder(_ path: String) -> String {
        FileManager.default.fileExists(atPath: path) ? "a file, not a folder (give the folder that holds the LoRA files)" : "no such folder"
    }

    static func isFolder(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    func run() async throws {
        StopDeadline.surviveClosedLogPipes()
        var workerBackends: [any Backend] = []
        for device in try workerDevices() ?? [] {
            do {
                let backend = try device.makeBackend(for: model.precision)
                try model.applyAttention(to: backend)
                workerBackends.append(backend)
            } catch let error as ValidationError {
                throw error
            } catch {
                throw ValidationError("worker device \(device): \(error)")
            }
        }
        let backend = try workerBackends.first ?? model.resolveDevice()
        model.checkApplies(to: backend)
        let files = try model.resolveFiles()
        // The largest square picture a job may ask for, with every stage kept loaded.
        let side = max(16, Int(Double(maxPixels).squareRoot()) / 16 * 16)
        if backend is CPUBackend && !noWorker {
            do {
                try model.checkMemory(files: files, width: side, height: side, sequenceLength: maxSequenceLength ?? GenerationLimits.sequenceLengths.upperBound, keepLoaded: true)
            } catch let refusal as MemoryRefusal {
                throw refusal
            } catch {
                // Unreadable weights or configs: the console still starts and shows the model as
                // `failed` with this same reason when its background load meets it.
                Console.info("memory check skipped: \(error)")
            }
        }
        var c = ServerConfiguration(files: files, modelName: model.displayName)
        c.host = host
        c.port = port
        c.outputDirectory = outputDir
        c.maxPixels = maxPixels
        c.defaultMaxSequenceLength = maxSequenceLength
        c.defaultSchedule = schedule?.kind
        c.precision = model.precision
        c.backend = backend
        c.workerBackends = workerBackends
        c.jobLeaseSeconds = jobLease
        c.vramBudget = model.vramBudgetBytes(for: backend)
        c.vaeTilingMode = model.vaeTiling
        c.loraDirectory = loraDirectory()
        try auth.apply(to: &c)
        let server: ConsoleServer
        if let queue {
            for note in (try? PostgresURL(queue))?.notes ?? [] { Console.info(note) }
            let store = try await PostgresJobStore.open(queue, leaseSeconds: jobLease)
            Console.info("job queue: \(store.location)")
            server = try ConsoleServer(configuration: c, store: store, forgetFinishedOnStart: false, runWorkers: !noWorker)
        } else {
            server = try ConsoleServer(configuration: c)
        }
        for warning in server.host.warnings { Console.info("warning: \(warning)") }
        do {
            try await server.run()
        } catch let e as IOError where e.errnoCode == EADDRINUSE {
            // NIO said "bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)".
            throw CLIError("port \(port) on \(host) is in use (another majicflux serve?): stop it, or choose another port with --port (0 picks a free one)")
        }
    }
}
