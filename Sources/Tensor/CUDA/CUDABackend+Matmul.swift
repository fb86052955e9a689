#if canImport(Glibc)
import Glibc
#endif
/// GEMMs through cuBLASLt (f32 accumulation, operands in `computeDType`), with bias and GELU fused
/// into the epilogue where the op allows.
extension CUDABackend {
    /// A row-major view of a matrix operand: element (r, c) at base + r * ld (row-major) or
    /// base + c * ld (column-major, `transposed`).
    struct MatrixView {
        var tensor: Tensor
        var ld: Int
        var transposed: Bool
        var batchStride: Int
    }

    /// Describes the last two dims of `t` (batch dims collapsed) for cuBLASLt; nil when the layout
    /// needs a copy (neither dim unit-stride, or batch dims not one uniform stride).
    static func matrixView(_ t: Tensor, batch: Int) -> MatrixView? {
        let r = t.rank
        let rows = t.shape[r - 2], cols = t.shape[r - 1]
        let sr = t.strides[r - 2], sc = t.strides[r - 1]
        var ld: Int, trans: Bool
        if sc == 1 || cols == 1 { ld = rows == 1 ? Swift.max(cols, 1) : sr; trans = false; if ld < cols { return nil } }
        else if sr == 1 || rows == 1 { ld = cols == 1 ? Swift.max(rows, 1) : sc; trans = true; if ld < rows { return nil } }
        else { return nil }
        // Batch dims must collapse into one stride.
        var bstride = 0, expected: Int? = nil
        for d in stride(from: r - 3, through: 0, by: -1) where t.shape[d] != 1 {
            if let e = expected {
                if t.strides[d] != e { return nil }
            } else {
                bstride = t.strides[d]
            }
            expected = t.strides[d] * t.shape[d]
        }
        if batch > 1 && bstride == 0 && (0..<(r - 2)).contains(where: { t.shape[$0] != 1 && t.strides[$0] != 0 }) { return nil }
        return MatrixView(tensor: t, ld: ld, transposed: trans, batchStride: bstride)
    }

    /// An operand in the compute dtype with a cuBLASLt-compatible layout (copied when needed).
    func gemmOperand(_ t: Tensor, batch: Int) -> MatrixView {
        var x = t
        if x.dtype != computeDType { x = convert(x, to: computeDType) }
        if let v = Self.matrixView(x, batch: batch), v.ld % 8 == 0 || computeDType == .f32 || v.ld == 1 { return v }
        return Self.matrixView(contiguous(x), batch: batch)!
    }

    static func alignment(_ address: UInt64) -> Int {
        var a = 256
        while a > 1 && address % UInt64(a) != 0 { a /= 2 }
        return a
    }

    /// Row-major C (batch, M, N) = A (batch, M, K) * B (batch, K, N) as the column-major cuBLASLt call
    /// C^T = B^T A^T; `bias` (N) and GELU go in the epilogue. `out` is a contiguous (or row-strided with
    /// `ldc`) destination.
    /// With `accumulate`, C is added to (beta = 1) rather than overwritten.
    func gemm(a: MatrixView, b: MatrixView, m: Int, n: Int, k: Int, batch: Int, out: Tensor, ldc: Int,
              bias: Tensor?, gelu: Bool, accumulate: Bool = false) {
        if m == 0 || n == 0 || fault.isSet { return }
        let aPtr = address(a.tensor), bPtr = address(b.tensor), cPtr = address(out)
        let biasPtr = bias.map { address($0) }
        var epi = CUBLASLt.epilogueDefault
        if bias != nil { epi = gelu ? CUBLASLt.epilogueGeluBias : CUBLASLt.epilogueBias } else if gelu { epi = CUBLASLt.epilogueGelu }
        let key = LtGemm(m: n, n: m, k: k, transA: b.transposed, transB: a.transposed, lda: b.ld, ldb: a.ld, ldc: ldc,
                         batch: batch, strideA: b.batchStride, strideB: a.batchStride, strideC: m * ldc,
                         dtype: computeDType, epilogue: epi,
                         alignA: Self.alignment(bPtr), alignB: Self.alignment(aPtr), alignC: Self.alignment(cPtr))
        let plan: LtPlan
        do { plan = try ltPlan(key) } catch { fault.record(error); return }
        gemmLock.withLock {
        if var bp = biasPtr {
            must(lt.descSet(plan.desc, CUBLASLt.descBias, &bp, 8), "cublasLt set bias")
        }
        var one: Float = 1, beta: Float = accumulate ? 1 : 0
        var rc: Int32 = 0
        let run = { (algo: UnsafeRawPointer) -> Int32 in
            self.lt.matmul(self.lt.handle, plan.desc, &one, bPtr, plan.a, aPtr, plan.b, &beta, cPtr, plan.c, cPtr, plan.c,
                           algo, self.workspace, self.workspaceBytes, self.stream)
        }
        // Timing candidates would add into C several times: accumulating GEMMs keep the heuristic's pick.
        if !accumulate { autotune(plan, flops: 2 * Double(m) * Double(n) * Double(k) * Double(batch), run) }
        profiled("gemm \(m)x\(k)x\(n)\(batch > 1 ? " b\(batch)" : "")\(gelu ? " gelu" : "")\(accumulate ? " +=" : "")") {
            rc = plan.algo.withUnsafeBytes { run($0.baseAddress!) }
        }
        if rc != 0 { fault.record(CUDAError.cublas("cublasLtMatmul (m \(m) n \(n) k \(k) batch \(batch) \(computeDType))", rc)) }
        }
    }

    /// The cached cuBLASLt plan for `key`, made on first use (plans are shared by all threads).
    func ltPlan(_ key: LtGemm) throws -> LtPlan {
        try stateLock.withLock {
            if let p = plans[key] { return p }
            bound.bind()
            let p = try LtPlan(lt, key, workspaceLimit: workspaceBytes)
            plans[key] = p
            return p
        }
    }

    func address(_ t: Tensor) -> UInt64 { UInt64(UInt(bitPattern: t.storage.pointer)) + UInt64(t.offset * t.dtype.byteSize) }

    public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        let r = a.rank
        let m = a.shape[r - 2], k = a.shape[r - 1], n = b.shape[r - 1]
        let batchShape = Array(a.shape.dropLast(2))
        let batch = batchShape.reduce(1, *)
        let out = empty(batchShape + [m, n], computeDType)
        if out.count == 0 { return out }
        if k == 0 { return affine(out.reshaped([out.count]).expanded([out.count]), scale: 0, shift: 0).reshaped(out.shape) }
        let av = gemmOperand(a, batch: batch), bv = gemmOperand(b, batch: batch)
        gemm(a: av, b: bv, m: m, n: n, k: k, batch: batch, out: out, ldc: n, bias: nil, gelu: false)
        return out
    }

    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        linear(x, weight: weight, bias: bias, gelu: false)
    }

    /// y = x W^T + b, optionally followed by tanh-GELU, in one cuBLASLt call.
    func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, gelu: Bool) -> Tensor {
        let n = weight.shape[0]
        let out = empty(Array(x.shape.dropLast()) + [n], computeDType)
        if out.count == 0 { return out }
        linear(x, weight: weight, bias: bias, gelu: gelu, into: out, ldc: n)
        return out
    }

    /// The same into `out`, whose rows are `ldc` elements apart (a column block of a wider buffer);
    /// with `accumulate`, added to what `out` holds (bias and GELU apply to the sum).
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, gelu: Bool, into out: Tensor, ldc: Int, accumulate: Bool = false) {
        let k = x.shape[x.rank - 1], n = weight.shape[0]
        let rows = x.count / Swift.max(k, 1)
        if rows == 0 || n == 0 { return }
        var x2 = x.dtype == computeDType ? x : convert(x, to: computeDType)
        if !(x2.strides.last == 1 || k == 1) || !Self.rowsUniform(x2) { x2 = contiguous(x2) }
        let rowStride = x2.rank >= 2 ? Self.rowStride(x2) : k
        let av = MatrixView(tensor: x2, ld: Swift.max(rowStride, k), transposed: false, batchStride: 0)
        let w = weight.dtype == computeDType ? weight : convert(weight, to: computeDType)
        let bv = Self.matrixView(w.transposed(0, 1), batch: 1) ?? Self.matrixView(contiguous(w).transposed(0, 1), batch: 1)!
        let b = bias.map { $0.dtype == computeDType && $0.isContiguous ? $0 : convert($0, to: computeDType) }
        if av.ld % 8 != 0 && computeDType != .f32 {
            let c = contiguous(x2)
            gemm(a: MatrixView(tensor: c, ld: k, transposed: false, batchStride: 0), b: bv, m: rows, n: n, k: k, batch: 1,
                 out: out, ldc: ldc, bias: b, gelu: gelu, accumulate: accumulate)
            return
        }
        gemm(a: av, b: bv, m: rows, n: n, k: k, batch: 1, out: out, ldc: ldc, bias: b, gelu: gelu, accumulate: accumulate)
    }

    /// True when all dims but the last index rows with one uniform stride (a (rows, k) matrix view).
    static func rowsUniform(_ t: Tensor) -> Bool {
        var expected: Int? = nil
        for d in stride(from: t.rank - 2, through: 0, by: -1) where t.shape[d] != 1 {
            if let e = expected, t.strides[d] != e { return false }
            expected = t.strides[d] * t.shape[d]
        }
        return true
    }

    static func rowStride(_ t: Tensor) -> Int {
        for d in stride(from: t.rank - 2, through: 0, by: -1) where t.shape[d] != 1 { return t.strides[d] }
        return t.shape[t.rank - 1]
    }
}

extension CUDABackend {
    /// On a plan's first call (GEMMs of at least 1 GFLOP, autotuning on): runs each candidate once to
    /// warm up and twice timed, and keeps the fastest in `plan.algo`. Candidates that fail are
    /// skipped. A GEMM with beta = 0 writes the same output every run, so the real operands serve.
    func autotune(_ plan: LtPlan, flops: Double, _ run: (UnsafeRawPointer) -> Int32) {
        guard configuration.autotune, !plan.tuned else { return }
        plan.tuned = true
        guard plan.candidates.count > 1, flops >= 1e9 else { return }
        var best = (ms: Double.infinity, index: 0)
        for (i, candidate) in plan.candidates.enumerated() {
            let ms: Double? = candidate.withUnsafeBytes { c in
                guard run(c.baseAddress!) == 0 else { return nil }
                var failed = false
                let t = time { for _ in 0..<2 where run(c.baseAddress!) != 0 { failed = true } }
                return failed ? nil : t / 2
            }
            if let ms, ms < best.ms { best = (ms, i) }
        }
        plan.algo = plan.candidates[best.index]
        plan.workspace = plan.algo.withUnsafeBytes { Int($0.load(fromByteOffset: 64, as: UInt64.self)) }
    }
}

extension CUDABackend: LinearAccumulating {
    public func uninitialized(_ shape: [Int]) -> Tensor { empty(shape, computeDType) }
}
