import COpenBLAS

/// Thin wrappers over OpenBLAS: row-major `sgemm` and its thread-count control.
///
/// OpenBLAS (the pthread build) threads each GEMM itself. Kernels that run many independent GEMMs
/// (attention blocks, batched matmuls, conv tiles) thread across those GEMMs with `Parallel` instead
/// and run each GEMM on one thread inside `singleThreaded`, so the two thread pools never
/// oversubscribe the cores.
enum BLAS {
    /// `C (m x n, ldc) = alpha * op(A) * op(B) + beta * C`, all row-major.
    /// `op(A)` is (m x k): A is stored (m x k, lda) or, when `transA`, (k x m, lda). Likewise B.
    @inline(__always)
    static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // OpenBLAS handles k == 0 as C = beta C, but be explicit (beta 0 must clear NaNs too).
            for i in 0..<m {
                let row = c + i * ldc
                if beta == 0 { row.update(repeating: 0, count: n) } else { for j in 0..<n { row[j] *= beta } }
            }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }

    /// OpenBLAS's current thread count.
    static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// Runs `body` with OpenBLAS limited to one thread, restoring the previous count afterwards.
    /// Used around regions where `Parallel` already spreads independent GEMMs over the cores.
    /// (The setting is process-wide: a GEMM started concurrently from an unrelated thread during
    /// `body` also runs single-threaded, which is slower but still correct.)
    static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        let saved = threads
        if saved == 1 { return try body() }
        threads = 1
        defer { threads = saved }
        return try body()
    }
}

/// How one operand's last two dimensions map onto a BLAS matrix argument.
struct MatrixLayout {
    /// Pass `CblasTrans` (the matrix is stored column-major).
    var transposed: Bool
    /// Leading dimension to pass.
    var ld: Int

    /// The layout of a (rows x cols) matrix with the given element strides, or nil when neither
    /// row-major nor column-major with a valid leading dimension (then the caller copies it).
    static func of(rows: Int, cols: Int, rowStride: Int, colStride: Int) -> MatrixLayout? {
        // Row-major: unit column stride (or a single column), rows at least `cols` apart.
        if cols == 1 || colStride == 1 {
            if rows == 1 { return MatrixLayout(transposed: false, ld: max(cols, 1)) }
            if rowStride >= max(cols, 1) { return MatrixLayout(transposed: false, ld: rowStride) }
        }
        // Column-major: unit row stride (or a single row), columns at least `rows` apart.
        if rows == 1 || rowStride == 1 {
            if cols == 1 { return MatrixLayout(transposed: true, ld: max(rows, 1)) }
            if colStride >= max(rows, 1) { return MatrixLayout(transposed: true, ld: colStride) }
        }
        return nil
    }
}
