#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where each part of a Flux model lives on disk.
///
/// Users have models in three shapes, all handled by `resolve`:
/// - a FLUX.1-dev style folder (`model_index.json`, `transformer/`, `text_encoder/`, `text_encoder_2/`,
///   `tokenizer/`, `tokenizer_2/`, `vae/`, `scheduler/`);
/// - such a folder plus a separate DiT file replacing `transformer/` (the majicflus way);
/// - explicit paths for each part (any of the fields below set by hand).
public struct FluxModelFiles: Sendable, Equatable {
    /// The DiT as errors name it: "transformer (PATH)".
    var transformerComponent: String { "transformer (\(transformer))" }

    /// DiT weights: a `.safetensors` file, a sharded `*.index.json`, or a folder holding either.
    public var transformer: String
    /// diffusers `transformer/config.json`. The DiT's sizes are always inferred from its weights; this
    /// file supplies what weights cannot tell (RoPE axes for head sizes other than 128).
    public var transformerConfig: String?
    /// CLIP text encoder weights (file or folder) and its `config.json`.
    public var clip: String
    public var clipConfig: String?
    /// T5 encoder weights (file, index or folder) and its `config.json`.
    public var t5: String
    public var t5Config: String?
    /// Folders holding the CLIP (`vocab.json`, `merges.txt`) and T5 (`spiece.model` or `tokenizer.json`) tokenizers.
    public var clipTokenizer: String
    public var t5Tokenizer: String
    /// VAE weights (file or folder) and its `config.json`.
    public var vae: String
    public var vaeConfig: String?
    /// `scheduler/scheduler_config.json`; nil means FLUX.1-dev's schedule.
    public var schedulerConfig: String?

    public init(transformer: String, transformerConfig: String? = nil, clip: String, clipConfig: String? = nil,
                t5: String, t5Config: String? = nil, clipTokenizer: String, t5Tokenizer: String,
                vae: String, vaeConfig: String? = nil, schedulerConfig: String? = nil) {
        self.transformer = transformer
        self.transformerConfig = transformerConfig
        self.clip = clip
        self.clipConfig = clipConfig
        self.t5 = t5
        self.t5Config = t5Config
        self.clipTokenizer = clipTokenizer
        self.t5Tokenizer = t5Tokenizer
        self.vae = vae
        self.vaeConfig = vaeConfig
        self.schedulerConfig = schedulerConfig
    }

    /// Parts given separately, each replacing the folder's (file or folder paths).
    public struct Overrides: Sendable, Equatable {
        public var clip: String?
        public var t5: String?
        public var vae: String?
        public var clipTokenizer: String?
        public var t5Tokenizer: String?
        public init(clip: String? = nil, t5: String? = nil, vae: String? = nil, clipTokenizer: String? = nil, t5Tokenizer: String? = nil) {
            self.clip = clip
            self.t5 = t5
            self.vae = vae
            self.clipTokenizer = clipTokenizer
            self.t5Tokenizer = t5Tokenizer
        }
    }

    /// Resolves the parts of a FLUX.1-dev style folder, optionally with a separate DiT file and other
    /// parts given separately. Throws one error listing every missing part and where it was looked for.
    public static func resolve(modelDir: String, dit: String? = nil, overrides: Overrides = Overrides()) throws -> FluxModelFiles {
        let fm = FileManager.default
        var isDir = false
        guard fm.fileExists(atPath: modelDir, isDirectory: &isDir) else {
            throw ModelError.missingFile(path: modelDir, what: "model folder")
        }
        guard isDir else {
            // The usual mistake with a single-file download (majicflus_v134.safetensors): it said
            // "missing model folder" of a file that is there.
            throw ModelError.invalidParameter("the model \(modelDir) is a file, not a folder: a single-file DiT goes to --dit FILE, with --model DIR "
                                              + "for the folder holding the text encoders, the VAE and the tokenizers (FLUX.1-dev's layout)")
        }
        func sub(_ name: String) -> String { modelDir + "/" + name }
        func exists(_ p: String) -> Bool { fm.fileExists(atPath: p) }
        func optional(_ p: String) -> String? { exists(p) ? p : nil }
        func isDirectory(_ p: String) -> Bool {
            var d = false
            return fm.fileExists(atPath: p, isDirectory: &d) && d
        }
        var missing: [String] = []
        func require(_ p: String, _ what: String) -> String {
            if !exists(p) { missing.append("\(what) (looked for \(p))") }
            return p
        }
        let transformer: String
        if let dit {
            transformer = require(dit, "DiT file given with --dit")
        } else {
            transformer = require(sub("transformer"), "DiT weights folder transformer/")
        }
        /// A part given on its own: its config.json sits beside the weights (in the folder, or next to the file).
        func part(_ given: String?, _ folder: String, _ what: String) -> (weights: String, config: String?) {
            if let given {
                let p = require(given, what)
                let configBeside = isDirectory(p) ? p + "/config.json" : parentDirectory(p) + "/config.json"
                return (p, optional(configBeside) ?? optional(sub(folder + "/config.json")))
            }
            return (require(sub(folder), "\(what) folder \(folder)/"), optional(sub(folder + "/config.json")))
        }
        let clip = part(overrides.clip, "text_encoder", "CLIP text encoder")
        let t5 = part(overrides.t5, "text_encoder_2", "T5 encoder")
        let vae = part(overrides.vae, "vae", "VAE")
        if clip.config == nil { missing.append("CLIP config (looked for \(sub("text_encoder/config.json")))") }
        if t5.config == nil { missing.append("T5 config (looked for \(sub("text_encoder_2/config.json")))") }
        let files = FluxModelFiles(
            transformer: transformer,
            // A diffusers transformer folder given with --dit brings its own config; a single file
            // takes the model folder's, which describes the architecture family (RoPE axes).
            transformerConfig: dit.flatMap { isDirectory($0) ? optional($0 + "/config.json") : nil } ?? optional(sub("transformer/config.json")),
            clip: clip.weights, clipConfig: clip.config,
            t5: t5.weights, t5Config: t5.config,
            clipTokenizer: require(overrides.clipTokenizer ?? sub("tokenizer"), "CLIP tokenizer folder tokenizer/"),
            t5Tokenizer: require(overrides.t5Tokenizer ?? sub("tokenizer_2"), "T5 tokenizer folder tokenizer_2/"),
            vae: vae.weights, vaeConfig: vae.config,
            schedulerConfig: optional(sub("scheduler/scheduler_config.json")))
        if !missing.isEmpty {
            // "missing parts of the model (folder DIR):" then one line each (the folder trailed the list).
            throw ModelError.missingFile(path: "\n  " + missing.joined(separator: "\n  "), what: "parts of the model (folder \(modelDir))")
        }
        return files
    }
}

/// The folder part of a path ("." for a bare file name).
func parentDirectory(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
