#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension CUDABackend {
    /// The tuning knobs of a CUDA backend: given to `make(ordinal:computeDType:configuration:)`,
    /// read by the kernels from the backend they run on, and changeable later through
    /// `configuration` (a locked value: ops that are already running keep the values they read).
    public struct Configuration: Sendable, Hashable {
        /// Which flash kernel runs for head size 128 (default wgmma3pp: on an H200 at 4608 tokens 0.424
        /// ms a call against 0.429 for wgmma3 (1536 tokens: 0.073 against 0.077), 0.76 for wgmma2,
        /// 0.91 for wgmma1 and 1.22 for mma). Where the Hopper kernels
        /// were not compiled (other GPUs) the mma.sync kernel runs whatever this says; wgmma3 falls
        /// back to wgmma2 where the driver makes no tensor maps (as does wgmma3pp).
        public var flashKernel: FlashKernel
        /// Keys per shared-memory tile in the head-size-128 mma flash kernel (64 or 32). On an H200
        /// both give the same DiT step time within noise; 64 is slightly faster alone (1.29 vs 1.30 ms).
        public var flashKeyBlock: Int
        /// When false, `fp8Linear` always takes the dequantise-to-bf16 path (checks and comparisons).
        public var allowFP8TensorCores: Bool
        /// The largest im2col buffer a convolution makes; bigger ones are done in bands of output rows.
        public var im2colBytes: Int
        /// When set, every kernel and GEMM is timed with events (and waited for): see `profileReport()`.
        public var profiling: Bool
        /// Whether GEMM plans time cuBLASLt's candidate algorithms on their first call and keep the
        /// fastest (off by default: on an H200 it gained 1-2% on the fp8 DiT step, within the drift).
        public var autotune: Bool
        /// Where the compiled kernel module is kept between processes (`CUDAKernelCache`), so a start
        /// skips NVRTC; nil: compiled at every start. Read when the backend is made (the module is
        /// loaded once). `fromEnvironment` sets `CUDAKernelCache.defaultFolder`.
        public var kernelCacheFolder: String?
        /// Threads reading a mapped checkpoint range at once when it is uploaded (`FileUploading`,
        /// `StagedFileReader`); at least 1. Each has two pinned slots of `uploadSlotBytes`. Default 8: on
        /// the H200 machine 1 / 2 / 4 / 8 readers gave 7.7 / 11.7 / 19.7 / 28.3 GB/s (`cuda-check upload`).
        public var uploadReaders: Int
        /// The size of one pinned upload slot (at least 64 KiB).
        public var uploadSlotBytes: Int
        /// When set, head-size-128 attention without a mask (the DiT's) runs on the e4m3 tensor cores
        /// (`flash_wg3_fp8_d128`: Q, K, V quantised per 128-row tile, P to e4m3) where the Hopper
        /// kernels and tensor maps exist; elsewhere bf16 attention runs. Off by default
        /// (`--attention fp8`, `MAJICFLUX_CUDA_ATTENTION=fp8`).
        public var fp8Attention: Bool
        /// fp8 DiT: quantise each activation once for the GEMMs that share it and take its amax from
        /// the op that made it (modulated LayerNorm, the GELU GEMM's cuBLASLt amax) instead of a pass
        /// over it (`FP8GEMM.sharesQuantizedActivations`). On by default: on the H200 the same output
        /// (byte-identical, `cuda-check quantfuse`) and with CUDA graphs 1.5-1.7% faster (fp8 step
        /// 87.6 vs 89.1 ms at 1024x1024, 27.1 vs 27.5 ms at 512x512); `MAJICFLUX_FP8_FUSED_AMAX=0`
        /// turns it off.
        public var fp8FusedAmax = true
        /// Whether work that repeats with the same shapes (the DiT's blocks at every step) is captured
        /// once into a CUDA graph and replayed (`GraphCapturing`). On by default;
        /// `MAJICFLUX_CUDA_GRAPHS=0` turns it off.
        public var cudaGraphs = true
        /// Depth of the K/V ring of the warp-specialised flash kernels (wgmma3, wgmma3pp, fp8): how many
        /// 128-key tiles the TMA producer may load ahead of the consumers. 2 to 4; the bf16 kernels take
        /// at most 3 (shared memory: 32 KB of Q and 64 KB a stage). `MAJICFLUX_CUDA_FLASH_STAGES`.
        public var flashStages = 2
        /// fp8 DiT: the GELU GEMMs and the modulated LayerNorms feeding fp8 GEMMs write their output as
        /// e4m3 themselves, scaled by the max |y| the same op wrote at its previous call times
        /// `fp8DelayedMargin` (`DelayedE4M3Scale`; a generation's first step quantises exactly), instead
        /// of writing bf16 for an amax and a quantise pass. On by default: the H100's fp8 step 0.93x
        /// with the same held-out score (BENCHMARKS.md, session 19). `MAJICFLUX_FP8_DELAYED=0` turns it off.
        public var fp8DelayedScales = true
        /// The headroom of a delayed scale over the last amax (at least 1). e4m3 keeps 3 mantissa bits
        /// down to 2^-6 of its range, so 4 (two binades) costs the small values little and lets an
        /// activation grow 4x between calls (steps, or the next picture's first step) before it clips.
        /// `MAJICFLUX_FP8_MARGIN`.
        public var fp8DelayedMargin: Float = 4

        public init(flashKernel: FlashKernel = .wgmma3pp, flashKeyBlock: Int = 64, allowFP8TensorCores: Bool = true,
                    im2colBytes: Int = 256 << 20, profiling: Bool = false, autotune: Bool = false,
                    kernelCacheFolder: String? = nil, uploadReaders: Int = 8, uploadSlotBytes: Int = 16 << 20,
                    fp8Attention: Bool = false) {
            self.flashKernel = flashKernel
            self.flashKeyBlock = flashKeyBlock
            self.allowFP8TensorCores = allowFP8TensorCores
            self.im2colBytes = Swift.max(1, im2colBytes)
            self.profiling = profiling
            self.autotune = autotune
            self.kernelCacheFolder = kernelCacheFolder
            self.uploadReaders = Swift.max(1, uploadReaders)
            self.uploadSlotBytes = Swift.max(64 << 10, uploadSlotBytes)
            self.fp8Attention = fp8Attention
        }

        /// The defaults with the environment's overrides: `MAJICFLUX_CUDA_FLASH` (mma, wgmma1, wgmma2,
        /// wgmma3), `MAJICFLUX_CUDA_AUTOTUNE=1`, and the kernel cache in `CUDAKernelCache.defaultFolder`
        /// unless `MAJICFLUX_CUDA_KERNEL_CACHE=0`, `MAJICFLUX_CUDA_UPLOAD_READERS` (a count), `MAJICFLUX_CUDA_ATTENTION=fp8`,
        /// `MAJICFLUX_CUDA_GRAPHS=0`, `MAJICFLUX_CUDA_FLASH_STAGES` (2-4), `MAJICFLUX_FP8_DELAYED=0`,
        /// `MAJICFLUX_FP8_MARGIN`. Read once per
        /// process, when first needed.
        public static var fromEnvironment: Configuration { environmentDefaults }

        private static let environmentDefaults: Configuration = {
            var c = Configuration()
            if let v = getenv("MAJICFLUX_CUDA_FLASH").flatMap({ FlashKernel(rawValue: String(cString: $0)) }) { c.flashKernel = v }
            c.autotune = getenv("MAJICFLUX_CUDA_AUTOTUNE").map { String(cString: $0) } == "1"
            if let v = getenv("MAJICFLUX_CUDA_UPLOAD_READERS").flatMap({ Int(String(cString: $0)) }), v > 0 { c.uploadReaders = v }
            c.fp8Attention = getenv("MAJICFLUX_CUDA_ATTENTION").map { String(cString: $0) } == "fp8"
            c.fp8FusedAmax = getenv("MAJICFLUX_FP8_FUSED_AMAX").map { String(cString: $0) } != "0"
            c.cudaGraphs = getenv("MAJICFLUX_CUDA_GRAPHS").map { String(cString: $0) } != "0"
            if let v = getenv("MAJICFLUX_CUDA_FLASH_STAGES").flatMap({ Int(String(cString: $0)) }) { c.flashStages = v }
            c.fp8DelayedScales = getenv("MAJICFLUX_FP8_DELAYED").map { String(cString: $0) } != "0"
            if let v = getenv("MAJICFLUX_FP8_MARGIN").flatMap({ Float(String(cString: $0)) }), v >= 1 { c.fp8DelayedMargin = v }
            if getenv("MAJICFLUX_CUDA_KERNEL_CACHE").map({ String(cString: $0) }) != "0" { c.kernelCacheFolder = CUDAKernelCache.defaultFolder }
            return c
        }()
    }

    /// The head-size-128 flash attention kernels.
    public enum FlashKernel: String, Sendable, CaseIterable {
        /// mma.sync, FlashAttention-2 style: any GPU of compute capability 8.0 or newer.
        case mma
        /// Hopper wgmma, one warpgroup per 64 query rows, GEMMs and softmax in sequence (sm_90a).
        case wgmma1
        /// Hopper wgmma, two warpgroups sharing 128-key tiles, softmax overlapped with P V (sm_90a).
        case wgmma2
        /// Hopper wgmma, warp-specialised: a TMA producer and two consumer warpgroups handing tiles
        /// over with mbarriers (sm_90a and a driver with tensor maps).
        case wgmma3
        /// wgmma3 with the two consumers taking turns to issue their GEMMs (FlashAttention-3's
        /// ping-pong: one's softmax overlaps the other's GEMMs); fp8 attention follows this choice too.
        case wgmma3pp

        /// Whether the warp-specialised kernels (bf16 and fp8) run their consumers' ping-pong.
        var pingPong: Bool { self == .wgmma3pp }
    }

    /// What the last ops ran, for checks and reports (guarded by the backend's `status` lock).
    struct RunStatus {
        var lastFlashKernel: FlashKernel?
        var lastAttentionFP8 = false
        var lastFP8Path = ""
        var fp8GemmFailure = ""
        var fp8NoticeShown = false
        var fp8OuterUnsupported = false
        var fp8AmaxUnsupported = false
        /// cuBLASLt refused an e4m3 D with C named by D's address: a scratch C is passed instead.
        var fp8E4M3OutputScratchC = false
        /// An fp8 GEMM with an e4m3 D failed: delayed scales are not used in this process.
        var fp8DelayedUnsupported = false
        var lastCaptureFailure = ""
    }

    /// The backend's knobs; setting it affects ops started afterwards.
    public var configuration: Configuration {
        get { knobs.withLock { $0 } }
        set { knobs.withLock { $0 = newValue } }
    }

    /// Which flash kernel runs for head size 128 (see `Configuration.flashKernel`).
    public var flashKernel: FlashKernel {
        get { configuration.flashKernel }
        set { knobs.withLock { $0.flashKernel = newValue } }
    }
    /// Whether `fp8Linear` may use fp8 tensor cores (see `Configuration.allowFP8TensorCores`).
    public var allowFP8TensorCores: Bool {
        get { configuration.allowFP8TensorCores }
        set { knobs.withLock { $0.allowFP8TensorCores = newValue } }
    }
    /// The largest im2col buffer a convolution makes (see `Configuration.im2colBytes`).
    public var im2colBytes: Int {
        get { configuration.im2colBytes }
        set { knobs.withLock { $0.im2colBytes = Swift.max(1, newValue) } }
    }
    /// Whether kernels and GEMMs are timed (see `Configuration.profiling`).
    public var profiling: Bool {
        get { configuration.profiling }
        set { knobs.withLock { $0.profiling = newValue } }
    }

    /// The flash kernel the last flash attention ran (what `flashKernel` asked for, or its fallback).
    public internal(set) var lastFlashKernel: FlashKernel? {
        get { status.withLock { $0.lastFlashKernel } }
        set { status.withLock { $0.lastFlashKernel = newValue } }
    }
    /// Whether the last head-size-128 flash attention ran the fp8 kernel (`Configuration.fp8Attention`).
    public internal(set) var lastAttentionFP8: Bool {
        get { status.withLock { $0.lastAttentionFP8 } }
        set { status.withLock { $0.lastAttentionFP8 = newValue } }
    }
    /// Whether head-size-128 attention without a mask runs on the e4m3 tensor cores (see
    /// `Configuration.fp8Attention`).
    public var fp8Attention: Bool {
        get { configuration.fp8Attention }
        set { knobs.withLock { $0.fp8Attention = newValue } }
    }
    /// True where the fp8 attention kernel was compiled (sm_90a) and the driver makes tensor maps.
    public var fp8AttentionAvailable: Bool { hasFunction("flash_wg3_fp8_d128") && driver.cuTensorMapEncodeTiled != nil }
    /// How the last `fp8Linear` ran ("fp8 tensor cores ..." or "dequantised to bf16"), for reports.
    public internal(set) var lastFP8Path: String {
        get { status.withLock { $0.lastFP8Path } }
        set { status.withLock { $0.lastFP8Path = newValue } }
    }
    /// Why the last fp8 tensor-core GEMM could not run (cuBLASLt's status), for the notice and reports.
    public internal(set) var fp8GemmFailure: String {
        get { status.withLock { $0.fp8GemmFailure } }
        set { status.withLock { $0.fp8GemmFailure = newValue } }
    }
}

extension CUDABackend.Configuration {
    /// `flashStages` within what the kernels take (2 ... 4; `FLASH_STAGES_MAX` in the kernel source).
    var flashStagesClamped: Int { Swift.min(4, Swift.max(2, flashStages)) }
}
