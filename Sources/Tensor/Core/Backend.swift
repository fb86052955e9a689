/// Elementwise functions of one tensor.
public enum UnaryOp: String, Sendable, CaseIterable {
    case neg, exp, log, sqrt, rsqrt, abs, square, tanh, sigmoid, silu
    /// GELU with the exact erf form: x * 0.5 * (1 + erf(x / sqrt 2)).
    case gelu
    /// GELU with the tanh approximation (PyTorch `approximate="tanh"`), used by Flux and T5.
    case geluTanh
    /// x * sigmoid(1.702 x), used by CLIP.
    case quickGelu
    case sin, cos, erf
}

/// Elementwise functions of two tensors with numpy/PyTorch broadcasting.
public enum BinaryOp: String, Sendable, CaseIterable {
    case add, sub, mul, div, maximum, minimum, pow
}

/// Reductions over a set of dimensions.
public enum ReduceOp: String, Sendable, CaseIterable {
    case sum, mean, max, min
}

/// The kernels a device provides. Each public op checks its arguments once, then calls exactly one
/// of these requirements, so dispatch costs one existential call per op, never per element.
///
/// Unless a requirement says otherwise, floating inputs of any float dtype are accepted and the
/// result is `f32` on the CPU backend; shapes have already been validated by the op layer.
public protocol Backend: AnyObject, Sendable {
    /// The device this backend's memory lives on.
    var device: Device { get }
    /// A short name for messages ("cpu", "cuda:0").
    var name: String { get }

    /// Uninitialised memory for `byteCount` bytes.
    func allocate(byteCount: Int) -> Storage
    /// Copies `count` bytes from host memory into `storage` at `byteOffset`.
    func upload(_ source: UnsafeRawPointer, count: Int, to storage: Storage, byteOffset: Int)
    /// Copies `count` bytes from `storage` at `byteOffset` into host memory.
    func download(_ storage: Storage, byteOffset: Int, count: Int, into destination: UnsafeMutableRawPointer)
    /// The first error met inside an op since the last call (a failed device allocation or launch),
    /// clearing it; nil when all went well. Ops cannot throw, so a backend that can fail keeps the
    /// error (and skips later work) until a caller takes it: see `throwIfFaulted()`.
    func takeFault() -> (any Error)?

    /// A row-major copy of any strided view (same dtype).
    func contiguous(_ x: Tensor) -> Tensor
    /// Elementwise dtype conversion (rounding to nearest even for narrowing float conversions).
    func convert(_ x: Tensor, to dtype: DType) -> Tensor

    /// `op(x)` elementwise.
    func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor
    /// `op(a, b)` elementwise; `a` and `b` are already expanded to the same shape (strides may be 0).
    func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor
    /// `a * scale + shift` elementwise with scalars.
    func affine(_ x: Tensor, scale: Float, shift: Float) -> Tensor

    /// Batched matrix product: a (batch..., M, K) x b (batch..., K, N) -> (batch..., M, N).
    /// Batch dims are already broadcast to the same shape. Transposed operands arrive as strided views.
    func matmul(_ a: Tensor, _ b: Tensor) -> Tensor
    /// y = x W^T + bias, x (..., in), weight (out, in), bias (out).
    func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor

    /// Reduces over `dims` (sorted, distinct), keeping them as size 1 when `keepDims`.
    func reduce(_ op: ReduceOp, _ x: Tensor, dims: [Int], keepDims: Bool) -> Tensor
    /// Softmax along `dim`.
    func softmax(_ x: Tensor, dim: Int) -> Tensor

    /// LayerNorm over the last dimension; weight and bias optional (nil = no affine).
    func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor
    /// RMSNorm over the last dimension: x / sqrt(mean(x^2) + eps) * weight.
    func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor
    /// GroupNorm over (N, C, ...): statistics per (n, group).
    func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor
    /// GroupNorm followed by SiLU (x * sigmoid(x)), as VAE ResNet blocks use it. Optional: the default
    /// implementation (below) runs `groupNorm` then `unary(.silu)`; a backend may fuse the two passes.
    func groupNormSiLU(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor

    /// 2-D convolution, x (N, Cin, H, W), weight (Cout, Cin/groups, kh, kw), padding (top, bottom, left, right).
    func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int),
                padding: (top: Int, bottom: Int, left: Int, right: Int), groups: Int) -> Tensor
    /// Nearest-neighbour 2x upsampling of (N, C, H, W).
    func upsampleNearest2x(_ x: Tensor) -> Tensor

    /// Rows of `table` (V, D) picked by integer `indices` (any shape) -> (indices.shape..., D).
    func embedding(_ table: Tensor, indices: Tensor) -> Tensor
    /// Concatenation along `dim` (inputs share all other sizes and one dtype).
    func concat(_ xs: [Tensor], dim: Int) -> Tensor

    /// softmax(q k^T * scale + mask) v for q (B, H, Lq, D), k and v (B, H, Lk, D), mask broadcastable
    /// to (B, H, Lq, Lk) and added to the scores. Memory-bounded: score matrices are built a block of
    /// queries at a time, never for all heads at once.
    func attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor?, scale: Float) -> Tensor

    // Fused ops that only the Flux DiT uses (its modulated norms, gated residuals, GELU MLPs and
    // QK-norm + RoPE), grouped here. Each has a default implementation (below) composed of the ops
    // above, which is what the CPU backend runs; GPU backends override them with one kernel.

    /// LayerNorm (no affine) over the last dim of x (B, L, D), then x * (1 + scale) + shift with
    /// scale and shift (B, D) broadcast over the L tokens.
    func modulatedLayerNorm(_ x: Tensor, shift: Tensor, scale: Tensor, eps: Float) -> Tensor
    /// x + gate * y for x, y (B, L, D) and gate (B, D) broadcast over tokens.
    func gatedResidual(_ x: Tensor, _ y: Tensor, gate: Tensor) -> Tensor
    /// GELU (tanh approximation) of x W^T + bias.
    func linearGeluTanh(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor
    /// concat([prefix, gelu_tanh(x W^T + bias)], dim: -1): a GPU writes the GEMM straight into the
    /// joint buffer (Flux single blocks' [attention | MLP] input to linear2).
    func concatLinearGeluTanh(_ prefix: Tensor, _ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor
    /// Splits fused projections into attention inputs: each stream's `qkv` (B, L_i, 3*H*D) holds
    /// [q | k | v] per token; q and k are RMS-normalised per head with that stream's weights (D), the
    /// streams are joined along the sequence (in order), and q and k are rotated by the rotary tables
    /// `cos`, `sin` (sum L_i, D/2) acting on pairs (x[2i], x[2i+1]). Returns q, k, v as (B, H, sum L_i, D).
    func qkNormRoPE(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                    cos: Tensor, sin: Tensor, eps: Float) -> (q: Tensor, k: Tensor, v: Tensor)
    /// `qkNormRoPE` followed by unmasked attention with scale 1/sqrt(D): (B, sum L_i, H*D). A GPU
    /// running fp8 attention writes Q and K straight in its e4m3 codes here (no bf16 Q, K between).
    func qkNormRoPEAttention(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                             cos: Tensor, sin: Tensor, eps: Float) -> Tensor

    /// Rotary position embedding on interleaved pairs: for x (B, H, L, D) and cos, sin (L, D/2),
    /// out[..., l, 2i] = cos[l, i] x[2i] - sin[l, i] x[2i+1], out[..., l, 2i+1] = sin[l, i] x[2i] + cos[l, i] x[2i+1].
    /// Optional: the default implementation (below) composes it from elementwise ops; a backend may
    /// do it in one pass.
    func rotaryEmbedding(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor
}

extension Backend {
    /// Backends whose ops cannot fail (the CPU's) have no fault to report.
    public func takeFault() -> (any Error)? { nil }

    /// Throws the error an op met since the last check (see `takeFault()`). Callers check at the
    /// boundaries of a unit of work (a stage, a denoising step, a load) so a device failure ends that
    /// unit with the device's own message instead of ending the process.
    public func throwIfFaulted() throws {
        if let e = takeFault() { throw e }
    }

    /// Unfused default of `rotaryEmbedding`: selects, four products, a sum, a difference and a concat.
    public func rotaryEmbedding(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor {
        let (b, h, l, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let pairs = x.reshaped(b, h, l, d / 2, 2)
        let x0 = pairs.select(dim: 4, index: 0), x1 = pairs.select(dim: 4, index: 1)
        let out0 = cos * x0 - sin * x1
        let out1 = sin * x0 + cos * x1
        return concat([out0.unsqueezed(4), out1.unsqueezed(4)], dim: 4).reshaped(b, h, l, d)
    }

    /// Unfused default: `groupNorm` then SiLU.
    public func groupNormSiLU(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        unary(.silu, groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps))
    }
}

/// A backend that can fill its memory straight from a file (a GPU reading a mapped checkpoint through
/// pinned buffers); `Tensor.moved(to:)` uses it for views of a `MappedFile`.
public protocol FileUploading {
    /// Copies `count` bytes of `file` at `fileOffset` into `storage` at `byteOffset`; false when it
    /// could not (nothing is promised about the destination then, and the caller uploads another way).
    func upload(from file: MappedFile, fileOffset: Int, count: Int, to storage: Storage, byteOffset: Int) -> Bool
}
