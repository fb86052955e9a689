/// Single-lane versions of the Cephes-derived `log256_ps` and `sincos256_ps` from PyTorch's
/// `aten/src/ATen/native/cpu/avx_mathfun.h`, written so that every rounding step matches the
/// instruction sequence of the x86-64 PyTorch wheels, which are compiled with FMA contraction:
/// each multiply that feeds an add is fused (`addingProduct` here), the others round on their own.
///
/// These are not accurate-to-the-last-bit logarithms or sines; they exist to reproduce PyTorch's
/// `torch.randn` bits. Valid inputs: `log` for x in (0, 1], `sincos` for x in [0, 2pi].
enum CephesMath {
    /// log(x) for x > 0 (avx_mathfun `log256_ps`, one lane).
    @inline(__always)
    static func log(_ input: Float) -> Float {
        var x = max(input, Float(bitPattern: 0x0080_0000)) // cut off denormals
        let exponentField = Int32(bitPattern: x.bitPattern >> 23)
        // Keep the mantissa and force the exponent of 0.5: x in [0.5, 1).
        x = Float(bitPattern: (x.bitPattern & ~UInt32(0x7F80_0000)) | Float(0.5).bitPattern)
        var e = Float(exponentField - 0x7F) + 1
        // if x < sqrt(1/2): e -= 1, x = x + x - 1, else x = x - 1
        let small = x < Float(0.707106781186547524)
        let tmp: Float = small ? x : 0
        x = x - 1
        e = e - (small ? 1 : 0)
        x = x + tmp

        let z = x * x
        var y: Float = 7.0376836292E-2
        y = (-1.1514610310E-1 as Float).addingProduct(y, x)
        y = (1.1676998740E-1 as Float).addingProduct(y, x)
        y = (-1.2420140846E-1 as Float).addingProduct(y, x)
        y = (1.4249322787E-1 as Float).addingProduct(y, x)
        y = (-1.6668057665E-1 as Float).addingProduct(y, x)
        y = (2.0000714765E-1 as Float).addingProduct(y, x)
        y = (-2.4999993993E-1 as Float).addingProduct(y, x)
        y = (3.3333331174E-1 as Float).addingProduct(y, x)
        y = y * x
        // y = y*z + e*q1: the pending y*z multiply fuses into the add; e*q1 rounds first.
        y = (e * (-2.12194440e-4 as Float)).addingProduct(y, z)
        y = y.addingProduct(z, -0.5 as Float)
        x = x + y
        x = x.addingProduct(e, 0.693359375 as Float)
        return x
    }

    /// (sin x, cos x) for x >= 0 (avx_mathfun `sincos256_ps`, one lane; negative inputs are not used).
    @inline(__always)
    static func sincos(_ input: Float) -> (sin: Float, cos: Float) {
        var signSin = input.bitPattern & 0x8000_0000
        var x = Float(bitPattern: input.bitPattern & 0x7FFF_FFFF)
        // scale by 4/pi, truncate, round up to even
        var j = Int32(x * Float(1.27323954473516))
        j = (j &+ 1) & ~1
        let y = Float(j)
        let swapSignSin = UInt32(bitPattern: j & 4) << 29
        let useSinPoly = (j & 2) == 0
        let signCos = UInt32(bitPattern: ~(j &- 2) & 4) << 29
        signSin ^= swapSignSin

        // Extended precision modular arithmetic: x = ((x - y*DP1) - y*DP2) - y*DP3
        x = x.addingProduct(y, -0.78515625 as Float)
        x = x.addingProduct(y, -2.4187564849853515625e-4 as Float)
        x = x.addingProduct(y, -3.77489497744594108e-8 as Float)

        let z = x * x
        // Cosine polynomial (0 <= x <= pi/4). The last multiply by z fuses into the subtraction of z/2.
        var yc: Float = (-1.388731625493765E-3 as Float).addingProduct(2.443315711809948E-5 as Float, z)
        yc = (4.166664568298827E-2 as Float).addingProduct(yc, z)
        yc = yc * z
        yc = (-(z * 0.5)).addingProduct(yc, z)
        yc = yc + 1
        // Sine polynomial.
        var ys: Float = (8.3321608736E-3 as Float).addingProduct(-1.9515295891E-4 as Float, z)
        ys = (-1.6666654611E-1 as Float).addingProduct(ys, z)
        ys = ys * z
        ys = x.addingProduct(ys, x)

        // Select as the vector code does (masked values are +0 and are added).
        let sinPart1: Float = useSinPoly ? 0 : yc
        let sinPart2: Float = useSinPoly ? ys : 0
        let cosPart1: Float = yc - sinPart1
        let cosPart2: Float = ys - sinPart2
        let s = sinPart1 + sinPart2
        let c = cosPart1 + cosPart2
        return (Float(bitPattern: s.bitPattern ^ signSin), Float(bitPattern: c.bitPattern ^ signCos))
    }
}
