/// A backend that multiplies by float8 e4m3 weights itself (fp8 tensor cores, or dequantising on
/// the fly): `--precision fp8` then keeps the DiT's block Linears as e4m3 codes plus an f32 scale in
/// its memory (`FP8Linear` in Models) instead of running Quant's CPU kernels.
///
/// Adopted by `CUDABackend` (CUDA/CUDABackend+FP8.swift); a test backend emulates it on the CPU.
public protocol FP8GEMM: Backend {
    /// `x` quantised per tensor to e4m3: codes of `x`'s shape and a one-element f32 scale, both in
    /// this backend's memory, with x ≈ codes * scale.
    func quantizeTensorE4M3(_ x: Tensor) -> (codes: Tensor, scale: Tensor)
    /// y = (x W^T) [+ bias] [-> tanh-GELU] with W as e4m3 `codes` (N, K) and f32 `scale` (N or 1);
    /// `into`/`ldc` write y into a wider matrix's right-hand columns (nil: a new tensor).
    func fp8Linear(_ x: Tensor, codes: Tensor, scale: Tensor, bias: Tensor?, gelu: Bool,
                   into: Tensor?, ldc: Int?) -> Tensor
    /// [prefix | gelu_tanh(x W^T + b)] along the last dimension, the GEMM writing its GELU output
    /// straight into the right-hand columns (Flux single blocks).
    func fp8ConcatLinearGeluTanh(_ prefix: Tensor, _ x: Tensor, codes: Tensor, scale: Tensor, bias: Tensor?) -> Tensor
}
