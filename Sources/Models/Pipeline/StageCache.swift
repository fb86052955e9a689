import Tensor

/// The pipeline's four models (CLIP, T5, the DiT, the VAE): each loaded when its stage needs it,
/// kept between generations when `keepLoaded` (under a VRAM budget only T5 and the DiT, as host
/// copies of their blocks), and, on a device backend, the stage bookkeeping: each stage's share of the budget and
/// its peak (StageCache+DeviceStages.swift). `FluxPipeline` asks it for models and runs the
/// generation algorithm.
final class StageCache {
    let files: FluxModelFiles
    let precision: WeightPrecision
    let backend: any Backend
    /// The device bytes the pipeline may use (`FluxPipeline.vramBudget`); nil: no budget.
    let vramBudget: Int?
    /// Keep every model between generations (a server).
    var keepLoaded: Bool
    /// Joint tokens the DiT's streaming is planned for when the caller names none (the model's
    /// preferred size and T5 length).
    let plannedTokens: Int

    private var clipModel: CLIPTextModel?
    private var t5Model: T5Encoder?
    var ditModel: FluxTransformer?
    private var vaeModel: AutoencoderKL?
    /// `checkVAEWeights` found the VAE file fit.
    private var vaeWeightsChecked = false

    /// The LoRAs the next stages run with (FluxPipeline+LoRA.swift), and whether they are fused into
    /// the DiT's weights at load (`--lora-fuse`) instead of running beside them.
    var loras: [LoRAUse] = []
    var fuseLoRAs = false
    /// What the loaded models carry (StageCache+LoRA.swift), so unchanged LoRAs cost nothing.
    var clipLoRAs: [LoRAUse.Key] = []
    var ditLoRAs = AppliedLoRAs()
    /// Per layer, the error of the last fusion (`--lora-fuse`); empty when the LoRAs run unfused.
    var fusionErrors: [LoRAFusionError] = []

    /// How the last loaded DiT and T5 held their blocks under a VRAM budget (nil without one).
    private(set) var lastDiTResidency: BlockResidency?
    private(set) var lastT5Residency: BlockResidency?
    /// How many times each stage's weights were read from its checkpoint ("CLIP", "T5", "DiT", "VAE").
    var checkpointLoads: [String: Int] = [:]
    /// Each device stage of the last generation with its device-counted peak, in bytes.
    var stagePeaks: [(stage: String, bytes: Int)] = []
    /// The stage whose peak is being measured.
    var currentStage: String?

    init(files: FluxModelFiles, precision: WeightPrecision, backend: any Backend, vramBudget: Int?,
         keepLoaded: Bool, plannedTokens: Int) {
        self.files = files
        self.precision = precision
        self.backend = backend
        self.vramBudget = vramBudget
        self.keepLoaded = keepLoaded
        self.plannedTokens = plannedTokens
    }

    /// Starts a generation's bookkeeping (a generation that threw left its stage open).
    func startGeneration() {
        stagePeaks = []
        currentStage = nil
    }

    /// Whether stages stay loaded whole between generations (never under a VRAM budget, where T5 and
    /// the DiT keep only host copies of their blocks).
    var keepsStages: Bool { keepLoaded && vramBudget == nil }

    func clip() throws -> CLIPTextModel {
        if let clipModel { try attachLoRAs(clipModel); return clipModel }
        startDeviceStage("CLIP")
        let config = try FluxPipeline.clipConfig(files)
        let m = try CLIPTextModel(config: config, weights: CheckpointWeights(path: files.clip),
                                  computeDType: deviceDType ?? .f32, backend: backend)
        try backend.throwIfFaulted()  // a device failure while uploading fails the load, not the process
        checkpointLoads["CLIP", default: 0] += 1
        clipLoRAs = []
        try attachLoRAs(m)
        if keepsStages { clipModel = m }
        return m
    }

    /// T5. Under a VRAM budget its blocks stream; a server (`keepLoaded`) keeps it between
    /// generations as host copies of its blocks, as the DiT's: `evictTextEncoder` gives its device
    /// memory back after encoding and this call takes it again, reading nothing from the checkpoint.
    func t5() throws -> T5Encoder {
        if let t5Model {
            if t5Model.blocksEvicted, let free = startDeviceStage("T5") {
                // The layers outside the blocks stayed on the device and are already out of `free`.
                try t5Model.placeBlocks(weightBudget: free - FluxPipeline.t5DeviceWorkingBytes(t5Model.config, tokens: 512)
                                        + t5Model.otherWeightBytes)
                lastT5Residency = t5Model.residency
                try backend.throwIfFaulted()
            }
            return t5Model
        }
        let free = startDeviceStage("T5")
        let config = try files.t5Config.map { try ConfigFile.load(T5Config.self, path: $0, what: "T5 config") } ?? T5Config()
        // Under a budget the blocks stream; the rest of the budget is for activations at 512 tokens.
        let streaming = free.map {
            BlockStreaming(weightBudget: $0 - FluxPipeline.t5DeviceWorkingBytes(config, tokens: 512), keepsHostCopies: keepLoaded)
        }
        let m = try T5Encoder(config: config, weights: T5CheckpointLayout.canonical(openWeights(path: files.t5, dequantizedDType: deviceDType ?? precision.ggufDequantizedDType)),
                              computeDType: deviceDType ?? precision.denseDType, backend: backend, streaming: streaming)
        try backend.throwIfFaulted()
        checkpointLoads["T5", default: 0] += 1
        lastT5Residency = m.residency
        // Under a budget only a server keeps it (its blocks' host copies), as the DiT.
        if keepLoaded { t5Model = m }
        return m
    }

    /// Gives a kept, streaming T5's device memory back (after the prompts are encoded, before the
    /// next stage plans its share of the budget). No-op otherwise.
    func evictTextEncoder() {
        t5Model?.evictBlocks()
    }

    /// The DiT. Under a VRAM budget its blocks stream, planned for `tokens` joint (text + image)
    /// tokens (default: the model's preferred size and T5 length).
    ///
    /// A server under a budget (`keepLoaded`) keeps the DiT between generations as host copies of its
    /// blocks: `denoise` gives its device memory back when done and this call takes it again.
    func dit(tokens: Int? = nil) throws -> FluxTransformer {
        let n = tokens ?? plannedTokens
        if ditLoRAs.fused && !ditLoRAs.matches(loras, fused: wantsFusion(ditModel)) {
            ditModel = nil  // other LoRAs fused in: load the weights again
        }
        evictTextEncoder()  // the encodes are done: its device memory is the DiT's
        if let ditModel {
            if ditModel.blocksEvicted, let free = startDeviceStage("DiT") {
                // The layers outside the blocks stayed on the device and are already out of `free`.
                try ditModel.placeBlocks(weightBudget: free - FluxPipeline.ditDeviceWorkingBytes(ditModel.config, tokens: n)
                                         + (ditModel.residency?.otherWeightBytes ?? 0))
                lastDiTResidency = ditModel.residency
                try backend.throwIfFaulted()
            }
            try attachLoRAs(ditModel)
            return ditModel
        }
        let free = startDeviceStage("DiT")
        let source = try FluxCheckpointLayout.canonical(openWeights(path: files.transformer, dequantizedDType: deviceDType ?? precision.ggufDequantizedDType),
                                                        component: files.transformerComponent)
        let declared = try files.transformerConfig.map { try ConfigFile.load(FluxConfig.self, path: $0, what: "transformer config") }
        let config = try FluxConfig.infer(shape: source.logicalShape(of:), names: source.names, declared: declared,
                                          component: files.transformerComponent, axesMustBeKnown: true)
        // LoRA factors stay on the device beside the streamed blocks: they come out of the blocks' share.
        let adapterBytes = FluxTransformer.adapterBytes(loras, config: config, dtype: deviceDType ?? .f32)
        let streaming = free.map {
            BlockStreaming(weightBudget: $0 - FluxPipeline.ditDeviceWorkingBytes(config, tokens: n) - adapterBytes,
                           slots: FluxPipeline.ditStreamingSlots, keepsHostCopies: keepLoaded)
        }
        let m = try FluxTransformer(config: config, weights: source, computeDType: deviceDType ?? precision.denseDType,
                                    quantization: precision.ditQuantization, backend: backend, streaming: streaming)
        try backend.throwIfFaulted()
        checkpointLoads["DiT", default: 0] += 1
        ditLoRAs = AppliedLoRAs()
        try attachLoRAs(m)
        try backend.throwIfFaulted()
        if keepLoaded { ditModel = m }
        lastDiTResidency = m.residency
        return m
    }

    /// The VAE's config (`vae/config.json`, or FLUX.1's when the VAE is a single file).
    func vaeConfig() throws -> AutoencoderConfig {
        try files.vaeConfig.map { try ConfigFile.load(AutoencoderConfig.self, path: $0, what: "VAE config") } ?? AutoencoderConfig()
    }

    /// Reads the VAE checkpoint's header (no weights) once and checks that it holds a VAE decoder for
    /// its config's latent channels: a wrong VAE file then fails before the text encoders and the DiT
    /// run, not after the last step, where the VAE loads. No-op once checked or loaded.
    func checkVAEWeights() throws {
        guard vaeModel == nil, !vaeWeightsChecked else { return }
        let config = try vaeConfig()
        let source = try vaeSource(config)
        if let shape = source.shape(of: "decoder.conv_in.weight"), shape.count == 4 {
            if shape[1] != config.latentChannels {
                throw ModelError.weights(component: "vae", problems: [
                    "decoder.conv_in.weight: checkpoint has shape \(shape), a decoder of \(config.latentChannels) latent channels (latent_channels) takes [\(shape[0]), \(config.latentChannels), 3, 3]"])
            }
            // The widest block (the decoder's first) tells a config that does not belong to these weights.
            if let widest = config.blockOutChannels.last, shape[0] != widest {
                throw ModelError.weights(component: "vae", problems: [
                    "decoder.conv_in.weight: checkpoint has shape \(shape), but the VAE config's block_out_channels \(config.blockOutChannels) "
                    + "make a decoder whose first layer has \(widest) channels: the config (\(files.vaeConfig ?? "FLUX.1's default")) does not match the weights"])
            }
        }
        vaeWeightsChecked = true
    }

    /// The VAE's weights under canonical names; layers a quantizer stored scaled (`quantize
    /// --all-linear` on a VAE) are read dequantized (the VAE's few Linears are small).
    func vaeSource(_ config: AutoencoderConfig) throws -> WeightSource {
        try VAECheckpointLayout.canonical(DequantizedWeights.wrapping(CheckpointWeights(path: files.vae), component: "vae (\(files.vae))"), config: config)
    }

    func vae() throws -> AutoencoderKL {
        if let vaeModel { return vaeModel }
        evictTextEncoder()
        startDeviceStage("VAE")
        let config = try vaeConfig()
        let m = try AutoencoderKL(config: config, weights: vaeSource(config),
                                  computeDType: deviceDType ?? .f32, backend: backend)
        try backend.throwIfFaulted()
        checkpointLoads["VAE", default: 0] += 1
        if keepsStages { vaeModel = m }
        return m
    }

    /// The dtype weights are held in on a backend that chooses one (`WeightDTypePreferring`: a GPU's
    /// compute dtype); nil on the CPU.
    var deviceDType: DType? { (backend as? any WeightDTypePreferring)?.weightDType }
}
