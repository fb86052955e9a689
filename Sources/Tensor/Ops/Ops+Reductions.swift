/// Reductions over sets of dimensions, and softmax. Results are f32.

extension Tensor {
    /// Normalises and validates reduction dims (nil = all dims): sorted, distinct, in range.
    @usableFromInline
    func reductionDims(_ dims: [Int]?, _ what: String) -> [Int] {
        guard let dims else { return Array(0..<rank) }
        let resolved = dims.map { d -> Int in
            let a = d < 0 ? d + rank : d
            precondition(a >= 0 && a < rank, "\(what): dim \(d) out of range for shape \(shape)")
            return a
        }
        precondition(Set(resolved).count == resolved.count, "\(what): repeated dims \(dims) for shape \(shape)")
        return resolved.sorted()
    }

    /// Sum over `dims` (all dims when nil), accumulated in blocks of f32 folded into Double.
    /// With `keepDims` the reduced dims stay as size 1.
    public func sum(dims: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        backend.reduce(.sum, self, dims: reductionDims(dims, "sum"), keepDims: keepDims)
    }
    /// Sum over one dim.
    public func sum(dim: Int, keepDims: Bool = false) -> Tensor { sum(dims: [dim], keepDims: keepDims) }

    /// Mean over `dims` (all dims when nil). A mean over an empty dim is NaN, like PyTorch.
    public func mean(dims: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        backend.reduce(.mean, self, dims: reductionDims(dims, "mean"), keepDims: keepDims)
    }
    /// Mean over one dim.
    public func mean(dim: Int, keepDims: Bool = false) -> Tensor { mean(dims: [dim], keepDims: keepDims) }

    /// Largest element over `dims` (all dims when nil), like `torch.amax`; NaN wins.
    ///
    /// Note: inside `extension Tensor`, write `Swift.max(a, b)` for the scalar function.
    public func max(dims: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let d = reductionDims(dims, "max")
        precondition(d.allSatisfy { shape[$0] > 0 }, "max: cannot reduce an empty dim of shape \(shape)")
        return backend.reduce(.max, self, dims: d, keepDims: keepDims)
    }
    /// Largest element over one dim.
    public func max(dim: Int, keepDims: Bool = false) -> Tensor { max(dims: [dim], keepDims: keepDims) }

    /// Smallest element over `dims` (all dims when nil), like `torch.amin`; NaN wins.
    public func min(dims: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let d = reductionDims(dims, "min")
        precondition(d.allSatisfy { shape[$0] > 0 }, "min: cannot reduce an empty dim of shape \(shape)")
        return backend.reduce(.min, self, dims: d, keepDims: keepDims)
    }
    /// Smallest element over one dim.
    public func min(dim: Int, keepDims: Bool = false) -> Tensor { min(dims: [dim], keepDims: keepDims) }
}

/// Softmax along `dim` (negative counts from the end), computed stably as exp(x - max) / sum.
public func softmax(_ x: Tensor, dim: Int = -1) -> Tensor {
    let d = x.rank == 0 && (dim == 0 || dim == -1) ? 0 : x.axis(dim)
    return x.backend.softmax(x, dim: d)
}
