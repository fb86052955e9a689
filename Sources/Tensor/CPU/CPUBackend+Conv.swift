/// 2-D convolution (im2col + sgemm; 3x3 stride-1 convs go to Winograd F(2x2, 3x3), see
/// CPUBackend+Winograd.swift) and nearest-neighbour upsampling.
extension CPUBackend {
    /// 2-D convolution (see `Backend.conv2d`). For each image and group the output block
    /// (Cout/groups, Ho*Wo) = W_g (Cout/groups, Cin/groups*kh*kw) x col (Cin/groups*kh*kw, Ho*Wo).
    /// A 1x1, stride-1, unpadded conv multiplies the input directly (no im2col). Otherwise `col` is
    /// built a band of output rows at a time (bounded by `configuration.convTileBytes`), so memory stays small at
    /// any image size. Many tiles: workers take tiles one at a time, each with its own scratch band and single-threaded GEMMs;
    /// few tiles: threaded im2col and BLAS-threaded GEMMs, one tile after another.
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int),
                       padding: (top: Int, bottom: Int, left: Int, right: Int), groups: Int) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("conv2d", profileStart) }
        precondition(x.rank == 4 && weight.rank == 4, "conv2d kernel: x \(x.shape), weight \(weight.shape)")
        let nImages = x.shape[0], cin = x.shape[1], h = x.shape[2], w = x.shape[3]
        let cout = weight.shape[0], cinG = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3]
        let (sh, sw) = stride
        let (pt, pb, pl, pr) = padding
        precondition(groups >= 1 && cin == cinG * groups && cout % groups == 0 && sh >= 1 && sw >= 1,
                     "conv2d kernel: x \(x.shape), weight \(weight.shape), groups \(groups), stride \(stride)")
        let ho = (h + pt + pb - kh) / sh + 1, wo = (w + pl + pr - kw) / sw + 1
        precondition(ho >= 0 && wo >= 0, "conv2d kernel: output size \(ho)x\(wo) is negative")

        let x32 = LinalgKernels.f32(x).contiguous()
        let w32 = LinalgKernels.f32(weight).contiguous()
        let out = empty([nImages, cout, ho, wo], .f32)
        if out.count == 0 { return out }
        let px = LinalgKernels.pointer(x32), pw = LinalgKernels.pointer(w32), po = LinalgKernels.pointer(out)
        let plane = ho * wo, inPlane = h * w
        let coutG = cout / groups, kdim = cinG * kh * kw

        // Output starts as the bias (or zeros); every GEMM then accumulates with beta = 1.
        var b32: Tensor? = nil
        if let bias {
            precondition(bias.count == cout, "conv2d kernel: bias \(bias.shape) does not have \(cout) elements")
            b32 = LinalgKernels.f32(bias).contiguous()
        }
        let pbias = b32.map { UnsafePointer(LinalgKernels.pointer($0)) }
        if configuration.winograd && CPUBackend.winogradEligible(cin: cin, cout: cout, kh: kh, kw: kw, stride: stride, groups: groups, ho: ho, wo: wo) {
            winogradConv3x3(x: px, nImages: nImages, cin: cin, h: h, w: w, weight: pw, bias: pbias, cout: cout,
                                       padTop: pt, padLeft: pl, out: po, ho: ho, wo: wo)
            return out
        }
        parallel.forEach(nImages * cout, grain: max(1, 32768 / max(plane, 1))) { r in
            for i in r {
                let dst = po + i * plane
                if let pbias { dst.update(repeating: pbias[i % cout], count: plane) } else { dst.update(repeating: 0, count: plane) }
            }
        }
        let parallelOverGEMMs = { (gemms: Int) in gemms >= 2 * self.parallel.threadCount && self.parallel.threadCount > 1 }

        if kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pb == 0 && pl == 0 && pr == 0 {
            let gemm = { (i: Int) in
                let nI = i / groups, g = i % groups
                BLAS.sgemm(transA: false, transB: false, m: coutG, n: plane, k: cinG,
                           a: pw + g * coutG * cinG, lda: max(cinG, 1),
                           b: px + (nI * cin + g * cinG) * inPlane, ldb: plane,
                           beta: 1, c: po + (nI * cout + g * coutG) * plane, ldc: plane)
            }
            let gemms = nImages * groups
            if parallelOverGEMMs(gemms) {
                BLAS.singleThreaded { LinalgKernels.dynamicForEach(gemms, workers: parallel.threadCount) { i, _ in gemm(i) } }
            } else {
                for i in 0..<gemms { gemm(i) }
            }
            return out
        }

        let bandRows = max(1, min(ho, configuration.convTileBytes / max(1, kdim * wo * 4)))
        let bands = (ho + bandRows - 1) / bandRows
        let tiles = nImages * groups * bands
        let geometry = Im2Col(cin: cin, h: h, w: w, cinG: cinG, kh: kh, kw: kw, sh: sh, sw: sw, pt: pt, pl: pl, wo: wo)
        /// im2col for tile `t` into `col`, then the tile's GEMM. `threaded` spreads the im2col rows.
        let runTile = { (t: Int, col: UnsafeMutablePointer<Float>, threaded: Bool) in
            let band = t % bands, g = (t / bands) % groups, nI = t / (bands * groups)
            let oy0 = band * bandRows, oy1 = min(ho, oy0 + bandRows)
            let cols = (oy1 - oy0) * wo
            let src = px + (nI * cin + g * cinG) * inPlane
            if threaded {
                self.parallel.forEach(kdim, grain: max(1, 16384 / max(cols, 1))) { r in
                    geometry.fill(rows: r, oy0: oy0, oy1: oy1, src: src, col: col)
                }
            } else {
                geometry.fill(rows: 0..<kdim, oy0: oy0, oy1: oy1, src: src, col: col)
            }
            BLAS.sgemm(transA: false, transB: false, m: coutG, n: cols, k: kdim,
                       a: pw + g * coutG * kdim, lda: kdim, b: col, ldb: cols,
                       beta: 1, c: po + (nI * cout + g * coutG) * plane + oy0 * wo, ldc: plane)
        }
        let scratchCount = kdim * bandRows * wo
        if parallelOverGEMMs(tiles) {
            let workers = parallel.threadCount
            let col = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount * workers)
            defer { col.deallocate() }
            BLAS.singleThreaded {
                LinalgKernels.dynamicForEach(tiles, workers: workers) { t, w in runTile(t, col + w * scratchCount, false) }
            }
        } else {
            let col = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { col.deallocate() }
            for t in 0..<tiles { runTile(t, col, true) }
        }
        return out
    }

    /// Nearest-neighbour 2x upsampling (see `Backend.upsampleNearest2x`); reads any strided f32 view
    /// directly, one input row to two output rows per step, threaded over rows.
    public func upsampleNearest2x(_ x: Tensor) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("upsample", profileStart) }
        precondition(x.rank == 4, "upsampleNearest2x kernel needs (N, C, H, W), got \(x.shape)")
        let x32 = LinalgKernels.f32(x)
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let out = empty([n, c, 2 * h, 2 * w], .f32)
        if out.count == 0 { return out }
        let px = LinalgKernels.pointer(x32), po = LinalgKernels.pointer(out)
        let s0 = x32.strides[0], s1 = x32.strides[1], s2 = x32.strides[2], s3 = x32.strides[3]
        let w2 = 2 * w
        parallel.forEach(n * c * h, grain: max(1, 8192 / max(w, 1))) { r in
            for row in r {
                let y = row % h, ch = (row / h) % c, img = row / (h * c)
                let src = px + img * s0 + ch * s1 + y * s2
                let dst = po + (row / h) * (4 * h * w) + (2 * y) * w2
                if s3 == 1 {
                    for i in 0..<w { let v = src[i]; dst[2 * i] = v; dst[2 * i + 1] = v }
                } else {
                    for i in 0..<w { let v = src[i * s3]; dst[2 * i] = v; dst[2 * i + 1] = v }
                }
                (dst + w2).update(from: dst, count: w2)
            }
        }
        return out
    }
}

/// Geometry of one im2col band: which input pixel feeds each (row of col, output pixel).
struct Im2Col {
    let cin: Int, h: Int, w: Int, cinG: Int, kh: Int, kw: Int, sh: Int, sw: Int, pt: Int, pl: Int, wo: Int

    /// Fills rows `rows` of `col` ((cinG*kh*kw) x ((oy1-oy0)*wo), row-major) for output rows oy0..<oy1
    /// from the group's input planes at `src` (cinG planes of h x w). Out-of-image taps are zero.
    @inline(__always)
    func fill(rows: Range<Int>, oy0: Int, oy1: Int, src: UnsafePointer<Float>, col: UnsafeMutablePointer<Float>) {
        let cols = (oy1 - oy0) * wo
        for kr in rows {
            let kx = kr % kw, ky = (kr / kw) % kh, ci = kr / (kw * kh)
            let plane = src + ci * h * w
            let dstRow = col + kr * cols
            // Output columns whose input column lies inside the image: ox*sw - pl + kx in 0..<w.
            let oxLo = min(wo, max(0, (pl - kx + sw - 1) / sw))
            let oxHiRaw = w - 1 + pl - kx
            let oxHi = oxHiRaw < 0 ? 0 : min(wo, oxHiRaw / sw + 1)
            for oy in oy0..<oy1 {
                let d = dstRow + (oy - oy0) * wo
                let iy = oy * sh - pt + ky
                if iy < 0 || iy >= h || oxHi <= oxLo {
                    d.update(repeating: 0, count: wo)
                    continue
                }
                let s = plane + iy * w - pl + kx
                if oxLo > 0 { d.update(repeating: 0, count: oxLo) }
                if sw == 1 {
                    (d + oxLo).update(from: s + oxLo, count: oxHi - oxLo)
                } else {
                    for ox in oxLo..<oxHi { d[ox] = s[ox * sw] }
                }
                if oxHi < wo { (d + oxHi).update(repeating: 0, count: wo - oxHi) }
            }
        }
    }
}
