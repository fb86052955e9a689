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
    static func detect(files: FluxModelFiles) -> Self {
        let hasGuidance = guidanceEmbedder(files.transformer) ?? files.transformerConfig.flatMap(declaredGuidance) ?? true
        if !hasGuidance { return .fluxSchnell }
        if files.transformer.lowercased().contains("majicflus") { return .majicflus }
        return .fluxDev
    }

    /// Whether the checkpoint at `path` holds guidance embedder weights; nil when it cannot be read.
    /// Reads only the safetensors headers (the tensors are memory-mapped, not touched).
    static func guidanceEmbedder(_ path: String) -> Bool? {
        guard let checkpoint = try? SafeTensorsCheckpoint(path: path) else { return nil }
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
