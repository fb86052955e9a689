import ArgumentParser
import Foundation
import Models
import Tensor

/// Options naming the model and where it runs, shared by `generate` and `serve`.
struct ModelOptions: ParsableArguments {
    @Option(help: "A FLUX.1-dev style model folder (model_index.json, transformer/, text_encoder/, ...).")
    var model: String?

    @Option(help: "A separate DiT file (BFL/ComfyUI single file, e.g. majicflus_v134.safetensors) replacing the folder's transformer/.")
    var dit: String?

    @Option(name: .customLong("text-encoder"), help: "CLIP text encoder weights (file or folder) replacing the folder's text_encoder/.")
    var textEncoder: String?

    @Option(name: .customLong("text-encoder-2"), help: "T5 encoder weights (file, index or folder) replacing the folder's text_encoder_2/.")
    var textEncoder2: String?

    @Option(help: "VAE weights (BFL ae.safetensors or a diffusers vae/ folder) replacing the folder's vae/.")
    var vae: String?

    @Option(help: "Weight precision in memory: f32, bf16 (as stored), fp8 or int8 (DiT block Linears with per-channel scales).")
    var precision: WeightPrecision = .bf16

    @Option(help: "Where to compute: cpu, cuda or auto (CUDA when present, else the CPU).")
    var device: DeviceOption = .auto

    /// The model folder in use (the embedded default model when none is given).
    var modelDir: String {
        get throws {
            if let model { return model }
            throw ValidationError("--model DIR is required (a FLUX.1-dev style folder)")
        }
    }

    var displayName: String {
        let base = dit ?? model ?? "default"
        return (base as NSString).lastPathComponent
    }

    func resolveDevice() throws -> any Backend {
        switch device {
        case .cpu, .auto: return CPUBackend.shared
        case .cuda:
            throw ValidationError("--device cuda: this build has no CUDA backend yet; use --device cpu or auto")
        }
    }

    func makePipeline(keepLoaded: Bool) throws -> FluxPipeline {
        let overrides = FluxModelFiles.Overrides(clip: textEncoder, t5: textEncoder2, vae: vae)
        let files = try FluxModelFiles.resolve(modelDir: modelDir, dit: dit, overrides: overrides)
        return try FluxPipeline(files: files, keepLoaded: keepLoaded, precision: precision)
    }
}

extension WeightPrecision: ExpressibleByArgument {}
enum DeviceOption: String, ExpressibleByArgument, CaseIterable { case cpu, cuda, auto }
