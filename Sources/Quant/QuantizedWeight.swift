#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tensor

/// A 2-D (out, in) weight stored in a compact format with absmax scales next to it.
///
/// Element (r, c) is `decode(data[r, c]) * scale(r, c)`, where the scale is one value for the tensor,
/// one per row (output channel) or one per block of `n` columns of a row. The weight is never expanded
/// to f32 as a whole: consumers decode a bounded panel of rows at a time (`dequantizeRows`).
/// Unquantized bf16/f16/f32 weights are represented too (`format` .bf16/.f16/.f32, no scale), so one
/// type serves every Linear layer.
public struct QuantizedWeight: Sendable {
    /// Storage format of `data`.
    public let format: QuantFormat
    /// Scale granularity (`.none` for plain casts and unquantized weights).
    public let granularity: ScaleGranularity
    /// Output features (rows).
    public let rows: Int
    /// Input features (columns).
    public let columns: Int
    /// Stored elements, contiguous host tensor: [rows, columns] of `format.storageDType`
    /// (int4: [rows, ceil(columns / 2)] bytes).
    public let data: Tensor
    /// f32 scales, contiguous: shape [] (tensor), [rows] (channel) or [rows, blocks] (block); nil for `.none`.
    public let scales: Tensor?
    /// A static activation scale carried by some fp8 checkpoints (ComfyUI `scale_input` / `input_scale`).
    /// Kept for fp8 activation paths; the f32 CPU Linear does not need it.
    public var inputScale: Float?

    /// Wraps already quantized data; checks that shapes, dtypes and the granularity agree.
    /// `scales` may be any float dtype and any shape with the right element count; it is stored as f32.
    public init(format: QuantFormat, granularity: ScaleGranularity, rows: Int, columns: Int,
                data: Tensor, scales: Tensor?, inputScale: Float? = nil) throws {
        guard rows >= 0, columns >= 0 else { throw TensorError.invalidArgument("negative weight shape \(rows)x\(columns)") }
        let dataShape = [rows, format == .int4 ? (columns + 1) / 2 : columns]
        guard data.dtype == format.storageDType || (format == .int8 && data.dtype == .u8) else {
            throw TensorError.invalidArgument("\(format) weight data has dtype \(data.dtype), expected \(format.storageDType)")
        }
        guard data.shape == dataShape || (data.count == rows * dataShape[1] && data.rank <= 2) else {
            throw TensorError.shapeMismatch("\(format) weight data \(data.shape) for a \(rows)x\(columns) weight (expected \(dataShape))")
        }
        if case .block(let n) = granularity, n < 2 || n % 2 != 0 {
            throw TensorError.invalidArgument("block size \(n) must be even and at least 2")
        }
        if format.isInteger && granularity == .none {
            throw TensorError.invalidArgument("\(format) needs a scale (tensor, channel or block:N)")
        }
        if !format.isQuantized && granularity != .none {
            throw TensorError.invalidArgument("unquantized \(format) weights carry no scale")
        }
        let expected = granularity.scaleCount(rows: rows, columns: columns)
        if let s = scales {
            guard s.dtype.isFloatingPoint, s.count == expected, granularity != .none else {
                throw TensorError.shapeMismatch("scales \(s.shape) (\(s.dtype)) do not fit \(granularity) scales of a \(rows)x\(columns) weight")
            }
            self.scales = s.to(.f32).contiguous().reshaped(granularity.scaleShape(rows: rows, columns: columns)!)
        } else {
            guard granularity == .none else { throw TensorError.invalidArgument("\(granularity) weight without scales") }
            self.scales = nil
        }
        self.format = format
        self.granularity = granularity
        self.rows = rows
        self.columns = columns
        self.data = data.contiguous().reshaped(dataShape)
        self.inputScale = inputScale
        guard data.device == .cpu else { throw TensorError.invalidArgument("quantized weights live in host memory") }
    }

    /// Wraps a plain 2-D weight (bf16, f16, f32, or an unscaled float8 tensor such as those of
    /// DiffSynth-style fp8 checkpoints) without copying it.
    public init(plain w: Tensor) throws {
        guard w.rank == 2 else { throw TensorError.shapeMismatch("a Linear weight must be 2-D, got \(w.shape)") }
        guard let f = QuantFormat(plain: w.dtype) else {
            throw TensorError.invalidArgument("dtype \(w.dtype) cannot hold a Linear weight")
        }
        try self.init(format: f, granularity: .none, rows: w.shape[0], columns: w.shape[1], data: w, scales: nil)
    }

    /// Bytes held: stored elements plus scales.
    public var byteCount: Int { rows * format.rowBytes(columns: columns) + (scales?.count ?? 0) * 4 }

    /// Columns per scale block (the whole row for tensor/channel/none).
    @inlinable public var blockSize: Int {
        if case .block(let n) = granularity { return n }
        return max(columns, 1)
    }

    /// The scale of row `r`, block `b` (1 for `.none`).
    @inlinable
    public func scale(row r: Int, block b: Int) -> Float {
        guard let s = scales else { return 1 }
        let p = s.rawPointer.assumingMemoryBound(to: Float.self)
        switch granularity {
        case .none: return 1
        case .tensor: return p[0]
        case .channel: return p[r]
        case .block(let n): return p[r * ((columns + n - 1) / n) + b]
        }
    }

    /// Decodes rows `range` into `dst` as row-major f32 [range.count, columns]. Runs on the calling
    /// thread; see `dequantizeRows(_:into:)` for the threaded version.
    @inlinable
    public func dequantizeRowsSerial(_ range: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) out of 0..<\(rows)")
        let rowBytes = format.rowBytes(columns: columns)
        let base = UnsafeRawPointer(data.rawPointer)
        let bs = blockSize
        let elemBytes = format == .int4 ? 0 : format.storageDType.byteSize
        for r in range {
            let src = base + r * rowBytes
            let out = dst + (r - range.lowerBound) * columns
            var c = 0, b = 0
            while c < columns {
                let n = min(bs, columns - c)
                let off = format == .int4 ? c / 2 : c * elemBytes
                QuantKernels.dequantize(src + off, format: format, count: n, scale: scale(row: r, block: b), into: out + c)
                c += n; b += 1
            }
        }
    }

    /// Decodes rows `range` into `dst` as row-major f32 [range.count, columns], using all cores.
    public func dequantizeRows(_ range: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        let grain = max(1, 32768 / max(columns, 1))
        CPUBackend.shared.parallel.forEach(range.count, grain: grain) { sub in
            dequantizeRowsSerial((range.lowerBound + sub.lowerBound)..<(range.lowerBound + sub.upperBound),
                                 into: dst + sub.lowerBound * columns)
        }
    }

    /// The whole weight as a new f32 tensor [rows, columns]. For tests and small weights only:
    /// Linear layers decode panels instead.
    public func dequantized() -> Tensor {
        let out = CPUBackend.shared.empty([rows, columns], .f32)
        dequantizeRows(0..<rows, into: out.rawPointer.assumingMemoryBound(to: Float.self))
        return out
    }
}
