import Tensor

extension FluxPipeline {
    /// A pipeline for a model folder, computing where `device` says.
    ///
    /// ```swift
    /// let pipeline = try FluxPipeline(modelDirectory: "Models/default")
    /// ```
    /// - Parameters:
    ///   - modelDirectory: a FLUX.1-dev style folder (`transformer/`, `text_encoder/`,
    ///     `text_encoder_2/`, `tokenizer/`, `tokenizer_2/`, `vae/`, optionally `scheduler/`).
    ///     `FluxModelFiles.resolve` and `init(files:...)` take separate parts (a single-file DiT...).
    ///   - device: `.auto` (default) runs on a usable CUDA GPU when `precision` can run there, else
    ///     on the CPU; `backend.device` says which it took.
    ///   - precision: how weights are held (`.bf16`, as stored, by default).
    ///   - vramBudget: low-VRAM mode on a GPU, in bytes of device memory (see `vramBudget`); dropped
    ///     when `.auto` took the CPU, so portable code may always pass one.
    ///   - keepLoaded: keep every stage in memory between generations (faster repeated generations,
    ///     more memory); by default each stage loads when needed and is dropped after.
    /// - Throws: `ComputeDeviceError` when `.cuda` is not usable; `ModelError` for a folder that is
    ///   missing parts or holds unreadable tokenizers or configs. Weights load on first use.
    public convenience init(modelDirectory: String, device: ComputeDevice = .auto, precision: WeightPrecision = .bf16,
                            vramBudget: Int? = nil, keepLoaded: Bool = false) throws {
        let backend = try device.makeBackend(for: precision)
        let budget = device == .auto && backend.device == .cpu ? nil : vramBudget
        try self.init(files: try FluxModelFiles.resolve(modelDir: modelDirectory), keepLoaded: keepLoaded,
                      precision: precision, backend: backend, vramBudget: budget)
    }
}

extension WeightPrecision {
    /// Whether a GPU backend runs this precision: f32, bf16, gguf and the GGUF types, and fp8 unless `MAJICFLUX_CUDA_FP8=0`
    /// turned the GPU fp8 path off (int8 and int4 run on the CPU only).
    public var runsOnGPU: Bool {
        self == .f32 || self == .bf16 || holdsGGUFBlocks || (self == .fp8 && FluxPipeline.gpuFP8Enabled)
    }

    /// What a GPU computes in at this precision: f32 for `.f32`, bf16 for everything else.
    public var gpuComputeDType: DType { self == .f32 ? .f32 : .bf16 }
}

extension ComputeDevice {
    /// The backend for a pipeline holding weights at `precision`: `.auto` takes the CPU for a
    /// precision no GPU runs (`runsOnGPU`); on CUDA, f32 computes in f32 and the others in bf16.
    public func makeBackend(for precision: WeightPrecision) throws -> any Backend {
        try makeBackend(computeDType: precision.gpuComputeDType, gpuCapable: precision.runsOnGPU)
    }
}
