/// Elementwise kernels: unary math, broadcasting binary ops and scalar affine maps.
///
/// Inputs of any dtype are read as f32 (`floatView`; broadcast dims are converted once) and the
/// result is a new contiguous f32 tensor. Each kernel picks its loop once per call: a flat loop for
/// contiguous data (split across threads in chunks), or a `StridedWalk` over runs whose inner loop is
/// specialised for unit and zero strides (row- and scalar-broadcast) with a strided fallback.
extension CPUBackend {
    /// Elements per thread below which an elementwise kernel stays on one thread.
    static let elementGrain = 1 << 15

    public func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("unary.\(op)", profileStart) }
        let xf = floatView(x)
        switch op {
        case .neg: return mapElements(xf, UnaryKernels.Neg())
        case .exp: return mapElements(xf, UnaryKernels.Exp())
        case .log: return mapElements(xf, UnaryKernels.Log())
        case .sqrt: return mapElements(xf, UnaryKernels.Sqrt())
        case .rsqrt: return mapElements(xf, UnaryKernels.Rsqrt())
        case .abs: return mapElements(xf, UnaryKernels.Abs())
        case .square: return mapElements(xf, UnaryKernels.Square())
        case .tanh: return mapElements(xf, UnaryKernels.Tanh())
        case .sigmoid: return mapElements(xf, UnaryKernels.Sigmoid())
        case .silu: return mapElements(xf, UnaryKernels.Silu())
        case .gelu: return mapElements(xf, UnaryKernels.Gelu())
        case .geluTanh: return mapElements(xf, UnaryKernels.GeluTanh())
        case .quickGelu: return mapElements(xf, UnaryKernels.QuickGelu())
        case .sin: return mapElements(xf, UnaryKernels.Sin())
        case .cos: return mapElements(xf, UnaryKernels.Cos())
        case .erf: return mapElements(xf, UnaryKernels.Erf())
        }
    }

    public func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("binary.\(op)", profileStart) }
        precondition(a.shape == b.shape, "binary \(op): operands must be expanded to one shape, got \(a.shape) and \(b.shape)")
        let af = floatView(a), bf = floatView(b)
        switch op {
        case .add: return zipElements(af, bf, BinaryKernels.Add())
        case .sub: return zipElements(af, bf, BinaryKernels.Sub())
        case .mul: return zipElements(af, bf, BinaryKernels.Mul())
        case .div: return zipElements(af, bf, BinaryKernels.Div())
        case .maximum: return zipElements(af, bf, BinaryKernels.Maximum())
        case .minimum: return zipElements(af, bf, BinaryKernels.Minimum())
        case .pow: return zipElements(af, bf, BinaryKernels.Pow())
        }
    }

    public func affine(_ x: Tensor, scale: Float, shift: Float) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("affine", profileStart) }
        return mapElements(floatView(x), UnaryKernels.Affine(scale: scale, shift: shift))
    }

    /// `f` applied to every element of f32 tensor `x`, into a new contiguous tensor.
    func mapElements<K: UnaryKernel>(_ x: Tensor, _ f: K) -> Tensor {
        let out = empty(x.shape, .f32)
        let n = x.count
        if n == 0 { return out }
        let dst = floatPointer(out)
        let src = UnsafePointer(floatPointer(x))
        if x.isContiguous {
            parallel.forEach(n, grain: Self.elementGrain) { r in
                f.run(src + r.lowerBound, 1, dst + r.lowerBound, r.count)
            }
            return out
        }
        let walk = StridedWalk(shape: x.shape, x.strides)
        let st = walk.innerStrideA
        parallel.forEach(n, grain: Self.elementGrain) { r in
            walk.forEachRun(r) { offA, _, oi, len in
                f.run(src + offA, st, dst + oi, len)
            }
        }
        return out
    }

    /// `f(a, b)` for f32 tensors of one shape (any strides, 0 included) into a new contiguous tensor.
    func zipElements<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _ f: K) -> Tensor {
        let out = empty(a.shape, .f32)
        let n = a.count
        if n == 0 { return out }
        let dst = floatPointer(out)
        let pa = UnsafePointer(floatPointer(a)), pb = UnsafePointer(floatPointer(b))
        if a.isContiguous && b.isContiguous {
            parallel.forEach(n, grain: Self.elementGrain) { r in
                f.run(pa + r.lowerBound, 1, pb + r.lowerBound, 1, dst + r.lowerBound, r.count)
            }
            return out
        }
        let walk = StridedWalk(shape: a.shape, a.strides, b.strides)
        let sa = walk.innerStrideA, sb = walk.innerStrideB
        parallel.forEach(n, grain: Self.elementGrain) { r in
            walk.forEachRun(r) { offA, offB, oi, len in
                f.run(pa + offA, sa, pb + offB, sb, dst + oi, len)
            }
        }
        return out
    }
}
