/// cuBLASLt, resolved with `dlsym`: bf16/f16/f32 GEMMs with f32 accumulation and fused epilogues.
// unchecked: C function pointers and `handle`, set in init only; cuBLASLt handles are thread-safe, per-plan descriptor changes are under the backend's `gemmLock`.
final class CUBLASLt: @unchecked Sendable {
    typealias Handle = UnsafeMutableRawPointer?
    let lib: CUDALibrary
    let create: @convention(c) (UnsafeMutablePointer<Handle>) -> Int32
    let descCreate: @convention(c) (UnsafeMutablePointer<Handle>, Int32, Int32) -> Int32
    let descDestroy: @convention(c) (Handle) -> Int32
    let descSet: @convention(c) (Handle, Int32, UnsafeRawPointer, Int) -> Int32
    let layoutCreate: @convention(c) (UnsafeMutablePointer<Handle>, Int32, UInt64, UInt64, Int64) -> Int32
    let layoutDestroy: @convention(c) (Handle) -> Int32
    let layoutSet: @convention(c) (Handle, Int32, UnsafeRawPointer, Int) -> Int32
    let prefCreate: @convention(c) (UnsafeMutablePointer<Handle>) -> Int32
    let prefDestroy: @convention(c) (Handle) -> Int32
    let prefSet: @convention(c) (Handle, Int32, UnsafeRawPointer, Int) -> Int32
    let heuristic: @convention(c) (Handle, Handle, Handle, Handle, Handle, Handle, Handle, Int32,
                                   UnsafeMutableRawPointer, UnsafeMutablePointer<Int32>) -> Int32
    let matmul: @convention(c) (Handle, Handle, UnsafeRawPointer, UInt64, Handle, UInt64, Handle, UnsafeRawPointer,
                                UInt64, Handle, UInt64, Handle, UnsafeRawPointer?, UInt64, Int, UnsafeMutableRawPointer?) -> Int32
    var handle: Handle = nil

    // Constants from cublasLt.h / library_types.h (CUDA 12 and 13 agree).
    static let computeF32: Int32 = 68
    static let typeF32: Int32 = 0, typeF16: Int32 = 2, typeBF16: Int32 = 14
    static let descTransA: Int32 = 3, descTransB: Int32 = 4, descEpilogue: Int32 = 7, descBias: Int32 = 8
    static let descBiasType: Int32 = 26
    static let layoutBatch: Int32 = 5, layoutBatchStride: Int32 = 6
    static let prefWorkspace: Int32 = 1
    static let epilogueDefault: Int32 = 1, epilogueBias: Int32 = 4, epilogueGelu: Int32 = 32, epilogueGeluBias: Int32 = 36
    static let typeE4M3: Int32 = 28
    static let descAScalePointer: Int32 = 17, descBScalePointer: Int32 = 18, descFastAccum: Int32 = 25
    static let descAScaleMode: Int32 = 31, descBScaleMode: Int32 = 32
    /// CUBLASLT_MATMUL_DESC_D_SCALE_POINTER: a device f32 D is multiplied by before its conversion to
    /// an fp8 type.
    static let descDScalePointer: Int32 = 20
    /// CUBLASLT_MATMUL_DESC_AMAX_D_POINTER: a device f32 set to max |D| when the matmul completes.
    static let descAmaxDPointer: Int32 = 21
    /// CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F: one f32 per row of op(A) and per column of op(B).
    static let scaleOuterVector: Int32 = 3

    init(_ lib: CUDALibrary) throws {
        self.lib = lib
        create = try lib.symbol("cublasLtCreate")
        descCreate = try lib.symbol("cublasLtMatmulDescCreate")
        descDestroy = try lib.symbol("cublasLtMatmulDescDestroy")
        descSet = try lib.symbol("cublasLtMatmulDescSetAttribute")
        layoutCreate = try lib.symbol("cublasLtMatrixLayoutCreate")
        layoutDestroy = try lib.symbol("cublasLtMatrixLayoutDestroy")
        layoutSet = try lib.symbol("cublasLtMatrixLayoutSetAttribute")
        prefCreate = try lib.symbol("cublasLtMatmulPreferenceCreate")
        prefDestroy = try lib.symbol("cublasLtMatmulPreferenceDestroy")
        prefSet = try lib.symbol("cublasLtMatmulPreferenceSetAttribute")
        heuristic = try lib.symbol("cublasLtMatmulAlgoGetHeuristic")
        matmul = try lib.symbol("cublasLtMatmul")
        let rc = create(&handle)
        if rc != 0 { throw CUDAError.cublas("cublasLtCreate", rc) }
    }

    static func dataType(_ d: DType) -> Int32 {
        switch d {
        case .bf16: return typeBF16
        case .f16: return typeF16
        default: return typeF32
        }
    }
}

/// One column-major GEMM as cuBLASLt sees it: D (m x n) = op(A) (m x k) * op(B) (k x n) [+ bias] [-> GELU].
struct LtGemm: Hashable {
    var m, n, k: Int
    var transA, transB: Bool
    var lda, ldb, ldc: Int
    var batch: Int
    var strideA, strideB, strideC: Int
    var dtype: DType
    var epilogue: Int32
    var alignA = 256, alignB = 256, alignC = 256
    /// Storage type of A and B when it differs from `dtype` (float8 e4m3 operands); nil = `dtype`.
    var operandType: Int32? = nil
    /// Scale mode of A and B (float8 only; scale pointers are set per call).
    var scaleMode: Int32? = nil
    /// Whether the matmul also writes max |D| (`descAmaxDPointer`, set per call; float8 only).
    var amaxD = false
    /// Storage type of D when it differs from `dtype` (e4m3: the epilogue quantises, with the D scale
    /// set per call; C keeps `dtype` and is not read); nil = `dtype`.
    var outputType: Int32? = nil
}

/// A prepared cuBLASLt plan (descriptors and the chosen algorithm), cached per GEMM shape.
final class LtPlan {
    var desc: CUBLASLt.Handle = nil
    var a: CUBLASLt.Handle = nil, b: CUBLASLt.Handle = nil, c: CUBLASLt.Handle = nil
    /// D's layout where its type differs from C's (`LtGemm.outputType`); else `c`.
    var d: CUBLASLt.Handle = nil
    var algo = [UInt8](repeating: 0, count: 96)
    var workspace = 0
    /// The heuristic's candidates, best guess first (`cublasLtMatmulHeuristicResult_t`, 96 bytes each:
    /// the 64-byte algo, then its workspace size); `algo` is the first until `CUDABackend.autotune`
    /// has timed them on the first real call (`tuned`).
    var candidates: [[UInt8]] = []
    var tuned = false
    /// For an `amaxD` plan: whether its amax matched an amax pass over D on its first run (nil: not run yet).
    var amaxVerified: Bool?
    /// Candidates asked of the heuristic.
    static let candidateCount = 8

    /// `amaxPointer`: where an `amaxD` plan's heuristic sees max |D| going (set again on every call).
    init(_ lt: CUBLASLt, _ g: LtGemm, workspaceLimit: Int, amaxPointer: UInt64 = 0) throws {
        func ok(_ rc: Int32, _ what: String) throws { if rc != 0 { throw CUDAError.cublas(what, rc) } }
        try ok(lt.descCreate(&desc, CUBLASLt.computeF32, CUBLASLt.typeF32), "cublasLtMatmulDescCreate")
        var ta: Int32 = g.transA ? 1 : 0, tb: Int32 = g.transB ? 1 : 0, ep = g.epilogue
        try ok(lt.descSet(desc, CUBLASLt.descTransA, &ta, 4), "set TRANSA")
        try ok(lt.descSet(desc, CUBLASLt.descTransB, &tb, 4), "set TRANSB")
        try ok(lt.descSet(desc, CUBLASLt.descEpilogue, &ep, 4), "set EPILOGUE")
        if g.epilogue == CUBLASLt.epilogueBias || g.epilogue == CUBLASLt.epilogueGeluBias {
            var bt = CUBLASLt.dataType(g.dtype)
            try ok(lt.descSet(desc, CUBLASLt.descBiasType, &bt, 4), "set BIAS_DATA_TYPE")
        }
        let t = CUBLASLt.dataType(g.dtype)
        if var mode = g.scaleMode {
            try ok(lt.descSet(desc, CUBLASLt.descAScaleMode, &mode, 4), "set A_SCALE_MODE")
            try ok(lt.descSet(desc, CUBLASLt.descBScaleMode, &mode, 4), "set B_SCALE_MODE")
            var fast: Int8 = 1
            try ok(lt.descSet(desc, CUBLASLt.descFastAccum, &fast, 1), "set FAST_ACCUM")
        }
        if g.amaxD {
            // Set before the heuristic, so that it offers only algorithms that compute the amax.
            var p = amaxPointer
            try ok(lt.descSet(desc, CUBLASLt.descAmaxDPointer, &p, 8), "set AMAX_D_POINTER")
        }
        let (ar, ac) = g.transA ? (g.k, g.m) : (g.m, g.k)
        let (br, bc) = g.transB ? (g.n, g.k) : (g.k, g.n)
        let ab = g.operandType ?? t
        try ok(lt.layoutCreate(&a, ab, UInt64(ar), UInt64(ac), Int64(g.lda)), "layout A")
        try ok(lt.layoutCreate(&b, ab, UInt64(br), UInt64(bc), Int64(g.ldb)), "layout B")
        try ok(lt.layoutCreate(&c, t, UInt64(g.m), UInt64(g.n), Int64(g.ldc)), "layout C")
        if let dt = g.outputType {
            try ok(lt.layoutCreate(&d, dt, UInt64(g.m), UInt64(g.n), Int64(g.ldc)), "layout D")
        } else {
            d = c
        }
        if g.batch > 1 {
            var count = Int32(g.batch)
            for (layout, stride) in [(a, g.strideA), (b, g.strideB), (c, g.strideC)] {
                var s = Int64(stride)
                try ok(lt.layoutSet(layout, CUBLASLt.layoutBatch, &count, 4), "layout batch")
                try ok(lt.layoutSet(layout, CUBLASLt.layoutBatchStride, &s, 8), "layout batch stride")
            }
        }
        var pref: CUBLASLt.Handle = nil
        try ok(lt.prefCreate(&pref), "preference")
        defer { _ = lt.prefDestroy(pref) }
        var ws = UInt64(workspaceLimit)
        try ok(lt.prefSet(pref, CUBLASLt.prefWorkspace, &ws, 8), "preference workspace")
        for (attr, align) in [(Int32(5), g.alignA), (Int32(6), g.alignB), (Int32(7), g.alignC), (Int32(8), g.alignC)] {
            var v = UInt32(align)
            try ok(lt.prefSet(pref, attr, &v, 4), "preference alignment")
        }
        var found: Int32 = 0
        var results = [UInt8](repeating: 0, count: 96 * Self.candidateCount)
        let rc = results.withUnsafeMutableBytes { lt.heuristic(lt.handle, desc, a, b, c, d, pref, Int32(Self.candidateCount), $0.baseAddress!, &found) }
        if rc != 0 || found == 0 { throw CUDAError.cublas("cublasLtMatmulAlgoGetHeuristic (m \(g.m) n \(g.n) k \(g.k) \(g.dtype))", rc) }
        // Keep the results whose state (offset 72) is CUBLAS_STATUS_SUCCESS.
        candidates = (0..<Int(found)).map { Array(results[$0 * 96 ..< ($0 + 1) * 96]) }
            .filter { r in r.withUnsafeBytes { $0.load(fromByteOffset: 72, as: Int32.self) } == 0 }
        if candidates.isEmpty { candidates = [Array(results[0..<96])] }
        algo = candidates[0]
        workspace = algo.withUnsafeBytes { Int($0.load(fromByteOffset: 64, as: UInt64.self)) }
    }
}
