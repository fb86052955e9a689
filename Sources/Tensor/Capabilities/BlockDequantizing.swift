/// The ggml block formats a backend may hold weights in (GGUF's quantized tensor types). Quant's
/// `GGMLType` maps onto these; Tensor names them so that a backend can adopt `BlockDequantizing`
/// without depending on Quant.
public enum BlockQuantFormat: String, Sendable, CaseIterable {
    case q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K

    /// Elements per block (ggml's QK8_0 = QK4_0 = ... = 32, QK_K = 256).
    public var blockSize: Int {
        switch self {
        case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: return 256
        }
    }

    /// Bytes per block (ggml's `GGML_QUANT_SIZES`).
    public var blockBytes: Int {
        switch self {
        case .q8_0: return 34
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        }
    }

    /// Bytes of one row of `columns` elements (`columns` a multiple of `blockSize`).
    public func rowBytes(columns: Int) -> Int { columns / blockSize * blockBytes }
}

/// A backend that keeps weights in a ggml block format in its own memory and expands them itself,
/// one layer at a time, when a Linear runs (`GGUFLinear` in Models): the model stays 2-8 bit in
/// memory; only the layer being multiplied exists in the compute dtype, transiently.
///
/// Adopted by `CUDABackend` (CUDA/CUDABackend+BlockDequantizing.swift). On the CPU, `GGUFLinear`
/// uses Quant's block kernels instead (Tensor cannot see Quant).
public protocol BlockDequantizing: Backend {
    /// The dense (rows, columns) matrix, in `dtype`, of `blocks`: a u8 tensor of
    /// rows * format.rowBytes(columns:) bytes in this backend's memory, rows stored one after another
    /// as ggml stores them. Values are exactly ggml's dequantisation (`dequantize_row_*`) rounded
    /// once to `dtype`.
    func dequantizeBlocks(_ blocks: Tensor, format: BlockQuantFormat, rows: Int, columns: Int, dtype: DType) -> Tensor
}

/// A backend that also expands ggml blocks straight into per-tensor e4m3 codes for its fp8 GEMM
/// (`FP8GEMM.fp8Linear`): a GGUF layer then runs on fp8 tensor cores, the dense matrix never
/// existing, at the cost of e4m3's rounding on top of the format's own.
///
/// Adopted by `CUDABackend` on GPUs with fp8 tensor cores (CUDA/CUDABackend+BlockDequantizing.swift).
public protocol BlockFP8Expanding: BlockDequantizing, FP8GEMM {
    /// Whether this device runs the fp8 GEMM on tensor cores (otherwise expanding to e4m3 only adds error).
    var expandsBlocksToFP8: Bool { get }
    /// e4m3 codes (rows, columns) of the expanded blocks and their f32 scales (amax / 448; `scale`
    /// when given, as a weight's amax never changes): one for the tensor, or with `perRow` one per
    /// row (output channel), which `fp8Linear` takes as per-channel scales.
    func blocksToE4M3(_ blocks: Tensor, format: BlockQuantFormat, rows: Int, columns: Int, scale: Tensor?,
                      perRow: Bool) -> (codes: Tensor, scale: Tensor)
}

extension BlockFP8Expanding {
    /// `blocksToE4M3` with one scale for the whole tensor.
    public func blocksToE4M3(_ blocks: Tensor, format: BlockQuantFormat, rows: Int, columns: Int,
                             scale: Tensor?) -> (codes: Tensor, scale: Tensor) {
        blocksToE4M3(blocks, format: format, rows: rows, columns: columns, scale: scale, perRow: false)
    }
}
