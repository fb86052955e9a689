import Tensor

/// How far a quantized weight is from its original: the numbers of the per-layer error report.
public struct QuantizationError: Sendable, CustomStringConvertible {
    /// Number of elements compared.
    public var count: Int
    /// ||W - dequant(Wq)||_F / ||W||_F over finite originals (0 when W is all zero).
    public var relativeError: Double
    /// max |W - dequant(Wq)| over finite originals.
    public var maxAbsError: Float
    /// Elements whose dequantized value is NaN although the original was not.
    public var nanCount: Int
    /// Elements whose W / scale lies beyond what rounds into the format's range, so they were saturated,
    /// clamped, made infinite or NaN: |q| > 464 (e4m3fn), |q| >= 61440 (e5m2), q >= 127.5 or q <= -127.5
    /// (int8), q >= 7.5 or q < -8.5 (int4); infinite originals count too.
    public var overflowCount: Int

    /// Compares `quantized` with `original` (same shape), a block of rows at a time.
    public static func measure(original: Tensor, quantized q: QuantizedWeight) -> QuantizationError {
        precondition(original.shape == [q.rows, q.columns], "original \(original.shape) vs quantized \(q.rows)x\(q.columns)")
        let src = original.contiguous()
        let rows = q.rows, cols = q.columns
        let format = q.format
        /// True when x / s does not round into the format's range.
        @inline(__always) func overflows(_ v: Float) -> Bool {
            switch format {
            case .fp8e4m3fn: return !(Swift.abs(v) <= 464)
            case .fp8e5m2: return !(Swift.abs(v) < 61440)
            case .int8: return !(v < 127.5 && v > -127.5)
            case .int4: return !(v < 7.5 && v >= -8.5)
            case .bf16, .f16, .f32: return v.isInfinite
            }
        }
        // Per-row partial results, combined serially afterwards.
        var diff2 = [Double](repeating: 0, count: rows), orig2 = [Double](repeating: 0, count: rows)
        var maxErr = [Float](repeating: 0, count: rows)
        var nans = [Int](repeating: 0, count: rows), overs = [Int](repeating: 0, count: rows)
        let base = UnsafeRawPointer(src.rawPointer)
        let bs = q.blockSize
        diff2.withUnsafeMutableBufferPointer { d2 in orig2.withUnsafeMutableBufferPointer { o2 in
        maxErr.withUnsafeMutableBufferPointer { me in nans.withUnsafeMutableBufferPointer { na in
        overs.withUnsafeMutableBufferPointer { ov in
            CPUBackend.shared.parallel.forEach(rows, grain: max(1, 16384 / max(cols, 1))) { range in
                let w = UnsafeMutablePointer<Float>.allocate(capacity: max(cols, 1))
                let d = UnsafeMutablePointer<Float>.allocate(capacity: max(cols, 1))
                defer { w.deallocate(); d.deallocate() }
                for r in range {
                    QuantKernels.loadFloats(base + r * cols * src.dtype.byteSize, dtype: src.dtype, count: cols, into: w)
                    q.dequantizeRowsSerial(r..<(r + 1), into: d)
                    var sd = 0.0, so = 0.0, m: Float = 0, nn = 0, no = 0
                    for c in 0..<cols {
                        let x = w[c], y = d[c]
                        if x.isNaN { continue }
                        if y.isNaN { nn += 1 }
                        let s = q.scale(row: r, block: c / bs)
                        if overflows(x / s) { no += 1 }
                        if x.isFinite && y.isFinite {
                            let e = Swift.abs(x - y)
                            if e > m { m = e }
                            sd += Double(e) * Double(e)
                            so += Double(x) * Double(x)
                        }
                    }
                    d2[r] = sd; o2[r] = so; me[r] = m; na[r] = nn; ov[r] = no
                }
            }
        }}}}}
        let sd = diff2.reduce(0, +), so = orig2.reduce(0, +)
        return QuantizationError(count: rows * cols, relativeError: so > 0 ? (sd / so).squareRoot() : (sd > 0 ? .infinity : 0),
                                 maxAbsError: maxErr.max() ?? 0, nanCount: nans.reduce(0, +), overflowCount: overs.reduce(0, +))
    }

    public var description: String {
        "rel \(relativeError) maxabs \(maxAbsError) nan \(nanCount) overflow \(overflowCount)"
    }
}
