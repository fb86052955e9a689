import Tensor

extension QuantizedWeight {
    /// Quantizes a 2-D (out, in) float weight of any float dtype.
    ///
    /// Scales are absmax / qmax per tensor, row or block of `n` columns (1 for an all-zero group);
    /// elements are `w / scale` encoded as float8 (round to nearest even, `overflow` rule for e4m3fn),
    /// or `clamp(round(w / scale), -127, 127)` (int8) / `clamp(round(w / scale), -8, 7)` (int4),
    /// rounding ties to even like `torch.round`. Bit-identical to the PyTorch formulas in
    /// Tools/make_quant_fixtures.py. Works row by row: memory is the output plus one f32 row per thread.
    public static func quantize(_ w: Tensor, format: QuantFormat, granularity: ScaleGranularity,
                                overflow: Float8Overflow = .saturate) throws -> QuantizedWeight {
        let scales = try computeScales(w, format: format, granularity: granularity)
        return try quantize(w, format: format, granularity: granularity, scales: scales, overflow: overflow)
    }

    /// The absmax scales `quantize` would use, row-major in the layout of `granularity.scaleShape`
    /// (empty for `.none`). Lets a streaming writer emit scales before the codes.
    public static func computeScales(_ w: Tensor, format: QuantFormat, granularity: ScaleGranularity) throws -> [Float] {
        let p = try Prepared(w, format: format, granularity: granularity)
        if granularity == .none { return [] }
        var amax = [Float](repeating: 0, count: granularity == .tensor ? p.rows : p.rows * p.blocks)
        amax.withUnsafeMutableBufferPointer { am in
            let am = am.baseAddress!
            CPUBackend.shared.parallel.forEach(p.rows, grain: p.grain) { range in
                p.withRows(range) { r, row in
                    if case .block = granularity {
                        for b in 0..<p.blocks {
                            let c = b * p.blockSize
                            am[r * p.blocks + b] = QuantKernels.absmax(row + c, count: min(p.blockSize, p.columns - c))
                        }
                    } else {
                        am[r] = QuantKernels.absmax(row, count: p.columns)
                    }
                }
            }
        }
        if granularity == .tensor {
            return [QuantKernels.scale(amax: amax.reduce(0) { $1 > $0 ? $1 : $0 }, qmax: format.qmax)]
        }
        return amax.map { QuantKernels.scale(amax: $0, qmax: format.qmax) }
    }

    /// Quantizes with given scales (as returned by `computeScales`, or any positive values).
    public static func quantize(_ w: Tensor, format: QuantFormat, granularity: ScaleGranularity, scales scaleValues: [Float],
                                overflow: Float8Overflow = .saturate) throws -> QuantizedWeight {
        let p = try Prepared(w, format: format, granularity: granularity)
        let rows = p.rows, columns = p.columns, bs = p.blockSize, blocks = p.blocks
        guard scaleValues.count == granularity.scaleCount(rows: rows, columns: columns) else {
            throw TensorError.shapeMismatch("\(scaleValues.count) scales for \(granularity) scales of a \(rows)x\(columns) weight")
        }
        let rowBytes = format.rowBytes(columns: columns)
        let out = CPUBackend.shared.empty([rows, format == .int4 ? (columns + 1) / 2 : columns], format.storageDType)
        let outBase = out.rawPointer
        let elemBytes = format.storageDType.byteSize
        scaleValues.withUnsafeBufferPointer { sv in
            let sv = sv.baseAddress
            CPUBackend.shared.parallel.forEach(rows, grain: p.grain) { range in
                p.withRows(range) { r, row in
                    for b in 0..<blocks {
                        let c = b * bs
                        let s: Float
                        switch granularity {
                        case .none: s = 1
                        case .tensor: s = sv![0]
                        case .channel: s = sv![r]
                        case .block: s = sv![r * blocks + b]
                        }
                        let off = format == .int4 ? c / 2 : c * elemBytes
                        QuantKernels.quantize(row + c, count: min(bs, columns - c), scale: s, format: format,
                                              overflow: overflow, into: outBase + r * rowBytes + off)
                    }
                }
            }
        }
        let scales: Tensor? = granularity == .none ? nil
            : Tensor(scaleValues, shape: granularity.scaleShape(rows: rows, columns: columns)!)
        return try QuantizedWeight(format: format, granularity: granularity, rows: rows, columns: columns,
                                   data: out, scales: scales)
    }
}

/// A validated weight ready to be read row by row as f32.
private struct Prepared {
    let src: Tensor
    let rows: Int, columns: Int, blockSize: Int, blocks: Int, grain: Int

    init(_ w: Tensor, format: QuantFormat, granularity: ScaleGranularity) throws {
        guard w.rank == 2 else { throw TensorError.shapeMismatch("quantize needs a 2-D weight, got \(w.shape)") }
        guard w.dtype.isFloatingPoint else { throw TensorError.invalidArgument("quantize needs a float weight, got \(w.dtype)") }
        guard w.device == .cpu else { throw TensorError.invalidArgument("quantize works on host tensors") }
        if format.isInteger && granularity == .none {
            throw TensorError.invalidArgument("\(format) needs a scale (tensor, channel or block:N)")
        }
        if !format.isQuantized && granularity != .none {
            throw TensorError.invalidArgument("unquantized \(format) takes no scale")
        }
        if case .block(let n) = granularity, n < 2 || n % 2 != 0 {
            throw TensorError.invalidArgument("block size \(n) must be even and at least 2")
        }
        src = w.contiguous()
        rows = w.shape[0]; columns = w.shape[1]
        if case .block(let n) = granularity { blockSize = n } else { blockSize = max(columns, 1) }
        blocks = (columns + blockSize - 1) / blockSize
        grain = max(1, 65536 / max(columns, 1))
    }

    /// Calls `body(row, f32 pointer)` for each row of `range`, converting into a scratch row if needed.
    func withRows(_ range: Range<Int>, _ body: (Int, UnsafePointer<Float>) -> Void) {
        let base = UnsafeRawPointer(src.rawPointer)
        if src.dtype == .f32 {
            for r in range { body(r, (base + r * columns * 4).assumingMemoryBound(to: Float.self)) }
            return
        }
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: max(columns, 1))
        defer { tmp.deallocate() }
        let bytes = src.dtype.byteSize
        for r in range {
            QuantKernels.loadFloats(base + r * columns * bytes, dtype: src.dtype, count: columns, into: tmp)
            body(r, tmp)
        }
    }
}
