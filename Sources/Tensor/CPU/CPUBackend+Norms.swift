/// LayerNorm, RMSNorm and GroupNorm. Statistics are two-pass (mean, then squared deviations) with
/// block-f32/Double accumulation (`VectorSum`) and the mean kept as an f32 pair (`splitMean`), so rows
/// with a large mean and a small spread stay accurate. Outputs are contiguous f32; rows (or groups)
/// are spread over threads.
extension CPUBackend {
    public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("layerNorm", profileStart) }
        let d = x.shape.last ?? 1
        let w = weight.map(contiguousFloats), b = bias.map(contiguousFloats)
        precondition(w.map { $0.count == d } ?? true, "layerNorm: weight \(weight!.shape) does not match last dim \(d) of \(x.shape)")
        precondition(b.map { $0.count == d } ?? true, "layerNorm: bias \(bias!.shape) does not match last dim \(d) of \(x.shape)")
        let xf = contiguousFloats(x)
        let out = empty(x.shape, .f32)
        let rows = d == 0 ? 0 : x.count / d
        if rows == 0 { return out }
        let src = UnsafePointer(floatPointer(xf)), dst = floatPointer(out)
        let pw = w.map { UnsafePointer(floatPointer($0)) }, pb = b.map { UnsafePointer(floatPointer($0)) }
        parallel.forEach(rows, grain: Swift.max(1, 16384 / d)) { r in
            for row in r {
                let s = src + row * d, o = dst + row * d
                let (mh, ml) = VectorSum.splitMean(VectorSum.shiftedMean(s, d))
                let variance = Float(VectorSum.sumOfSquaredDeviations(s, d, meanHigh: mh, meanLow: ml) / Double(d))
                let rstd = 1 / (variance + eps).squareRoot()
                switch (pw, pb) {
                case let (w?, b?): for i in 0..<d { o[i] = ((s[i] - mh) - ml) * rstd * w[i] + b[i] }
                case let (w?, nil): for i in 0..<d { o[i] = ((s[i] - mh) - ml) * rstd * w[i] }
                case let (nil, b?): for i in 0..<d { o[i] = ((s[i] - mh) - ml) * rstd + b[i] }
                case (nil, nil): for i in 0..<d { o[i] = ((s[i] - mh) - ml) * rstd }
                }
            }
        }
        return out
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("rmsNorm", profileStart) }
        let d = x.shape.last ?? 1
        let w = weight.map(contiguousFloats)
        precondition(w.map { $0.count == d } ?? true, "rmsNorm: weight \(weight!.shape) does not match last dim \(d) of \(x.shape)")
        let xf = contiguousFloats(x)
        let out = empty(x.shape, .f32)
        let rows = d == 0 ? 0 : x.count / d
        if rows == 0 { return out }
        let src = UnsafePointer(floatPointer(xf)), dst = floatPointer(out)
        let pw = w.map { UnsafePointer(floatPointer($0)) }
        parallel.forEach(rows, grain: Swift.max(1, 16384 / d)) { r in
            for row in r {
                let s = src + row * d, o = dst + row * d
                let meanSquare = Float(VectorSum.sumOfSquares(s, d) / Double(d))
                let rinv = 1 / (meanSquare + eps).squareRoot()
                if let w = pw {
                    for i in 0..<d { o[i] = s[i] * rinv * w[i] }
                } else {
                    for i in 0..<d { o[i] = s[i] * rinv }
                }
            }
        }
        return out
    }

    public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("groupNorm", profileStart) }
        return groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: false)
    }

    /// GroupNorm with SiLU applied in the same output pass (one read and one write of the tensor
    /// instead of two of each).
    public func groupNormSiLU(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("groupNormSiLU", profileStart) }
        return groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: true)
    }

    private func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float, silu: Bool) -> Tensor {
        precondition(x.rank >= 2, "groupNorm: input must be (N, C, ...), got \(x.shape)")
        let n = x.shape[0], c = x.shape[1]
        precondition(groups > 0 && c % groups == 0, "groupNorm: \(c) channels do not split into \(groups) groups")
        let w = weight.map(contiguousFloats), b = bias.map(contiguousFloats)
        precondition(w.map { $0.count == c } ?? true, "groupNorm: weight \(weight!.shape) does not match \(c) channels")
        precondition(b.map { $0.count == c } ?? true, "groupNorm: bias \(bias!.shape) does not match \(c) channels")
        let xf = contiguousFloats(x)
        let out = empty(x.shape, .f32)
        let spatial = x.shape[2...].reduce(1, *)
        let perGroup = c / groups
        let blockLen = perGroup * spatial
        if x.count == 0 { return out }
        let src = UnsafePointer(floatPointer(xf)), dst = floatPointer(out)
        let pw = w.map { UnsafePointer(floatPointer($0)) }, pb = b.map { UnsafePointer(floatPointer($0)) }
        parallel.forEach(n * groups, grain: Swift.max(1, 16384 / Swift.max(blockLen, 1))) { r in
            for block in r {
                let s = src + block * blockLen, o = dst + block * blockLen
                let (mh, ml) = VectorSum.splitMean(VectorSum.shiftedMean(s, blockLen))
                let variance = Float(VectorSum.sumOfSquaredDeviations(s, blockLen, meanHigh: mh, meanLow: ml) / Double(blockLen))
                let rstd = 1 / (variance + eps).squareRoot()
                let firstChannel = (block % groups) * perGroup
                for ch in 0..<perGroup {
                    // (x - mean) * (rstd * w) + b per channel; the mean is subtracted first so a
                    // large mean does not swamp the deviations.
                    let cw = pw.map { $0[firstChannel + ch] } ?? 1
                    let cb = pb.map { $0[firstChannel + ch] } ?? 0
                    let scale = rstd * cw
                    let cs = s + ch * spatial, co = o + ch * spatial
                    if silu {
                        for i in 0..<spatial { co[i] = FastMath.silu(((cs[i] - mh) - ml) * scale + cb) }
                    } else {
                        for i in 0..<spatial { co[i] = ((cs[i] - mh) - ml) * scale + cb }
                    }
                }
            }
        }
        return out
    }
}
