/// A backend whose GEMM can add into an existing output (beta = 1) and apply bias and GELU after
/// the sum, writing into a column block of a wider buffer: out = [gelu](x Wᵀ + b + out). A LoRA
/// beside a layer then writes its update first and the layer's own GEMM adds to it, keeping the
/// layer's fused epilogue (GELU, the single blocks' [attention | MLP] buffer) and costing no extra
/// pass over the output. Backends without it compute the update apart and add with `+`.
/// Adopted by `CUDABackend`.
public protocol LinearAccumulating: Backend {
    /// An uninitialised tensor of `shape` in the compute dtype.
    func uninitialized(_ shape: [Int]) -> Tensor
    /// Copies `x` into `view` (a column block of a wider buffer from `uninitialized`).
    func copy(_ x: Tensor, into view: Tensor)
    /// out = [gelu](x Wᵀ + b [+ out]) with `out` (..., N) a view in the compute dtype whose rows lie
    /// `ldc` elements apart; `accumulate` adds to what it holds.
    func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, gelu: Bool, into out: Tensor, ldc: Int, accumulate: Bool)
    /// The same with e4m3 weight `codes` and `scale` (an `FP8GEMM` backend). Returns false, writing
    /// nothing, when this GEMM cannot add into its output (then the caller adds itself).
    func fp8Linear(_ x: Tensor, codes: Tensor, scale: Tensor, bias: Tensor?, gelu: Bool, into out: Tensor, ldc: Int,
                   accumulate: Bool) -> Bool
}
