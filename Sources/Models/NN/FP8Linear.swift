import Tensor

/// A Linear with its weight as float8 e4m3 `codes` (out, in) and an f32 `scale` (1 or out), in the
/// memory of a backend that multiplies by them itself (`FP8GEMM`: CUDA's fp8 tensor cores).
public struct FP8Linear: LinearLayer {
    public var codes: Tensor
    public var scale: Tensor
    public var bias: Tensor?

    public init(codes: Tensor, scale: Tensor, bias: Tensor?) {
        self.codes = codes
        self.scale = scale
        self.bias = bias
    }

    public mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.parameter("weight", &codes)
        try v.parameter("weight_scale", &scale)
        try v.parameter("bias", &bias)
    }

    public var inFeatures: Int { codes.shape[1] }
    public var outFeatures: Int { codes.shape[0] }

    /// The backend that runs the GEMM. Loading makes an `FP8Linear` only for a backend that adopts
    /// `FP8GEMM`, and the inputs live on the same backend.
    private func gemm(_ x: Tensor) -> any FP8GEMM {
        guard let b = x.backend as? any FP8GEMM else {
            preconditionFailure("an fp8 Linear ran on \(x.backend.name), which has no fp8 GEMM")
        }
        return b
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        gemm(x).fp8Linear(x, codes: codes, scale: scale, bias: bias, gelu: false, into: nil, ldc: nil)
    }

    public func geluTanh(_ x: Tensor) -> Tensor {
        gemm(x).fp8Linear(x, codes: codes, scale: scale, bias: bias, gelu: true, into: nil, ldc: nil)
    }

    /// Row slices need one scale for the whole tensor (a per-channel scale would need slicing too).
    public func rows(_ start: Int, _ end: Int) -> (any LinearLayer)? {
        guard scale.count == 1 else { return nil }
        return FP8Linear(codes: codes.slice(dim: 0, start: start, end: end), scale: scale,
                         bias: bias?.slice(dim: 0, start: start, end: end))
    }

    public func concatGeluTanh(_ prefix: Tensor, _ x: Tensor) -> Tensor {
        gemm(x).fp8ConcatLinearGeluTanh(prefix, x, codes: codes, scale: scale, bias: bias)
    }

    public func accumulate(_ x: Tensor, into out: Tensor, ldc: Int, gelu: Bool) -> Bool {
        guard let acc = out.backend as? any LinearAccumulating else { return false }
        return acc.fp8Linear(x, codes: codes, scale: scale, bias: bias, gelu: gelu, into: out, ldc: ldc, accumulate: true)
    }
}
