/// Matrix products through OpenBLAS `sgemm`.
extension CPUBackend {
    /// Batched matrix product (see `Backend.matmul`). Operands whose last two dims are row-major or
    /// column-major (a transposed view) go to `sgemm` as they are, with the matching transpose flag and
    /// leading dimension; other layouts and non-f32 dtypes are copied to contiguous f32 first.
    /// When `b` is the same matrix for every batch (stride-0 batch dims) and `a`'s batch rows are
    /// evenly spaced, the whole product is one GEMM with M = batch * M. Otherwise many small GEMMs run
    /// in parallel on single-threaded BLAS, and few large ones run one after another on BLAS's threads.
    public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("matmul", profileStart) }
        let r = a.rank
        precondition(r >= 2 && b.rank == r, "matmul kernel needs equal ranks >= 2, got \(a.shape) and \(b.shape)")
        let m = a.shape[r - 2], k = a.shape[r - 1], n = b.shape[r - 1]
        let batchShape = Array(a.shape.prefix(r - 2))
        precondition(b.shape[r - 2] == k && Array(b.shape.prefix(r - 2)) == batchShape,
                     "matmul kernel shapes do not match: \(a.shape) x \(b.shape)")

        var a32 = LinalgKernels.f32(a), b32 = LinalgKernels.f32(b)
        var la = MatrixLayout.of(rows: m, cols: k, rowStride: a32.strides[r - 2], colStride: a32.strides[r - 1])
        if la == nil {
            a32 = contiguous(a32)
            la = MatrixLayout(transposed: false, ld: max(k, 1))
        }
        var lb = MatrixLayout.of(rows: k, cols: n, rowStride: b32.strides[r - 2], colStride: b32.strides[r - 1])
        if lb == nil {
            b32 = contiguous(b32)
            lb = MatrixLayout(transposed: false, ld: max(n, 1))
        }
        let layoutA = la!, layoutB = lb!

        let out = empty(batchShape + [m, n], .f32)
        let count = out.count
        if count == 0 { return out }
        let pa = LinalgKernels.pointer(a32), pb = LinalgKernels.pointer(b32), pc = LinalgKernels.pointer(out)
        let batchCount = batchShape.reduce(1, *)

        // One GEMM when b is shared by all batches and a's (batch..., M) rows are evenly spaced.
        let bShared = b32.strides.prefix(r - 2).enumerated().allSatisfy { $0.element == 0 || batchShape[$0.offset] == 1 }
        if batchCount > 1 && bShared && !layoutA.transposed {
            var expected = layoutA.ld * m
            var foldable = true
            for d in stride(from: r - 3, through: 0, by: -1) where batchShape[d] != 1 {
                if a32.strides[d] != expected { foldable = false; break }
                expected *= batchShape[d]
            }
            if foldable {
                BLAS.sgemm(transA: false, transB: layoutB.transposed, m: batchCount * m, n: n, k: k,
                           a: pa, lda: layoutA.ld, b: pb, ldb: layoutB.ld, c: pc, ldc: n)
                return out
            }
        }

        let aOff = LinalgKernels.offsets(shape: batchShape, strides: Array(a32.strides.prefix(r - 2)))
        let bOff = LinalgKernels.offsets(shape: batchShape, strides: Array(b32.strides.prefix(r - 2)))
        let one = { (i: Int) in
            BLAS.sgemm(transA: layoutA.transposed, transB: layoutB.transposed, m: m, n: n, k: k,
                       a: pa + aOff[i], lda: layoutA.ld, b: pb + bOff[i], ldb: layoutB.ld,
                       c: pc + i * m * n, ldc: n)
        }
        if batchCount >= 2 * parallel.threadCount && parallel.threadCount > 1 {
            BLAS.singleThreaded {
                LinalgKernels.dynamicForEach(batchCount, workers: parallel.threadCount) { i, _ in one(i) }
            }
        } else {
            for i in 0..<batchCount { one(i) }
        }
        return out
    }

    /// `y = x W^T + bias` (see `Backend.linear`). An f32 weight in any row- or column-major layout
    /// is used in place by one GEMM (CblasTrans on the weight). Other weight dtypes (bf16, f16, fp8)
    /// are decoded a panel of output rows at a time by `linear(_:outFeatures:inFeatures:bias:decodeRows:)`,
    /// so no full f32 copy of a large weight is ever made.
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("linear", profileStart) }
        precondition(weight.rank == 2 && x.rank >= 1 && x.shape[x.rank - 1] == weight.shape[1],
                     "linear kernel: x \(x.shape) does not match weight \(weight.shape)")
        let outF = weight.shape[0], inF = weight.shape[1]
        if weight.dtype == .f32,
           let lw = MatrixLayout.of(rows: inF, cols: outF, rowStride: weight.strides[1], colStride: weight.strides[0]) {
            // B operand of the GEMM is W^T (in x out), whose strides are W's swapped.
            let pw = LinalgKernels.pointer(weight)
            return linearCore(x, outFeatures: outF, bias: bias) { xp, ldx, rows, c in
                BLAS.sgemm(transA: false, transB: lw.transposed, m: rows, n: outF, k: inF,
                           a: xp, lda: ldx, b: pw, ldb: lw.ld, beta: 1, c: c, ldc: outF)
            }
        }
        let w = weight.contiguous()
        precondition(w.dtype.isFloatingPoint, "linear kernel: weight dtype \(w.dtype) is not a float type")
        return linear(x, outFeatures: outF, inFeatures: inF, bias: bias) { range, dst in
            self.loadFloats(w, range: (range.lowerBound * inF)..<(range.upperBound * inF), into: dst)
        }
    }

    /// `y = x W^T + bias` for a weight that is not stored as f32: `decodeRows(rows, dst)` writes weight
    /// rows `rows` (each `inFeatures` long) as f32 into `dst`. The weight is decoded a panel of rows at a
    /// time (`panelRows` rows, by default about 4 MB of f32) and each panel is one GEMM into its block
    /// of output columns.
    ///
    /// This is the hook for quantised weights: a quantised layer supplies a `decodeRows` that
    /// dequantises its blocks. `decodeRows` is called concurrently from several threads, each time for
    /// a disjoint range of rows.
    public func linear(_ x: Tensor, outFeatures: Int, inFeatures: Int, bias: Tensor?, panelRows: Int? = nil,
                       decodeRows: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        precondition(x.rank >= 1 && x.shape[x.rank - 1] == inFeatures,
                     "linear kernel: x \(x.shape) does not have \(inFeatures) input features")
        let panelRows = max(1, min(outFeatures, panelRows ?? max(16, ((1 << 20) / max(inFeatures, 1)) / 16 * 16)))
        let panel = UnsafeMutablePointer<Float>.allocate(capacity: max(1, panelRows * inFeatures))
        defer { panel.deallocate() }
        return linearCore(x, outFeatures: outFeatures, bias: bias) { xp, ldx, rows, c in
            var p0 = 0
            while p0 < outFeatures {
                let p1 = min(outFeatures, p0 + panelRows)
                parallel.forEach(p1 - p0, grain: max(1, 8192 / max(inFeatures, 1))) { r in
                    decodeRows((p0 + r.lowerBound)..<(p0 + r.upperBound), panel + r.lowerBound * inFeatures)
                }
                BLAS.sgemm(transA: false, transB: true, m: rows, n: p1 - p0, k: inFeatures,
                           a: xp, lda: ldx, b: panel, ldb: inFeatures, beta: 1, c: c + p0, ldc: outFeatures)
                p0 = p1
            }
        }
    }

    /// Shared part of `linear`: views `x` as a (rows x in) f32 matrix (copying only when its leading
    /// dims cannot be merged), fills the output with the bias, then lets `gemm` accumulate into it.
    private func linearCore(_ x: Tensor, outFeatures: Int, bias: Tensor?,
                            gemm: (UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let inF = x.shape[x.rank - 1]
        let lead = Array(x.shape.dropLast())
        let rows = lead.reduce(1, *)
        var x32 = LinalgKernels.f32(x)
        // Leading dims merge into one row dimension with stride `ldx` when evenly spaced.
        var ldx = max(inF, 1)
        var ok = inF <= 1 || x32.strides[x32.rank - 1] == 1
        if ok {
            var expected = -1
            for d in stride(from: lead.count - 1, through: 0, by: -1) where lead[d] != 1 {
                if expected == -1 {
                    ldx = x32.strides[d]
                    if ldx < max(inF, 1) { ok = false; break }
                    expected = ldx * lead[d]
                } else if x32.strides[d] != expected { ok = false; break } else { expected *= lead[d] }
            }
        }
        if !ok { x32 = contiguous(x32); ldx = max(inF, 1) }

        let out = empty(lead + [outFeatures], .f32)
        if out.count == 0 { return out }
        let pc = LinalgKernels.pointer(out)
        var b32: Tensor? = nil
        if let bias {
            precondition(bias.count == outFeatures, "linear kernel: bias \(bias.shape) does not have \(outFeatures) elements")
            b32 = LinalgKernels.f32(bias).contiguous()
        }
        LinalgKernels.fillRows(pc, rows: rows, n: outFeatures, ldc: outFeatures,
                               bias: b32.map { UnsafePointer(LinalgKernels.pointer($0)) }, parallel: parallel)
        gemm(LinalgKernels.pointer(x32), ldx, rows, pc)
        return out
    }
}
