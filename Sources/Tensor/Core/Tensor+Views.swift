/// Views: new shapes and strides over the same storage, no copy.
extension Tensor {
    /// Same elements in a new shape. One dimension may be -1 (inferred). Copies only when the
    /// tensor's strides cannot express the new shape (then it is made contiguous first).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        let known = newShape.filter { $0 != -1 }.reduce(1, *)
        if let i = newShape.firstIndex(of: -1) {
            precondition(newShape.filter { $0 == -1 }.count == 1, "only one -1 allowed in \(newShape)")
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[i] = count / known
        }
        precondition(resolved.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        if isContiguous {
            return Tensor(storage: storage, dtype: dtype, shape: resolved, offset: offset)
        }
        return contiguous().reshaped(resolved)
    }

    /// Variadic form of `reshaped(_:)`.
    public func reshaped(_ dims: Int...) -> Tensor { reshaped(dims) }

    /// Reorders dimensions: result dim i is source dim `order[i]`.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.count == rank && Set(order.map(axis)).count == rank, "bad permutation \(order) for rank \(rank)")
        let o = order.map(axis)
        return Tensor(storage: storage, dtype: dtype, shape: o.map { shape[$0] }, strides: o.map { strides[$0] }, offset: offset)
    }

    /// Variadic form of `permuted(_:)`.
    public func permuted(_ order: Int...) -> Tensor { permuted(order) }

    /// Swaps two dimensions.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(axis(a), axis(b))
        return permuted(order)
    }

    /// Elements `start..<end` (step `step`) along dimension `dim`. Negative bounds count from the end.
    public func slice(dim: Int, start: Int, end: Int? = nil, step: Int = 1) -> Tensor {
        precondition(step > 0, "slice step must be positive")
        let d = axis(dim)
        let n = shape[d]
        var s = start < 0 ? start + n : start
        var e = end.map { $0 < 0 ? $0 + n : $0 } ?? n
        s = Swift.min(Swift.max(s, 0), n)
        e = Swift.min(Swift.max(e, s), n)
        var newShape = shape
        newShape[d] = (e - s + step - 1) / step
        var newStrides = strides
        newStrides[d] = strides[d] * step
        return Tensor(storage: storage, dtype: dtype, shape: newShape, strides: newStrides, offset: offset + s * strides[d])
    }

    /// Picks index `i` along `dim`, removing that dimension.
    public func select(dim: Int, index i: Int) -> Tensor {
        let d = axis(dim)
        let idx = i < 0 ? i + shape[d] : i
        precondition(idx >= 0 && idx < shape[d], "index \(i) out of range for dimension \(d) of size \(shape[d])")
        var newShape = shape, newStrides = strides
        newShape.remove(at: d)
        newStrides.remove(at: d)
        return Tensor(storage: storage, dtype: dtype, shape: newShape, strides: newStrides, offset: offset + idx * strides[d])
    }

    /// Broadcasts to `newShape` (numpy rules: size-1 dims stretch, new leading dims are added). -1 keeps a size.
    public func expanded(_ newShape: [Int]) -> Tensor {
        precondition(newShape.count >= rank, "cannot expand \(shape) to fewer dims \(newShape)")
        let lead = newShape.count - rank
        var outShape = newShape, outStrides = [Int](repeating: 0, count: newShape.count)
        for i in 0..<newShape.count {
            if i < lead { precondition(newShape[i] >= 0, "expand: -1 not allowed for new dims"); continue }
            let src = shape[i - lead]
            let want = newShape[i] == -1 ? src : newShape[i]
            outShape[i] = want
            if src == want { outStrides[i] = strides[i - lead] }
            else { precondition(src == 1, "cannot expand \(shape) to \(newShape)") }
        }
        return Tensor(storage: storage, dtype: dtype, shape: outShape, strides: outStrides, offset: offset)
    }

    /// Inserts a size-1 dimension at `dim`.
    public func unsqueezed(_ dim: Int) -> Tensor {
        let d = dim < 0 ? dim + rank + 1 : dim
        precondition(d >= 0 && d <= rank, "unsqueeze dim \(dim) out of range")
        var s = shape, st = strides
        s.insert(1, at: d)
        st.insert(d < rank ? strides[d] * shape[d] : 1, at: d)
        return Tensor(storage: storage, dtype: dtype, shape: s, strides: st, offset: offset)
    }

    /// Removes dimension `dim`, which must have size 1.
    public func squeezed(_ dim: Int) -> Tensor {
        precondition(shape[axis(dim)] == 1, "squeeze of dim \(dim) with size \(shape[axis(dim)])")
        return select(dim: dim, index: 0)
    }

    /// Merges dimensions `start...end` into one.
    public func flattened(_ start: Int = 0, _ end: Int = -1) -> Tensor {
        let s = axis(start), e = axis(end)
        let merged = shape[s...e].reduce(1, *)
        return reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// `parts` equal pieces along `dim` (views). The size must divide evenly.
    public func chunked(_ parts: Int, dim: Int) -> [Tensor] {
        let d = axis(dim)
        precondition(parts > 0 && shape[d] % parts == 0, "cannot chunk size \(shape[d]) into \(parts)")
        let n = shape[d] / parts
        return (0..<parts).map { slice(dim: d, start: $0 * n, end: ($0 + 1) * n) }
    }

    /// Pieces of the given sizes along `dim` (views). Sizes must sum to the dimension.
    public func split(_ sizes: [Int], dim: Int) -> [Tensor] {
        let d = axis(dim)
        precondition(sizes.reduce(0, +) == shape[d], "split sizes \(sizes) do not sum to \(shape[d])")
        var start = 0
        return sizes.map { n in defer { start += n }; return slice(dim: d, start: start, end: start + n) }
    }

    /// A contiguous copy, or `self` when already contiguous.
    public func contiguous() -> Tensor { isContiguous ? self : backend.contiguous(self) }

    /// Converts to `dtype` (a copy; `self` when the dtype already matches).
    public func to(_ dtype: DType) -> Tensor { dtype == self.dtype ? self : backend.convert(self, to: dtype) }
}
