import ArgumentParser
import Foundation
import Models
import Tensor

/// Options naming the model and where it runs, shared by `generate` and `serve`.
struct ModelOptions: ParsableArguments {
    @Option(help: "A FLUX.1-dev style model folder (model_index.json, transformer/, text_encoder/, ...).")
    var model: String?

    @Option(help: "A separate DiT file (BFL/ComfyUI single file, e.g. majicflus_v134.safetensors, or a ComfyUI-GGUF .gguf such as flux1-dev-Q4_K.gguf) replacing the folder's transformer/.")
    var dit: String?

    @Option(name: .customLong("text-encoder"), help: "CLIP text encoder weights (file or folder) replacing the folder's text_encoder/.")
    var textEncoder: String?

    @Option(name: .customLong("text-encoder-2"), help: "T5 encoder weights (file, index or folder) replacing the folder's text_encoder_2/.")
    var textEncoder2: String?

    @Option(help: "VAE weights (BFL ae.safetensors or a diffusers vae/ folder) replacing the folder's vae/.")
    var vae: String?

    @Option(help: "Weight precision in memory: f32, bf16 (as stored), fp8 or int8 (DiT block Linears with per-channel scales), int4 (groups of 64), gguf (a .gguf DiT's Linears kept in the file's blocks, Q8_0 ... Q2_K), or a GGUF type q8_0, q6_k, q5_k, q4_k, q3_k, q2_k (DiT block Linears in that type: kept from a .gguf of that type, else quantized at load); on CUDA all but int8 and int4.")
    var precision: WeightPrecision = .bf16

    @Option(help: "Where to compute: cpu, cuda (device 0), cuda:N or auto (CUDA when present, else the CPU).")
    var device: ComputeDevice = .auto

    @Option(name: .customLong("vram-budget"), parsing: .unconditional, help: ArgumentHelp("Low-VRAM mode on a GPU: GiB of device memory to stay within (the CUDA context included). DiT blocks that do not fit stream from page-locked host memory while the GPU computes; T5 blocks load as they run.", valueName: "GiB"))
    var vramBudget: Double?

    @Option(help: "Attention precision on the GPU: auto (default: fp8 with --precision fp8 on a Hopper GPU, bf16 otherwise), bf16, or fp8 (the DiT's Q, K, V and softmax weights in float8 e4m3 on Hopper's fp8 tensor cores: faster, with a small added error; CUDA compute capability 9.0 only).")
    var attention: AttentionPrecision = .auto

    @Option(name: .customLong("vae-tiling"), help: "Decode the picture tile by tile: auto (images larger than 1024x1024), on or off.")
    var vaeTiling: VAETilingMode = .auto

    @Flag(name: .customLong("skip-memory-check"), help: "Load the model even when the host-memory estimate (CPU inference only) says it will not fit.")
    var skipMemoryCheck = false

    @Option(name: .customLong("memory-available"), parsing: .unconditional, help: ArgumentHelp("GiB of memory to plan for instead of MemAvailable from /proc/meminfo.", visibility: .hidden))
    var memoryAvailable: Double?

    /// The model folder in use (the embedded default model when none is given).
    var modelDir: String {
        get throws {
            if let model { return model }
            if let found = Self.defaultModelCandidates.first(where: Self.isModelFolder) { return found }
            throw ValidationError("""
                no model given: pass --model DIR, a FLUX.1-dev style folder (model_index.json, transformer/, \
                text_encoder/, text_encoder_2/, tokenizer/, tokenizer_2/, vae/), and optionally --dit FILE for a \
                single-file DiT such as majicflus_v134.safetensors. The project's default model (Models/default \
                in the source tree) was not found; looked in: \(Self.defaultModelCandidates.joined(separator: ", "))
                """)
        }
    }

    /// Where the default model shipped with the project may be: `Models/default` under the current
    /// folder, or under a folder above the executable (`.build/release/majicflux` in a checkout).
    static var defaultModelCandidates: [String] {
        var found = [FileManager.default.currentDirectoryPath + "/Models/default"]
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments.first ?? ".")
        var dir = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            found.append(dir.path + "/Models/default")
        }
        var seen = Set<String>()
        return found.filter { seen.insert($0).inserted }
    }

    static func isModelFolder(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path + "/model_index.json") || FileManager.default.fileExists(atPath: path + "/transformer")
    }

    /// The served model's name (the page, the A1111 API, jobs' matching of workers, the infotext's
    /// Model): the `--dit` file's or the model folder's name. A DiT under a name every diffusers
    /// folder uses is named by the folder holding it (`.../majicflus/transformer/diffusion_pytorch_model.safetensors`
    /// is "majicflus"): a worker registered as "diffusion_pytorch_model.safetensors" matched nothing.
    var displayName: String { Self.displayName(dit: dit, model: model) }

    static func displayName(dit: String?, model: String?) -> String {
        var path = (dit ?? model ?? "default") as NSString
        let generic: Set<String> = ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json",
                                    "model.safetensors", "transformer"]
        while generic.contains(path.lastPathComponent), !path.deletingLastPathComponent.isEmpty, path.deletingLastPathComponent != "/" {
            path = path.deletingLastPathComponent as NSString
        }
        return path.lastPathComponent
    }

    /// The backend for `--device`, chosen by the library (`ComputeDevice.makeBackend(for:)`): `auto`
    /// takes CUDA when a GPU, the driver, NVRTC and cuBLASLt are all found and the precision runs
    /// there, else the CPU; `cuda` fails with the reason when they are not. On CUDA,
    /// `--precision f32` computes in f32, anything else in bf16.
    func resolveDevice() throws -> any Backend {
        do {
            let backend = try device.makeBackend(for: precision)
            try applyAttention(to: backend)
            return backend
        } catch ComputeDeviceError.cudaUnavailable(let why) {
            // "--device cuda:1 (CUDA): ..."; "--device cuda: ..." read as a truncated device name.
            throw ValidationError("--device \(device) (CUDA): \(why). Use --device cpu or auto.")
        } catch ComputeDeviceError.cudaSetupFailed(_, let error) {
            throw ValidationError("--device \(device) (CUDA): \(error)")
        }
    }

    /// `--attention fp8` on `backend`: switches a Hopper GPU's attention to the fp8 kernel; refused with
    /// the reason on other GPUs, ignored with a notice when `auto` chose the CPU (`--device cpu` is
    /// refused by `validate`). `--attention auto` (the default) takes it where `usesFP8` says.
    func applyAttention(to backend: any Backend) throws {
        if attention == .auto, let gpu = backend as? CUDABackend {
            gpu.fp8Attention = attention.usesFP8(precision: precision, kernelAvailable: gpu.fp8AttentionAvailable)
            if gpu.fp8Attention { Console.info("attention: fp8 on the e4m3 tensor cores (--attention auto with fp8 weights; --attention bf16 to keep bf16)") }
        }
        guard attention == .fp8 else { return }
        if let gpu = backend as? CUDABackend {
            guard gpu.fp8AttentionAvailable else {
                throw ValidationError("--attention fp8 needs a Hopper GPU (compute capability 9.0, e.g. H100 or H200) and a CUDA driver with tensor maps; \(gpu.deviceName) has compute capability \(gpu.capability.0).\(gpu.capability.1). Use --attention bf16.")
            }
            gpu.fp8Attention = true
        } else {
            Console.info("--attention fp8 ignored: --device auto chose \(backend.name)")
        }
    }

    /// The checks that need neither the model nor the device, made while the command line is parsed
    /// so that the error comes with the command's usage and before anything loads. What depends on the
    /// device `auto` picks is decided once it is known (`vramBudgetBytes`, `checkApplies`, `applyAttention`).
    func validate() throws {
        if let gib = vramBudget {
            guard gib.isFinite, gib >= 1, gib <= 100_000 else {
                throw ValidationError("--vram-budget \(gib): give the GPU memory to stay within in GiB, at least 1 (e.g. --vram-budget 6)")
            }
            if device == .cpu { throw ValidationError("--vram-budget limits GPU memory; it does not apply with --device cpu") }
        }
        if attention == .fp8 && device == .cpu {
            throw ValidationError("--attention fp8 runs on a Hopper GPU's fp8 tensor cores; it does not apply with --device cpu")
        }
        if case .cuda = device, let first = hostMemoryOptions.first {
            throw ValidationError("\(first) does not apply with --device cuda: the host-memory check runs only for CPU inference (a GPU run is bounded by --vram-budget)")
        }
    }

    /// The options of the host-memory check that were given.
    private var hostMemoryOptions: [String] {
        [skipMemoryCheck ? "--skip-memory-check" : nil, memoryAvailable != nil ? "--memory-available" : nil].compactMap { $0 }
    }

    /// Where each part of the model is (checked to exist).
    func resolveFiles() throws -> FluxModelFiles {
        let overrides = FluxModelFiles.Overrides(clip: textEncoder, t5: textEncoder2, vae: vae)
        let files = try FluxModelFiles.resolve(modelDir: modelDir, dit: dit, overrides: overrides)
        // `gguf` keeps a GGUF file's blocks: with any other DiT it would silently be bf16.
        if precision == .gguf && !isGGUF(files.transformer) {
            throw ValidationError("--precision gguf keeps the blocks of a .gguf DiT as stored, and the DiT here (\(files.transformer)) is not one: "
                                  + "give --dit FILE.gguf, or a GGUF type (--precision q8_0 ... q2_k) to quantize at load")
        }
        return files
    }

    /// `--vram-budget` in bytes for `backend`: nil when not given, or (with a notice) when `auto`
    /// chose the CPU (`validate` refused nonsense values and `--device cpu`).
    func vramBudgetBytes(for backend: any Backend) -> Int? {
        guard let gib = vramBudget else { return nil }
        if backend.device == .cpu {
            Console.info("--vram-budget ignored: --device auto chose the CPU (no usable CUDA GPU, or --precision \(precision.rawValue), which auto runs on the CPU; --device cuda asks for the GPU)")
            return nil
        }
        return Int(gib * Double(1 << 30))
    }

    /// The host-memory check (and so `--skip-memory-check` and `--memory-available`) runs for CPU
    /// inference only: with `--device auto` choosing a GPU they are ignored with a notice, as
    /// `--vram-budget` is when auto chooses the CPU (`validate` refused them with `--device cuda`).
    func checkApplies(to backend: any Backend) {
        guard backend.device != .cpu, !hostMemoryOptions.isEmpty else { return }
        let what = hostMemoryOptions.joined(separator: " and ")
        Console.info("\(what) ignored: --device auto chose \(backend.name), and the host-memory check runs only for CPU inference")
    }

    func makePipeline(keepLoaded: Bool) throws -> FluxPipeline {
        let backend = try resolveDevice()
        let pipeline = try FluxPipeline(files: try resolveFiles(), keepLoaded: keepLoaded, precision: precision,
                                        backend: backend, vramBudget: vramBudgetBytes(for: backend))
        pipeline.vaeTilingMode = vaeTiling
        return pipeline
    }

    /// Refuses, before any weights load, when the estimated peak memory of `--precision` at this size
    /// is more than the memory available (MemAvailable, or `--memory-available`); `--skip-memory-check`
    /// skips the check.
    func checkMemory(files: FluxModelFiles, width: Int, height: Int, sequenceLength: Int, keepLoaded: Bool) throws {
        if skipMemoryCheck { return }
        let available = memoryAvailable.map { Int64($0 * Double(1 << 30)) } ?? SystemMemory.available()
        let request = MemoryRequest(width: width, height: height, sequenceLength: sequenceLength, vaeTilingMode: vaeTiling)
        guard let check = try MemoryCheck.run(files: files, precision: precision, request: request,
                                              keepLoaded: keepLoaded, available: available) else { return }
        if !check.fits { throw MemoryRefusal(message: check.refusal) }
        Console.info("memory: about \(MemoryEstimate.gib(check.estimate.peakBytes)) needed, \(MemoryEstimate.gib(check.availableBytes)) available")
    }
}

/// The model would not fit in memory at the chosen precision (the message says what would).
struct MemoryRefusal: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

extension VAETilingMode: ExpressibleByArgument {}

extension WeightPrecision: ExpressibleByArgument {
    /// f32 or bf16: weights kept dense (the precisions a GPU backend runs).
    var isDense: Bool { self == .f32 || self == .bf16 }
}
/// `--device`: `cpu`, `auto`, `cuda` (device 0) or `cuda:N`, parsed by `ComputeDevice(parsing:)`.
extension ComputeDevice: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
    public static var allValueStrings: [String] { ["cpu", "cuda", "cuda:N", "auto"] }
}

/// `--attention`: the precision of the DiT's attention on the GPU.
enum AttentionPrecision: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto, bf16, fp8

    /// Whether the fp8 attention kernel runs: always for `fp8` (refused where it cannot), never for
    /// `bf16`; for `auto` where the DiT's block Linears are fp8 (`--precision fp8`) and the GPU has the
    /// kernel. Measured on the default model's 96 held-out prompts (H100, BENCHMARKS.md): with fp8
    /// weights fp8 attention got 94.8% right against 92.7% with bf16 attention; with bf16 weights
    /// 94.8% against 95.8%, more than the issue's one point, so bf16 weights keep bf16 attention.
    func usesFP8(precision: WeightPrecision, kernelAvailable: Bool) -> Bool {
        switch self {
        case .bf16: return false
        case .fp8: return kernelAvailable
        case .auto: return kernelAvailable && precision == .fp8
        }
    }
}
