#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tensor

extension ModelPreset {
    /// The preset of the model in `files`: its kind (`Kind.detect`), refined by the folder's
    /// `vae/config.json` `sample_size`, `tokenizer_2/tokenizer_config.json` `model_max_length` and
    /// `scheduler/scheduler_config.json`. A hint that cannot be used leaves the kind's value and a line
    /// in `warnings` (`ModelHints`); a config that cannot be read is an error.
    public static func detect(files: FluxModelFiles, warnings: inout [String]) throws -> ModelPreset {
        var preset = standard(Kind.detect(files: files))
        preset.imageSize = try ModelHints.imageSize(vaeConfig: files.vaeConfig, default: preset.imageSize, warnings: &warnings)
        preset.sequenceLength = try ModelHints.sequenceLength(tokenizerConfig: files.t5Tokenizer + "/tokenizer_config.json",
                                                              default: preset.sequenceLength, warnings: &warnings)
        if let path = files.schedulerConfig { preset.scheduler = try FlowMatchSchedulerConfig.load(path: path) }
        return preset
    }
}

extension ModelPreset.Kind {
    /// What tells the kinds apart, without loading weights:
    /// - no guidance embedder: schnell. The DiT checkpoint's tensor names decide (`guidance_in.*`, or
    ///   diffusers' `guidance_embedder.*`); when its header cannot be read (the load reports that
    ///   later), `transformer/config.json`'s `guidance_embeds`;
    /// - else `majicflus` in the DiT file's or the model folder's name: majicflus;
    /// - else FLUX.1-dev.
    /// - a DiT taking more than the latents: FLUX.1-Fill (latents + latents + 256 mask channels) or a
    ///   control model (latents + latents; `depth` in the DiT file's or folder's name: Depth, else Canny),
    ///   from the checkpoint's `img_in` (`x_embedder`) width and the VAE's latent channels;
    /// - `kontext` in the DiT file's or folder's name, or a FluxKontextPipeline `model_index.json`: Kontext.
    static func detect(files: FluxModelFiles) -> Self {
        let name = files.transformer.lowercased()
        let latents = 4 * latentChannels(files.vaeConfig)
        switch inputChannels(files.transformer) ?? files.transformerConfig.flatMap(declaredInChannels) ?? latents {
        case 2 * latents + 256: return .fluxFill
        case 2 * latents: return name.contains("depth") ? .fluxDepth : .fluxCanny
        default: break
        }
        if name.contains("kontext") || pipelineClass(files.transformer).contains("Kontext") { return .fluxKontext }
        let hasGuidance = guidanceEmbedder(files.transformer) ?? files.transformerConfig.flatMap(declaredGuidance) ?? true
        if !hasGuidance { return .fluxSchnell }
        if name.contains("majicflus") { return .majicflus }
        return .fluxDev
    }

    /// The DiT's input channels per token from its checkpoint header (`img_in.weight` in BFL names,
    /// `x_embedder.weight` in diffusers', any prefix); nil when unreadable.
    static func inputChannels(_ path: String) -> Int? {
        guard let checkpoint = try? openWeights(path: path),
              let name = checkpoint.names.first(where: { $0.hasSuffix("img_in.weight") || $0.hasSuffix("x_embedder.weight") }),
              let shape = checkpoint.logicalShape(of: name), shape.count == 2 else { return nil }
        return shape[1]
    }

    /// `latent_channels` of the VAE config (16 when absent or unreadable).
    static func latentChannels(_ path: String?) -> Int {
        guard let path, let config = try? ConfigFile.load(AutoencoderConfig.self, path: path, what: "VAE config") else { return 16 }
        return config.latentChannels
    }

    /// `in_channels` of a diffusers transformer config; nil when unreadable.
    static func declaredInChannels(_ path: String) -> Int? {
        try? ConfigFile.load(FluxConfig.self, path: path, what: "transformer config").inChannels
    }

    /// `_class_name` of the `model_index.json` in the folder above the DiT's (a diffusers folder); "" when none.
    static func pipelineClass(_ transformerPath: String) -> String {
        var parts = transformerPath.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return "" }
        parts.removeLast(2)
        let index = parts.joined(separator: "/") + "/model_index.json"
        guard FileManager.default.fileExists(atPath: index), let data = try? ConfigFile.read(index, what: "model index"),
              let json = try? JSONValue.parse([UInt8](data)), case .string(let name)? = json.object?["_class_name"] else { return "" }
        return name
    }

    /// Whether the checkpoint at `path` holds guidance embedder weights; nil when it cannot be read.
    /// Reads only the safetensors headers (the tensors are memory-mapped, not touched).
    static func guidanceEmbedder(_ path: String) -> Bool? {
        guard let checkpoint = try? openWeights(path: path) else { return nil }
        return checkpoint.names.contains { $0.contains("guidance_in.") || $0.contains("guidance_embedder.") }
    }

    /// `guidance_embeds` of a diffusers transformer config; nil when unreadable or absent.
    static func declaredGuidance(_ path: String) -> Bool? {
        guard FileManager.default.fileExists(atPath: path), let data = try? ConfigFile.read(path, what: "transformer config"),
              let json = try? JSONValue.parse([UInt8](data)), let value = json.object?["guidance_embeds"] else { return nil }
        if case .bool(let b) = value { return b }
        return nil
    }
}
