#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import COpenBLAS
import Tensor

/// A Linear layer over ggml blocks kept as stored: y = x · dequant(W)^T + b on the CPU, without ever
/// holding the dense weight.
///
/// As `QuantizedLinear` does for int8/int4, the weight is decoded a panel of rows (output features)
/// at a time, split across the cores, into a reusable f32 buffer of at most `panelBytes`, and each
/// panel is multiplied with OpenBLAS `sgemm` into its columns of the output. Decoded values are
/// exactly `GGUFDequantize`'s (ggml's `dequantize_row_*`), so the result equals a dense f32 Linear
/// over the dequantized weight up to the GEMM's own summation order.
public struct GGUFBlockLinear: @unchecked Sendable {
    // unchecked: `blocks` and `bias` are immutable host tensors; the layer only reads them.

    /// The ggml type of the blocks.
    public let type: GGMLType
    /// u8 [rows, rowBytes]: the rows of the weight one after another, as ggml stores them.
    public let blocks: Tensor
    /// Output features (rows of W).
    public let rows: Int
    /// Input features (columns of W); a multiple of the type's block size.
    public let columns: Int
    /// Optional f32 bias [rows].
    public let bias: Tensor?
    /// Upper bound on the f32 panel buffer in bytes (at least one row is always decoded).
    public var panelBytes: Int = QuantizedLinear.defaultPanelBytes

    /// Makes the layer. Throws when the type cannot be decoded, `columns` is not whole blocks, or
    /// `blocks` / `bias` do not have the sizes the shape asks for.
    public init(type: GGMLType, blocks: Tensor, rows: Int, columns: Int, bias: Tensor? = nil) throws {
        guard type.isDequantizable, type.blockSize > 1 else {
            throw TensorError.invalidArgument("\(type) is not a ggml block type this library multiplies (supported: \(GGMLType.dequantizable.filter { $0.blockSize > 1 }.map(\.name).joined(separator: ", ")))")
        }
        guard rows >= 0, let rowBytes = type.rowBytes(columns) else {
            throw TensorError.shapeMismatch("\(columns) columns are not whole \(type) blocks of \(type.blockSize)")
        }
        guard blocks.dtype == .u8, blocks.count == rows * rowBytes, blocks.device == .cpu else {
            throw TensorError.shapeMismatch("\(type) blocks \(blocks.shape) (\(blocks.dtype)) for a \(rows)x\(columns) weight: expected \(rows * rowBytes) host bytes")
        }
        if let b = bias, b.count != rows || !b.dtype.isFloatingPoint {
            throw TensorError.shapeMismatch("bias \(b.shape) (\(b.dtype)) for a Linear with \(rows) outputs")
        }
        self.type = type
        self.blocks = blocks.contiguous()
        self.rows = rows
        self.columns = columns
        self.bias = bias.map { $0.device == .cpu ? $0.to(.f32).contiguous().reshaped([rows]) : $0.moved(to: CPUBackend.shared).to(.f32).contiguous().reshaped([rows]) }
    }

    /// Bytes of one stored row.
    public var rowBytes: Int { columns / type.blockSize * type.typeSize }

    /// Rows of the weight decoded per panel.
    public var panelRows: Int { max(1, min(rows, panelBytes / max(1, columns * 4))) }

    /// Decodes rows `range` into `dst` as row-major f32 [range.count, columns], using all cores.
    public func dequantizeRows(_ range: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) out of 0..<\(rows)")
        let perRow = columns / type.blockSize, rb = rowBytes, cols = columns, t = type
        let base = Int(bitPattern: UnsafeRawPointer(blocks.rawPointer)), out = Int(bitPattern: dst)
        // About 32k elements per task, as QuantizedWeight.dequantizeRows.
        CPUBackend.shared.parallel.forEach(range.count, grain: max(1, 32768 / max(cols, 1))) { sub in
            let src = UnsafeRawPointer(bitPattern: base)! + (range.lowerBound + sub.lowerBound) * rb
            let y = UnsafeMutablePointer<Float>(bitPattern: out)! + sub.lowerBound * cols
            // Rows are contiguous blocks: the whole sub-range is one run of blocks.
            GGUFDequantize.dequantizeBlocks(t, from: src, blocks: 0..<(sub.count * perRow), into: y)
        }
    }

    /// The whole weight as a new f32 tensor [rows, columns] (tests and small weights).
    public func dequantized() -> Tensor {
        let out = CPUBackend.shared.empty([rows, columns], .f32)
        if rows > 0 && columns > 0 { dequantizeRows(0..<rows, into: out.rawPointer.assumingMemoryBound(to: Float.self)) }
        return out
    }

    /// Applies the layer to x (..., columns) of any float dtype on the host; returns (..., rows) f32.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let k = columns, n = rows
        precondition(x.rank >= 1 && x.shape[x.rank - 1] == k, "Linear input \(x.shape) does not end in \(k)")
        precondition(x.device == .cpu, "GGUFBlockLinear runs on host tensors")
        let xf = x.to(.f32).contiguous()
        let m = xf.count / max(k, 1)
        let out = CPUBackend.shared.empty(Array(x.shape.dropLast()) + [n], .f32)
        let y = out.rawPointer.assumingMemoryBound(to: Float.self)
        if m == 0 || n == 0 { return out }
        var beta: Float = 0
        if let b = bias {
            let src = b.rawPointer.assumingMemoryBound(to: Float.self)
            let yi = Int(bitPattern: y), si = Int(bitPattern: src)
            CPUBackend.shared.parallel.forEach(m, grain: max(1, 16384 / n)) { r in
                let y = UnsafeMutablePointer<Float>(bitPattern: yi)!, s = UnsafePointer<Float>(bitPattern: si)!
                for i in r { (y + i * n).update(from: s, count: n) }
            }
            beta = 1
        }
        if k == 0 {
            if bias == nil { y.initialize(repeating: 0, count: m * n) }
            return out
        }
        let a = UnsafePointer(xf.rawPointer.assumingMemoryBound(to: Float.self))
        let pr = panelRows
        let panel = UnsafeMutablePointer<Float>.allocate(capacity: pr * k)
        defer { panel.deallocate() }
        var n0 = 0
        while n0 < n {
            let nb = min(pr, n - n0)
            dequantizeRows(n0..<(n0 + nb), into: panel)
            // y[:, n0..<n0+nb] (+)= x (m x k) · panel^T (k x nb)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(nb), Int32(k),
                        1, a, Int32(k), panel, Int32(k), beta, y + n0, Int32(n))
            n0 += nb
        }
        return out
    }
}

extension GGMLType {
    /// The ggml block type as Tensor's `BlockQuantFormat` (what a `BlockDequantizing` backend keeps);
    /// nil for plain and unsupported types.
    public var blockQuantFormat: BlockQuantFormat? {
        switch self {
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q2_K: return .q2_K
        case .q3_K: return .q3_K
        case .q4_K: return .q4_K
        case .q5_K: return .q5_K
        case .q6_K: return .q6_K
        default: return nil
        }
    }

    /// The ggml type of a `BlockQuantFormat`.
    public init(_ format: BlockQuantFormat) {
        switch format {
        case .q8_0: self = .q8_0
        case .q4_0: self = .q4_0
        case .q4_1: self = .q4_1
        case .q5_0: self = .q5_0
        case .q5_1: self = .q5_1
        case .q2_K: self = .q2_K
        case .q3_K: self = .q3_K
        case .q4_K: self = .q4_K
        case .q5_K: self = .q5_K
        case .q6_K: self = .q6_K
        }
    }
}
