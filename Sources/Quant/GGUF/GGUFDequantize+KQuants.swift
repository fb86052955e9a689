/// The k-quants: super-blocks of 256 elements with 6- or 8-bit sub-block scales (ggml's
/// `block_q2_K` ... `block_q6_K`), decoded as `gguf.quants` (numpy) decodes them.
extension GGUFDequantize {
    /// Q2_K (84 bytes): 16 scale bytes (low nibble scale, high nibble min, one per 16 elements),
    /// 64 bytes of 2-bit q, f16 d, f16 dmin. Element h*128 + s*32 + l is bits 2s of byte h*32 + l.
    /// y = (d * sc) * q - (dmin * m).
    @inline(__always) static func q2_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 80), dmin = half(p, 82)
        for h in 0..<2 {
            for s in 0..<4 {
                for l in 0..<32 {
                    let i = h * 128 + s * 32 + l
                    let sc = p.load(fromByteOffset: i / 16, as: UInt8.self)
                    let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc >> 4)
                    let q = (p.load(fromByteOffset: 16 + h * 32 + l, as: UInt8.self) >> UInt8(2 * s)) & 3
                    y[i] = dl * Float(q) - ml
                }
            }
        }
    }

    /// Q3_K (110 bytes): 32 bytes hmask, 64 bytes of 2-bit low q, 12 bytes of 6-bit scales, f16 d.
    /// q = low - 4 when the element's hmask bit is clear; y = (d * (scale - 32)) * q.
    @inline(__always) static func q3_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 108)
        var dl = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0),
                  Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
        withUnsafeMutableBytes(of: &dl) { raw in
            let out = raw.bindMemory(to: Float.self)
            for i in 0..<16 {
                let low = (p.load(fromByteOffset: 96 + i % 8, as: UInt8.self) >> UInt8(4 * (i / 8))) & 0x0F
                let high = (p.load(fromByteOffset: 104 + i % 4, as: UInt8.self) >> UInt8(2 * (i / 4))) & 0x03
                out[i] = d * Float(Int(low | high << 4) - 32)
            }
        }
        withUnsafeBytes(of: &dl) { raw in
            let scale = raw.bindMemory(to: Float.self)
            for h in 0..<2 {
                for s in 0..<4 {
                    for l in 0..<32 {
                        let i = h * 128 + s * 32 + l
                        let low = Int((p.load(fromByteOffset: 32 + h * 32 + l, as: UInt8.self) >> UInt8(2 * s)) & 3)
                        // Element bit*32 + l takes bit `bit` of hmask[l]; here bit = i / 32.
                        let bit = (p.load(fromByteOffset: l, as: UInt8.self) >> UInt8(i / 32)) & 1
                        y[i] = scale[i / 16] * Float(low - (bit == 0 ? 4 : 0))
                    }
                }
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) of a Q4_K / Q5_K super-block from its 12
    /// packed bytes at `s` (ggml's `get_scale_min_k4`).
    @inline(__always) static func scaleMin(_ s: UnsafeRawPointer, _ j: Int) -> (Float, Float) {
        func b(_ i: Int) -> UInt8 { s.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (Float(b(j) & 63), Float(b(j + 4) & 63)) }
        let sc = (b(j + 4) & 0x0F) | ((b(j - 4) >> 2) & 0x30)
        let m = (b(j + 4) >> 4) | ((b(j) >> 2) & 0x30)
        return (Float(sc), Float(m))
    }

    /// Q4_K (144 bytes): f16 d, f16 dmin, 12 bytes of scales/mins, 128 bytes of nibbles. Element
    /// c*64 + s*32 + l is nibble s of byte c*32 + l; y = (d * sc) * q - (dmin * m) per 32 elements.
    @inline(__always) static func q4_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        for c in 0..<4 {
            for s in 0..<2 {
                let (sc, m) = scaleMin(p + 4, 2 * c + s)
                let dl = d * sc, ml = dmin * m
                for l in 0..<32 {
                    let q = (p.load(fromByteOffset: 16 + c * 32 + l, as: UInt8.self) >> UInt8(4 * s)) & 0x0F
                    y[c * 64 + s * 32 + l] = dl * Float(q) - ml
                }
            }
        }
    }

    /// Q5_K (176 bytes): as Q4_K plus 32 bytes of fifth bits before the nibbles (element
    /// bit*32 + l takes bit `bit` of qh[l]).
    @inline(__always) static func q5_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        for c in 0..<4 {
            for s in 0..<2 {
                let (sc, m) = scaleMin(p + 4, 2 * c + s)
                let dl = d * sc, ml = dmin * m
                let bit = UInt8(2 * c + s)
                for l in 0..<32 {
                    let low = (p.load(fromByteOffset: 48 + c * 32 + l, as: UInt8.self) >> UInt8(4 * s)) & 0x0F
                    let high = (p.load(fromByteOffset: 16 + l, as: UInt8.self) >> bit) & 1
                    y[c * 64 + s * 32 + l] = dl * Float(low | high << 4) - ml
                }
            }
        }
    }

    /// Q6_K (210 bytes): 128 bytes of low nibbles, 64 bytes of 2-bit highs, 16 int8 scales, f16 d.
    /// Element h*128 + s*64 + k has nibble s of ql[h*64 + k]; element h*128 + t*32 + l has bits 2t of
    /// qh[h*32 + l]. y = (d * scale) * (q - 32) per 16 elements.
    @inline(__always) static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 208)
        for h in 0..<2 {
            for t in 0..<4 {
                for l in 0..<32 {
                    let i = h * 128 + t * 32 + l
                    let k = i - h * 128  // 0..<128 within the half
                    let low = (p.load(fromByteOffset: h * 64 + k % 64, as: UInt8.self) >> UInt8(4 * (k / 64))) & 0x0F
                    let high = (p.load(fromByteOffset: 128 + h * 32 + l, as: UInt8.self) >> UInt8(2 * t)) & 3
                    let scale = d * Float(p.load(fromByteOffset: 192 + i / 16, as: Int8.self))
                    y[i] = scale * Float(Int(low | high << 4) - 32)
                }
            }
        }
    }
}
