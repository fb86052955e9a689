#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Branch-free f32 math for the elementwise kernels.
///
/// Every function here is straight-line code (selects instead of branches, no libm calls, no
/// float-to-int conversions that trap) so that a simple `for i in 0..<n` loop over it is
/// auto-vectorised by LLVM. The polynomial coefficients were fitted for this file by
/// `Tools/fit_kernel_polynomials.py` (weighted minimax against mpmath) and checked there in
/// simulated f32 arithmetic: exp <= 1 ulp, tanh (small branch) <= 1.2 ulp, erf <= 2.3 ulp.
/// The Swift tests re-check them against double-precision libm over dense sweeps.
enum FastMath {
    /// 1.5 * 2^23: adding and subtracting it rounds a float of magnitude < 2^22 to an integer.
    @usableFromInline static let roundMagic: Float = 12582912.0

    /// e^x with <= 1 ulp error; overflows to +inf above ~88.72 and underflows through the
    /// subnormals to 0 below ~-103.3; NaN stays NaN.
    @inline(__always)
    static func exp(_ x0: Float) -> Float {
        // Clamp (NaN passes through both comparisons unchanged).
        var x = x0 < -104 ? -104 : x0
        x = x > 89 ? 89 : x
        // n = round(x / ln 2), r = x - n ln 2 with ln 2 split in two (Cody-Waite).
        let t = x * 1.44269504088896341 + roundMagic
        let n = t - roundMagic
        var r = x - n * 0.693359375
        r = r - n * -2.12194440e-4
        // e^r = 1 + r + r^2 q(r) on |r| <= ln2/2.
        var q: Float = 1.9790356e-4
        q = q * r + 1.394465e-3
        q = q * r + 8.333497e-3
        q = q * r + 4.1666295e-2
        q = q * r + 1.6666666e-1
        q = q * r + 0.5
        let p = (r * r * q + r) + 1
        // 2^n applied as two factors so that n in [-150, 128] never leaves the normal exponent range.
        let ni = Int32(bitPattern: t.bitPattern) &- Int32(bitPattern: roundMagic.bitPattern)
        let n1 = ni >> 1
        let n2 = ni &- n1
        let s1 = Float(bitPattern: UInt32(bitPattern: (n1 &+ 127) &<< 23))
        let s2 = Float(bitPattern: UInt32(bitPattern: (n2 &+ 127) &<< 23))
        return p * s1 * s2
    }

    /// 1 / (1 + e^-x).
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    /// x * sigmoid(x), written as a single division.
    @inline(__always)
    static func silu(_ x: Float) -> Float { x / (1 + exp(-x)) }

    /// x * sigmoid(1.702 x) (CLIP's quick GELU).
    @inline(__always)
    static func quickGelu(_ x: Float) -> Float { x / (1 + exp(-1.702 * x)) }

    /// tanh with <= ~2 ulp error: an odd polynomial below |x| = 0.625, 1 - 2/(e^2|x| + 1) above.
    @inline(__always)
    static func tanh(_ x: Float) -> Float {
        let a = x < 0 ? -x : x
        let s = x * x
        var p: Float = -5.659862e-3
        p = p * s + 2.0590881e-2
        p = p * s + -5.3721037e-2
        p = p * s + 1.3331127e-1
        p = p * s + -3.333326e-1
        p = p * s + 1
        let small = x * p
        let big = 1 - 2 / (exp(2 * a) + 1)
        let signedBig = x < 0 ? -big : big
        return a < 0.625 ? small : signedBig
    }

    /// PyTorch's tanh-approximated GELU 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), evaluated as
    /// x / (1 + e^(-2u)) (the same function, without the cancellation of 1 + tanh for negative x).
    @inline(__always)
    static func geluTanh(_ x: Float) -> Float {
        let u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
        return x / (1 + exp(-2 * u))
    }

    /// erf(t) / t as a polynomial in t^2, for |t| < 1.
    @inline(__always)
    static func erfSmallRatio(_ s: Float) -> Float {
        var p: Float = 7.85372e-5
        p = p * s + -8.010155e-4
        p = p * s + 5.188324e-3
        p = p * s + -2.6853811e-2
        p = p * s + 1.12835854e-1
        p = p * s + -3.7612626e-1
        p = p * s + 1.1283791
        return p
    }

    /// erfc(t) for t >= 1 as exp(poly(t - 2.5)); 0 beyond t = 4 (where erfc < 1.6e-8).
    @inline(__always)
    static func erfcLarge(_ t: Float) -> Float {
        let u = (t > 4 ? 4 : t) - 2.5
        var p: Float = -2.9524082e-7
        p = p * u + -1.0834001e-6
        p = p * u + 7.498117e-7
        p = p * u + -1.2486312e-5
        p = p * u + 7.8523684e-5
        p = p * u + -4.198821e-4
        p = p * u + 2.1654738e-3
        p = p * u + -1.08583514e-2
        p = p * u + -9.4389385e-1
        p = p * u + -5.3526807
        p = p * u + -7.806815
        let e = exp(p)
        return t > 4 ? 0 : e
    }

    /// erf(x) with <= ~2.5 ulp error.
    @inline(__always)
    static func erf(_ x: Float) -> Float {
        let t = x < 0 ? -x : x
        let small = x * erfSmallRatio(x * x)
        let big = 1 - erfcLarge(t)
        let signedBig = x < 0 ? -big : big
        return t < 1 ? small : signedBig
    }

    /// Exact GELU x * 0.5 * (1 + erf(x / sqrt 2)); for negative x it uses erfc directly, so the tail
    /// keeps its relative accuracy instead of cancelling in 1 + erf.
    @inline(__always)
    static func gelu(_ x: Float) -> Float {
        let z = x * 0.70710678118654752
        let t = z < 0 ? -z : z
        let small = 0.5 * x * (1 + z * erfSmallRatio(z * z))
        let c = erfcLarge(t)
        let big = z < 0 ? 0.5 * x * c : x * (1 - 0.5 * c)
        return t < 1 ? small : big
    }

    // Not hot in these models (RoPE tables, timestep embeddings, T5 buckets): libm per element.
    @inline(__always) static func log(_ x: Float) -> Float { logf(x) }
    @inline(__always) static func sin(_ x: Float) -> Float { sinf(x) }
    @inline(__always) static func cos(_ x: Float) -> Float { cosf(x) }
    @inline(__always) static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
}
