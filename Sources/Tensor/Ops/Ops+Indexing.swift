/// Gathering rows and joining tensors.

/// Rows of `table` (V, D) picked by integer `indices` of any shape -> (indices.shape..., D) as f32.
/// Only the picked rows are decoded, so a bf16 or fp8 table is never converted as a whole.
/// Every index must lie in 0..<V (checked here, before the kernel runs).
public func embedding(_ table: Tensor, _ indices: Tensor) -> Tensor {
    precondition(table.rank == 2, "embedding: table must be (V, D), got \(table.shape)")
    precondition(table.dtype.isFloatingPoint, "embedding: table must be floating point, got \(table.dtype)")
    precondition([.i32, .i64, .i8, .u8].contains(indices.dtype), "embedding: indices must be integers, got \(indices.dtype)")
    precondition(table.backend === indices.backend, "embedding: table and indices live on different backends")
    let v = table.shape[0]
    if let bad = indices.integers().first(where: { $0 < 0 || $0 >= v }) {
        preconditionFailure("embedding: index \(bad) out of range for a table of \(v) rows (shape \(table.shape))")
    }
    return table.backend.embedding(table, indices: indices)
}

/// Concatenates tensors along `dim` (negative counts from the end). All inputs must share one dtype
/// (kept in the result) and all sizes except along `dim`.
public func concat(_ xs: [Tensor], dim: Int) -> Tensor {
    precondition(!xs.isEmpty, "concat: no tensors given")
    let first = xs[0]
    let d = first.axis(dim)
    for x in xs.dropFirst() {
        precondition(x.dtype == first.dtype, "concat: dtype \(x.dtype) differs from \(first.dtype)")
        precondition(x.backend === first.backend, "concat: tensors live on different backends")
        precondition(x.rank == first.rank && (0..<x.rank).allSatisfy { $0 == d || x.shape[$0] == first.shape[$0] },
                     "concat along dim \(dim): shapes \(first.shape) and \(x.shape) differ outside that dim")
    }
    if xs.count == 1 { return first.contiguous() }
    return first.backend.concat(xs, dim: d)
}
