#if canImport(Glibc)
import Glibc
#endif

/// float8 e4m3 linear layers on the GPU. On compute capability 8.9 and newer the GEMM runs on fp8
/// tensor cores through cuBLASLt: weights are e4m3 codes with one f32 scale for the tensor or one
/// per output channel; activations are quantised on the fly (amax / 448) per tensor for a
/// per-tensor weight scale (cuBLASLt's scalar scaling, bias and tanh-GELU fused into the bf16
/// output), per row for per-channel weights (cuBLASLt's outer-vector scaling where it has it, else
/// a unit-scale GEMM followed by one pass applying both scales, bias and GELU). Elsewhere, or when
/// cuBLASLt has no fp8 algorithm for the shape, the weight is dequantised to bf16 and the ordinary
/// GEMM runs (with a one-line notice).
extension CUDABackend {
    /// True when the GPU has fp8 tensor cores (Ada, Hopper and newer).
    public var hasFP8TensorCores: Bool { capability.0 > 8 || (capability.0 == 8 && capability.1 >= 9) }

    /// Per-row e4m3 quantisation of a (rows, K) matrix: codes (dtype `.f8e4m3fn`) and f32 scales (rows),
    /// scale = row amax / 448 (1 for an all-zero row), codes = saturate(x / scale). Used for weights
    /// (one scale per output channel) and for activations before an fp8 GEMM.
    public func quantizeRowsE4M3(_ x: Tensor) -> (codes: Tensor, scale: Tensor) {
        precondition(x.rank == 2, "quantizeRowsE4M3 expects a (rows, K) matrix, got \(x.shape)")
        let rows = x.shape[0], k = x.shape[1]
        var xb = x.dtype == .bf16 ? x : convert(x, to: .bf16)
        if !xb.isContiguous { xb = contiguous(xb) }
        let codes = empty([rows, k], .f8e4m3fn), scale = empty([rows], .f32)
        if rows == 0 || k == 0 { return (codes, scale) }
        var a = KernelArgs()
        if k % 8 == 0 && address(xb) % 16 == 0 {
            a.ptr(xb); a.ptr(codes); a.ptr(scale); a.i32(k / 8)
            launch("quant_rows_bf16x8_e4m3", grid: (rows, 1, 1), block: k >= 2048 ? 256 : 128, a)
            return (codes, scale)
        }
        a.ptr(xb); a.ptr(codes); a.ptr(scale); a.i64(k)
        launch("quant_rows_e4m3", grid: (rows, 1, 1), block: Self.rowBlock(k), a)
        return (codes, scale)
    }

    /// Per-tensor e4m3 quantisation of a (rows, K) matrix: codes and one f32 scale (amax / 448).
    public func quantizeTensorE4M3(_ x: Tensor) -> (codes: Tensor, scale: Tensor) {
        precondition(x.rank == 2, "quantizeTensorE4M3 expects a (rows, K) matrix, got \(x.shape)")
        let rows = x.shape[0], k = x.shape[1]
        var xb = x.dtype == .bf16 ? x : convert(x, to: .bf16)
        if !xb.isContiguous { xb = contiguous(xb) }
        let codes = empty([rows, k], .f8e4m3fn), scale = empty([1], .f32)
        if rows == 0 || k == 0 { return (codes, Tensor([Float(1)], shape: [1], backend: self)) }
        let n = rows * k
        if n % 8 == 0 && address(xb) % 16 == 0 {
            // Two vectorised passes: partial maxima per block, then every block reduces them and
            // quantises its share (both bandwidth-bound; the row-wise path below is kept for odd sizes).
            let part = empty([amaxPartBlocks(n)], .f32)
            launchAmaxParts(xb, count: n, into: part)
            return quantizeTensorE4M3(xb, partialMaxima: part)
        }
        let amax = empty([rows], .f32)
        var a = KernelArgs()
        a.ptr(xb); a.ptr(amax); a.i64(k)
        launch("amax_rows_bf16", grid: (rows, 1, 1), block: Self.rowBlock(k), a)
        var b = KernelArgs()
        b.ptr(xb); b.ptr(amax); b.i32(rows); b.ptr(codes); b.ptr(scale); b.i64(rows * k)
        launch("quant_tensor_e4m3", grid: (Swift.min(multiprocessors * 4, (rows * k + 255) / 256), 1, 1), block: 256, b)
        return (codes, scale)
    }

    /// bf16 values of e4m3 `codes` (rows, K) times `scale` (rows, or one value for the whole matrix).
    public func dequantizeRowsE4M3(_ codes: Tensor, scale: Tensor) -> Tensor {
        let rows = codes.shape[0], k = codes.shape[1]
        let out = empty([rows, k], .bf16)
        if out.count == 0 { return out }
        let s = scale.dtype == .f32 && scale.isContiguous ? scale : contiguous(convert(scale, to: .f32))
        var a = KernelArgs()
        a.ptr(codes.isContiguous ? codes : contiguous(codes)); a.ptr(s); a.i32(s.count == rows && rows > 1 ? 1 : 0)
        a.ptr(out); a.i64(k); a.i64(out.count)
        launch("dequant_rows_e4m3", grid: gridFor(out.count), block: 256, a)
        return out
    }

    /// y = (x W^T) [+ bias] [-> tanh-GELU] in bf16 with W as e4m3 `codes` (N, K) and f32 `scale` (N or 1).
    /// `x` is (..., K) in any float dtype. See the extension's notes for the two paths.
    /// With `into`, y is written there instead: a bf16 (..., N) view whose rows lie `ldc` elements
    /// apart (the right-hand columns of a wider matrix), which is returned.
    public func fp8Linear(_ x: Tensor, codes: Tensor, scale: Tensor, bias: Tensor?, gelu: Bool = false,
                          into: Tensor? = nil, ldc: Int? = nil) -> Tensor {
        let k = x.shape[x.rank - 1], n = codes.shape[0]
        precondition(codes.rank == 2 && codes.shape[1] == k, "fp8Linear: weight \(codes.shape) does not take inputs of width \(k)")
        let rows = x.count / Swift.max(k, 1)
        let outShape = Array(x.shape.dropLast()) + [n]
        if let into { precondition(into.dtype == .bf16 && into.shape == outShape && (ldc ?? n) >= n, "fp8Linear: output view \(into.shape) \(into.dtype) for \(outShape)") }
        let ldc = ldc ?? n
        if rows == 0 || n == 0 { return into ?? empty(outShape, .bf16) }
        let perTensor = scale.count == 1
        if hasFP8TensorCores && configuration.allowFP8TensorCores && k % 16 == 0 && n % 16 == 0 {
            // A per-tensor weight scale takes cuBLASLt's scalar scaling (activations per tensor).
            // Per-channel weight scales (activations then per row) take its outer-vector scaling where
            // it has it, else the GEMM runs with unit scales and one pass applies the scales after.
            let x2 = x.reshaped([rows, k])
            let (q, sx) = perTensor ? quantizeTensorE4M3(x2) : quantizeRowsE4M3(x2)
            let (w, sw, b) = fp8GemmOperands(codes: codes, scale: scale, bias: bias)
            let out = into ?? empty(outShape, .bf16)
            if perTensor || !status.withLock({ $0.fp8OuterUnsupported }) {
                if fp8Gemm(weight: w, weightScale: sw, x: q, xScale: sx, rows: rows, n: n, k: k, bias: b, gelu: gelu,
                           out: out, ldc: ldc, outerVector: !perTensor) {
                    lastFP8Path = perTensor ? "fp8 tensor cores (cuBLASLt, per-tensor scales)"
                                            : "fp8 tensor cores (cuBLASLt, per-channel x per-row scales)"
                    return out
                }
                if !perTensor { status.withLock { $0.fp8OuterUnsupported = true } }
            }
            if !perTensor, n % 8 == 0, ldc % 8 == 0, address(out) % 16 == 0,
               fp8GemmThenRescale(q: q, sx: sx, codes: w, sw: sw, bias: b, gelu: gelu, out: out, ldc: ldc, rows: rows, n: n, k: k) {
                lastFP8Path = "fp8 tensor cores (cuBLASLt, unit scales; per-channel x per-row scales applied after)"
                return out
            }
        }
        if status.withLock({ s in defer { s.fp8NoticeShown = true }; return !s.fp8NoticeShown }) {
            let failure = fp8GemmFailure
            let note = "note: no fp8 GEMM for these weights on \(deviceName) (\(failure.isEmpty ? "no fp8 tensor cores" : failure)); "
                + "fp8 weights are dequantised to bf16 on the fly\n"
            _ = note.withCString { write(2, $0, strlen($0)) }
        }
        lastFP8Path = "dequantised to bf16"
        let w = dequantizeRowsE4M3(codes, scale: scale)
        let xb = x.dtype == .bf16 ? x : convert(x, to: .bf16)
        let out = into ?? empty(outShape, .bf16)
        linear(xb, weight: w, bias: bias, gelu: gelu, into: out, ldc: ldc)
        return out
    }

    /// `fp8Linear` adding into `out` (`LinearAccumulating`): only the direct tensor-core path with a
    /// per-tensor weight scale can (the other paths rescale or dequantise the whole output).
    public func fp8Linear(_ x: Tensor, codes: Tensor, scale: Tensor, bias: Tensor?, gelu: Bool, into out: Tensor, ldc: Int,
                          accumulate: Bool) -> Bool {
        let k = x.shape[x.rank - 1], n = codes.shape[0]
        let rows = x.count / Swift.max(k, 1)
        guard scale.count == 1, hasFP8TensorCores, configuration.allowFP8TensorCores, k % 16 == 0, n % 16 == 0,
              out.dtype == .bf16, codes.rank == 2, codes.shape[1] == k, rows > 0 else { return false }
        let (q, sx) = quantizeTensorE4M3(x.reshaped([rows, k]))
        let (w, sw, b) = fp8GemmOperands(codes: codes, scale: scale, bias: bias)
        let ok = fp8Gemm(weight: w, weightScale: sw, x: q, xScale: sx, rows: rows, n: n, k: k,
                         bias: b, gelu: gelu, out: out, ldc: ldc, outerVector: false, accumulate: accumulate)
        if ok { lastFP8Path = "fp8 tensor cores (cuBLASLt, per-tensor scales)" }
        return ok
    }

    /// The fp8 GEMM with unit scales into `out`, then `fp8_rescale_bf16x8` applies the activation rows'
    /// and weight channels' scales, the bias and GELU in place. False when cuBLASLt has no algorithm.
    func fp8GemmThenRescale(q: Tensor, sx: Tensor, codes: Tensor, sw: Tensor, bias: Tensor?, gelu: Bool,
                            out: Tensor, ldc: Int, rows: Int, n: Int, k: Int) -> Bool {
        let one = unitScale
        guard fp8Gemm(weight: codes, weightScale: one, x: q, xScale: one,
                      rows: rows, n: n, k: k, bias: nil, gelu: false, out: out, ldc: ldc, outerVector: false) else { return false }
        var a = KernelArgs()
        a.ptr(out); a.i64(ldc); a.i32(rows); a.i32(n); a.ptr(sx); a.i32(sx.count == rows && rows > 1 ? 1 : 0)
        a.ptr(sw); a.ptr(bias); a.i32(gelu ? 1 : 0)
        launch("fp8_rescale_bf16x8", grid: gridFor(rows * n / 8), block: 256, a)
        return true
    }

    /// A device f32 1.0 (the unit scale of `fp8GemmThenRescale`'s GEMM).
    var unitScale: Tensor {
        if let u = stateLock.withLock({ unitScaleTensor }) { return u }
        // (not `affine`: its result takes the compute dtype, bf16, and cuBLASLt reads f32 scales)
        let u = Tensor([Float(1)], shape: [1], backend: self)
        stateLock.withLock { if unitScaleTensor == nil { unitScaleTensor = u } }
        return stateLock.withLock { unitScaleTensor! }
    }

    /// [prefix | gelu_tanh(x W^T + b)] in bf16 along the last dimension with W as e4m3 `codes` and
    /// `scale`: the fp8 GEMM writes its GELU output straight into the right-hand columns, as
    /// `concatLinearGeluTanh` does for bf16 weights.
    public func fp8ConcatLinearGeluTanh(_ prefix: Tensor, _ x: Tensor, codes: Tensor, scale: Tensor, bias: Tensor?) -> Tensor {
        let p = prefix.shape[prefix.rank - 1], n = codes.shape[0]
        let out = empty(Array(prefix.shape.dropLast()) + [p + n], .bf16)
        if out.count == 0 { return out }
        copy(prefix, into: out.slice(dim: out.rank - 1, start: 0, end: p))
        _ = fp8Linear(x, codes: codes, scale: scale, bias: bias, gelu: true, into: out.slice(dim: out.rank - 1, start: p), ldc: p + n)
        return out
    }

    /// The cuBLASLt call: column-major D^T (N x rows) = op(W codes)^T-as-A (N x K) * q^T (K x rows),
    /// scaled per A row (weight channel) and per B column (activation row). False when cuBLASLt has
    /// no algorithm for it. `amax`: a device f32 that cuBLASLt sets to max |D| (AMAX_D_POINTER); the
    /// first run of each such plan is checked with `amaxMatches` (cuBLASLt has run amax requests it does
    /// not support for non-fp8 outputs without computing them), and false when it does not match.
    /// `dScale` (one device f32) with an e4m3 `out`: the epilogue writes codes of D * dScale
    /// (saturated), C not read; cuBLASLt's max |D| is then D's before the scale.
    func fp8Gemm(weight: Tensor, weightScale: Tensor, x: Tensor, xScale: Tensor, rows: Int, n: Int, k: Int,
                 bias: Tensor?, gelu: Bool, out: Tensor, ldc: Int, outerVector: Bool, accumulate: Bool = false,
                 amax: UInt64? = nil, amaxMatches: (() -> Bool)? = nil, dScale: Tensor? = nil) -> Bool {
        var epi = CUBLASLt.epilogueDefault
        if bias != nil { epi = gelu ? CUBLASLt.epilogueGeluBias : CUBLASLt.epilogueBias } else if gelu { epi = CUBLASLt.epilogueGelu }
        let wPtr = address(weight), xPtr = address(x), cPtr = address(out)
        let key = LtGemm(m: n, n: rows, k: k, transA: true, transB: false, lda: k, ldb: k, ldc: ldc, batch: 1,
                         strideA: 0, strideB: 0, strideC: 0, dtype: .bf16, epilogue: epi,
                         alignA: Self.alignment(wPtr), alignB: Self.alignment(xPtr), alignC: Self.alignment(cPtr),
                         operandType: CUBLASLt.typeE4M3, scaleMode: outerVector ? CUBLASLt.scaleOuterVector : 0,
                         amaxD: amax != nil, outputType: dScale != nil ? CUBLASLt.typeE4M3 : nil)
        if fault.isSet { return true }
        let plan: LtPlan
        do { plan = try amax.map { try amaxPlan(key, amaxPointer: $0) } ?? ltPlan(key) } catch {
            fp8GemmFailure = "\(outerVector ? "outer-vector" : "scalar") scaling\(amax != nil ? " with amax of D" : "")\(dScale != nil ? ", e4m3 D" : ""): \(error)"
            return false
        }
        let ran = gemmLock.withLock {
        var sa = address(weightScale), sb = address(xScale)
        must(lt.descSet(plan.desc, CUBLASLt.descAScalePointer, &sa, 8), "cublasLt set A scale")
        must(lt.descSet(plan.desc, CUBLASLt.descBScalePointer, &sb, 8), "cublasLt set B scale")
        if var bp = bias.map({ address($0) }) { must(lt.descSet(plan.desc, CUBLASLt.descBias, &bp, 8), "cublasLt set bias") }
        if var ap = amax { must(lt.descSet(plan.desc, CUBLASLt.descAmaxDPointer, &ap, 8), "cublasLt set amax D") }
        if var dp = dScale.map({ address($0) }) { must(lt.descSet(plan.desc, CUBLASLt.descDScalePointer, &dp, 8), "cublasLt set D scale") }
        var one: Float = 1, beta: Float = accumulate ? 1 : 0
        var rc: Int32 = 0
        // An e4m3 D gives C its own (bf16) layout. C is not read (beta 0): it is named by D's address,
        // or, where cuBLASLt refuses that, by a scratch matrix of C's size (`fp8E4M3OutputScratchC`).
        var scratchC: Tensor?
        if dScale != nil, status.withLock({ $0.fp8E4M3OutputScratchC }) { scratchC = empty([rows * ldc], .bf16) }
        let run = { (algo: UnsafeRawPointer) -> Int32 in
            self.lt.matmul(self.lt.handle, plan.desc, &one, wPtr, plan.a, xPtr, plan.b, &beta, scratchC.map { self.address($0) } ?? cPtr,
                           plan.c, cPtr, plan.d, algo, self.workspace, self.workspaceBytes, self.stream)
        }
        // Timing candidates would add into C several times: accumulating GEMMs keep the heuristic's pick.
        if !accumulate { autotune(plan, flops: 2 * Double(rows) * Double(n) * Double(k), run) }
        profiled("fp8 gemm \(rows)x\(k)x\(n)\(gelu ? " gelu" : "")\(accumulate ? " +=" : "")\(amax != nil ? " amax" : "")\(dScale != nil ? " ->e4m3" : "")") {
            rc = plan.algo.withUnsafeBytes { run($0.baseAddress!) }
            if rc != 0, dScale != nil, scratchC == nil {
                scratchC = empty([rows * ldc], .bf16)
                rc = plan.algo.withUnsafeBytes { run($0.baseAddress!) }
                if rc == 0 { status.withLock { $0.fp8E4M3OutputScratchC = true } }
            }
        }
        if rc != 0 { fp8GemmFailure = "cublasLtMatmul status \(rc)\(amax != nil ? " (with amax of D)" : "")\(dScale != nil ? " (e4m3 D)" : "")" }
        return rc == 0
        }
        guard ran, amax != nil, let amaxMatches else { return ran }
        if let verdict = gemmLock.withLock({ plan.amaxVerified }) { return verdict }
        let verdict = amaxMatches()
        gemmLock.withLock { plan.amaxVerified = verdict }
        if !verdict { fp8GemmFailure = "cuBLASLt's amax of D does not match an amax pass over D" }
        return verdict
    }

    /// `ltPlan` for a GEMM that writes max |D|: its heuristic runs with the amax pointer set.
    private func amaxPlan(_ key: LtGemm, amaxPointer: UInt64) throws -> LtPlan {
        try stateLock.withLock {
            if let p = plans[key] { return p }
            bound.bind()
            let p = try LtPlan(lt, key, workspaceLimit: workspaceBytes, amaxPointer: amaxPointer)
            plans[key] = p
            return p
        }
    }
}
