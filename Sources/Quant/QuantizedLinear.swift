#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import COpenBLAS
import Tensor

/// A Linear layer over a `QuantizedWeight`: y = x · dequant(W)^T + b on the CPU.
///
/// The weight is decoded a panel of rows (output features) at a time into a reusable f32 buffer of at
/// most `panelBytes` bytes, and each panel is multiplied with OpenBLAS `sgemm` straight into its
/// columns of the output, so no f32 copy of the whole weight ever exists.
///
/// `precision` picks the numerics: `.f32` (default) computes everything in f32 and returns f32;
/// `.bf16` reproduces a bf16 Linear (as PyTorch/ComfyUI run one): x and the dequantized weight
/// (`bf16(decode(q) * scale)`) are rounded to bf16, products accumulate in f32, the bias is added and
/// the result is rounded to a bf16 tensor. This OpenBLAS build has no bf16 GEMM (`sbgemm`), so the
/// bf16 mode costs the same as f32; it exists for parity with bf16 reference pipelines.
public struct QuantizedLinear: Sendable {
    /// Arithmetic of the layer.
    public enum Precision: Sendable { case f32, bf16 }

    /// The weight, (out, in).
    public let weight: QuantizedWeight
    /// Optional f32 bias [out].
    public let bias: Tensor?
    /// Upper bound on the f32 panel buffer in bytes (at least one row is always decoded).
    public var panelBytes: Int
    /// f32 (default) or bf16 numerics; see the type's notes.
    public var precision: Precision = .f32

    /// Default panel budget: 16 MiB of f32 (1365 rows of a 3072-wide weight). Each sgemm call repacks
    /// x, so fewer, larger panels are faster (measured: 2 MiB 1.42x, 8 MiB 1.15x, 16 MiB 1.10x,
    /// 64 MiB 1.04x the time of one whole-weight f32 sgemm at M=4096, K=N=3072); 16 MiB stays small
    /// next to the activations.
    public static let defaultPanelBytes = 16 << 20

    /// Makes the layer; `bias` (any float dtype, `out` elements) is converted to f32 once.
    public init(weight: QuantizedWeight, bias: Tensor? = nil, panelBytes: Int = QuantizedLinear.defaultPanelBytes) throws {
        if let b = bias, b.count != weight.rows || !b.dtype.isFloatingPoint {
            throw TensorError.shapeMismatch("bias \(b.shape) (\(b.dtype)) for a Linear with \(weight.rows) outputs")
        }
        self.weight = weight
        self.bias = bias.map { $0.to(.f32).contiguous().reshaped([weight.rows]) }
        self.panelBytes = panelBytes
    }

    /// Rows of the weight decoded per panel.
    public var panelRows: Int { max(1, min(weight.rows, panelBytes / max(1, weight.columns * 4))) }

    /// Applies the layer to x (..., in) of any float dtype; returns (..., out) in f32 (or bf16 for
    /// `precision == .bf16`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let k = weight.columns, n = weight.rows
        precondition(x.rank >= 1 && x.shape[x.rank - 1] == k, "Linear input \(x.shape) does not end in \(k)")
        precondition(x.device == .cpu, "QuantizedLinear runs on host tensors")
        let bf16 = precision == .bf16
        let xf = bf16 ? x.to(.bf16).to(.f32) : x.to(.f32).contiguous()
        let m = xf.count / max(k, 1)
        let out = CPUBackend.shared.empty(Array(x.shape.dropLast()) + [n], .f32)
        let y = out.rawPointer.assumingMemoryBound(to: Float.self)
        if m == 0 || n == 0 { return bf16 ? out.to(.bf16) : out }
        if k == 0 {
            for i in 0..<m { fillBias(y + i * n, n, bf16) }
            return bf16 ? out.to(.bf16) : out
        }
        let a = UnsafePointer(xf.rawPointer.assumingMemoryBound(to: Float.self))
        var beta: Float = 0
        if bias != nil {
            CPUBackend.shared.parallel.forEach(m, grain: max(1, 16384 / n)) { r in for i in r { fillBias(y + i * n, n, bf16) } }
            beta = 1
        }
        let pr = panelRows
        let panel = UnsafeMutablePointer<Float>.allocate(capacity: pr * k)
        defer { panel.deallocate() }
        var n0 = 0
        while n0 < n {
            let nb = min(pr, n - n0)
            weight.dequantizeRows(n0..<(n0 + nb), into: panel)
            if bf16 { Self.roundToBF16(panel, nb * k) }
            // y[:, n0..<n0+nb] (+)= x (m x k) · panel^T (k x nb)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(nb), Int32(k),
                        1, a, Int32(k), panel, Int32(k), beta, y + n0, Int32(n))
            n0 += nb
        }
        return bf16 ? out.to(.bf16) : out
    }

    /// Rounds `count` f32 values in place to the nearest bf16 (ties to even), in parallel.
    static func roundToBF16(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        CPUBackend.shared.parallel.forEach(count, grain: 1 << 16) { r in
            for i in r { p[i] = BFloat16.float(fromBits: BFloat16.bits(from: p[i])) }
        }
    }

    private func fillBias(_ row: UnsafeMutablePointer<Float>, _ n: Int, _ bf16: Bool) {
        if let b = bias {
            let src = b.rawPointer.assumingMemoryBound(to: Float.self)
            if bf16 {
                for i in 0..<n { row[i] = BFloat16.float(fromBits: BFloat16.bits(from: src[i])) }
            } else {
                row.update(from: src, count: n)
            }
        } else {
            row.initialize(repeating: 0, count: n)
        }
    }
}
