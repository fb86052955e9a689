/// Rotary position embedding in one pass.
extension CPUBackend {
    /// See `Backend.rotaryEmbedding`. One read and one write of x (the composed version makes seven
    /// passes and a strided concat); rows (b, h, l) are spread over threads.
    public func rotaryEmbedding(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("rotaryEmbedding", profileStart) }
        let l = x.shape[2], d = x.shape[3], half = d / 2
        let xf = contiguousFloats(x), cf = contiguousFloats(cos), sf = contiguousFloats(sin)
        let out = empty(x.shape, .f32)
        let rows = x.count / Swift.max(d, 1)
        if rows == 0 || d == 0 { return out }
        let src = UnsafePointer(floatPointer(xf)), dst = floatPointer(out)
        let pc = UnsafePointer(floatPointer(cf)), ps = UnsafePointer(floatPointer(sf))
        parallel.forEach(rows, grain: Swift.max(1, 16384 / d)) { r in
            for row in r {
                let pos = row % l
                let s = src + row * d, o = dst + row * d
                let c = pc + pos * half, sn = ps + pos * half
                for i in 0..<half {
                    let a = s[2 * i], b = s[2 * i + 1]
                    o[2 * i] = c[i] * a - sn[i] * b
                    o[2 * i + 1] = sn[i] * a + c[i] * b
                }
            }
        }
        return out
    }
}
