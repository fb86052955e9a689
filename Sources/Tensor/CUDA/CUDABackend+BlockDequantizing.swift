/// GGUF's ggml blocks kept in device memory and expanded one layer at a time (kernels in
/// CUDAKernels+GGUF.swift): to the compute dtype for the ordinary GEMM, or to per-tensor e4m3 codes
/// for the fp8 tensor-core GEMM (`FP8GEMM.fp8Linear`), which is what makes a GGUF DiT as fast as an
/// fp8 one at the cost of fp8's rounding on top of the format's own.
extension CUDABackend: BlockFP8Expanding {
    public var expandsBlocksToFP8: Bool { hasFP8TensorCores && configuration.allowFP8TensorCores }

    /// Kernel format code (see `gguf_group` in CUDAKernels+GGUF.swift).
    static func ggufCode(_ f: BlockQuantFormat) -> Int {
        switch f {
        case .q8_0: return 0
        case .q4_0: return 1
        case .q4_1: return 2
        case .q5_0: return 3
        case .q5_1: return 4
        case .q2_K: return 5
        case .q3_K: return 6
        case .q4_K: return 7
        case .q5_K: return 8
        case .q6_K: return 9
        }
    }

    /// Checks `blocks` holds rows x columns elements of `format` and returns it contiguous, with the
    /// number of 32-element groups.
    private func checkedBlocks(_ blocks: Tensor, _ format: BlockQuantFormat, _ rows: Int, _ columns: Int) -> (Tensor, Int) {
        precondition(rows >= 0 && columns >= 0 && columns % format.blockSize == 0,
                     "\(format) rows must hold whole blocks of \(format.blockSize), got \(columns) columns")
        precondition(blocks.dtype == .u8 && blocks.count == rows * format.rowBytes(columns: columns),
                     "\(format) blocks for (\(rows), \(columns)) take \(rows * format.rowBytes(columns: columns)) bytes, got \(blocks.count) \(blocks.dtype)")
        return (blocks.isContiguous ? blocks : contiguous(blocks), rows * columns / 32)
    }

    public func dequantizeBlocks(_ blocks: Tensor, format: BlockQuantFormat, rows: Int, columns: Int, dtype: DType) -> Tensor {
        precondition(dtype.isFloatingPoint && dtype.byteSize >= 2, "blocks expand to f32, f16 or bf16, not \(dtype)")
        let (src, groups) = checkedBlocks(blocks, format, rows, columns)
        let out = empty([rows, columns], dtype)
        if groups == 0 { return out }
        var a = KernelArgs()
        a.ptr(src); a.i32(Self.ggufCode(format))
        if dtype == .bf16 && address(out) % 16 == 0 {
            a.ptr(out); a.i64(groups)
            launch("gguf_dequant_bf16", grid: gridFor(groups, block: 128), block: 128, a)
        } else {
            a.ptr(out); a.dtype(dtype); a.i64(groups)
            launch("gguf_dequant", grid: gridFor(groups, block: 128), block: 128, a)
        }
        return out
    }

    /// e4m3 codes (rows, columns) of the expanded blocks with one f32 scale for the tensor (its amax
    /// / 448, or `scale` when given: a weight's is computed once and kept), ready for
    /// `fp8Linear(_:codes:scale:...)`; the dense matrix never exists.
    public func blocksToE4M3(_ blocks: Tensor, format: BlockQuantFormat, rows: Int, columns: Int,
                             scale known: Tensor?, perRow: Bool) -> (codes: Tensor, scale: Tensor) {
        if perRow { return blocksToRowE4M3(blocks, format: format, rows: rows, columns: columns, scale: known) }
        let (src, groups) = checkedBlocks(blocks, format, rows, columns)
        let codes = empty([rows, columns], .f8e4m3fn)
        if groups == 0 { return (codes, known ?? Tensor([Float(1)], shape: [1], backend: self)) }
        precondition(address(codes) % 16 == 0, "device allocations are 16-byte aligned")
        let blocksGrid = Swift.max(1, Swift.min(multiprocessors * 4, (groups + 255) / 256))
        if let known {
            precondition(known.dtype == .f32 && known.count == 1, "an e4m3 scale is one f32 value")
            var a = KernelArgs()
            a.ptr(src); a.i32(Self.ggufCode(format)); a.ptr(known); a.ptr(codes); a.i64(groups)
            launch("gguf_e4m3_at", grid: (blocksGrid, 1, 1), block: 256, a)
            return (codes, known)
        }
        let scale = empty([1], .f32)
        let parts = blocksGrid
        let part = empty([parts], .f32)
        var a = KernelArgs()
        a.ptr(src); a.i32(Self.ggufCode(format)); a.i64(groups); a.ptr(part)
        launch("gguf_amax_part", grid: (parts, 1, 1), block: 256, a)
        var b = KernelArgs()
        b.ptr(src); b.i32(Self.ggufCode(format)); b.ptr(part); b.i32(parts); b.ptr(codes); b.ptr(scale); b.i64(groups)
        launch("gguf_e4m3", grid: (parts, 1, 1), block: 256, b)
        return (codes, scale)
    }

    /// `blocksToE4M3` with one scale per output row (row amax / 448): the fp8 GEMM then takes its
    /// per-channel x per-row path (measured: no lower error than per tensor on random full-size
    /// weights, 1.20x instead of 1.15x the fp8 step; BENCHMARKS.md, session 5).
    private func blocksToRowE4M3(_ blocks: Tensor, format: BlockQuantFormat, rows: Int, columns: Int,
                                 scale known: Tensor?) -> (codes: Tensor, scale: Tensor) {
        let (src, groups) = checkedBlocks(blocks, format, rows, columns)
        let codes = empty([rows, columns], .f8e4m3fn)
        if groups == 0 { return (codes, known ?? Tensor([Float](repeating: 1, count: rows), shape: [rows], backend: self)) }
        precondition(address(codes) % 16 == 0, "device allocations are 16-byte aligned")
        if let known { precondition(known.dtype == .f32 && known.count == rows && known.isContiguous, "row e4m3 scales are \(rows) f32 values") }
        let scale = known ?? empty([rows], .f32)
        var a = KernelArgs()
        a.ptr(src); a.i32(Self.ggufCode(format)); a.i64(columns / 32); a.ptr(known); a.ptr(codes); a.ptr(scale)
        launch("gguf_e4m3_rows", grid: (rows, 1, 1), block: 128, a)
        return (codes, scale)
    }
}
