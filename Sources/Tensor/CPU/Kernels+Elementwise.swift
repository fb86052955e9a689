/// The per-element functions of the elementwise kernels as small generic kernel types.
///
/// A kernel type, not a closure, carries the function into the threaded loops: the loops are
/// specialised for each type, so the function is inlined and the loop auto-vectorised (a closure
/// captured across `Parallel.forEach` is called per element and runs ~6x slower).
protocol UnaryKernel {
    func callAsFunction(_ x: Float) -> Float
}

extension UnaryKernel {
    /// `d[i] = f(s[i * st])` for i in 0..<n, with a unit-stride loop LLVM vectorises.
    @inline(__always)
    func run(_ s: UnsafePointer<Float>, _ st: Int, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
        if st == 1 {
            for i in 0..<n { d[i] = self(s[i]) }
        } else {
            for i in 0..<n { d[i] = self(s[i * st]) }
        }
    }
}

protocol BinaryKernel {
    func callAsFunction(_ a: Float, _ b: Float) -> Float
}

extension BinaryKernel {
    /// `d[i] = f(a[i * sa], b[i * sb])` with separate loops for unit strides and for a broadcast
    /// (stride-0) operand, the shapes that bias adds, scales and same-shape ops produce.
    @inline(__always)
    func run(_ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
             _ d: UnsafeMutablePointer<Float>, _ n: Int) {
        if sa == 1 && sb == 1 {
            for i in 0..<n { d[i] = self(a[i], b[i]) }
        } else if sa == 1 && sb == 0 {
            let v = b[0]
            for i in 0..<n { d[i] = self(a[i], v) }
        } else if sa == 0 && sb == 1 {
            let v = a[0]
            for i in 0..<n { d[i] = self(v, b[i]) }
        } else {
            for i in 0..<n { d[i] = self(a[i * sa], b[i * sb]) }
        }
    }
}

enum UnaryKernels {
    struct Neg: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { -x } }
    struct Exp: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { FastMath.exp(x) } }
    struct Log: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { FastMath.log(x) } }
    struct Sqrt: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { x.squareRoot() } }
    struct Rsqrt: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { 1 / x.squareRoot() } }
    struct Abs: UnaryKernel {
        @inline(__always) func callAsFunction(_ x: Float) -> Float { Float(bitPattern: x.bitPattern & 0x7FFF_FFFF) }
    }
    struct Square: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { x * x } }
    struct Tanh: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { FastMath.tanh(x) } }
    struct Sigmoid: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { FastMath.sigmoid(x) } }
    struct Silu: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { FastMath.silu(x) } }
    struct Gelu: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { FastMath.gelu(x) } }
    struct GeluTanh: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { FastMath.geluTanh(x) } }
    struct QuickGelu: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { FastMath.quickGelu(x) } }
    struct Sin: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { FastMath.sin(x) } }
    struct Cos: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { FastMath.cos(x) } }
    struct Erf: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { FastMath.erf(x) } }
    struct Affine: UnaryKernel {
        let scale: Float, shift: Float
        @inline(__always) func callAsFunction(_ x: Float) -> Float { x * scale + shift }
    }
}

enum BinaryKernels {
    struct Add: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
    struct Sub: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
    struct Mul: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
    struct Div: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
    /// NaN in either operand gives NaN (PyTorch semantics).
    struct Maximum: BinaryKernel {
        @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { (a > b || a != a) ? a : b }
    }
    struct Minimum: BinaryKernel {
        @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { (a < b || a != a) ? a : b }
    }
    struct Pow: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { FastMath.pow(a, b) } }
}
