/// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, 2015).
///
/// Each 2x2 block of output ("tile") comes from a 4x4 block of input. With the transforms
///   V = Bᵀ d B (input tile), U = G g Gᵀ (filter), Y = Aᵀ [U ⊙ V] A (output tile),
/// the 36 multiplications per tile and channel pair of a direct 3x3 conv become 16, and the 16
/// element-wise products summed over input channels are 16 GEMMs (Cout x Cin) x (Cin x tiles):
/// 2.25x fewer flops than im2col + GEMM, paid for with cheap additions in the transforms.
/// F(2x2, 3x3)'s transforms hold only 0, ±1 and ±1/2, so f32 results stay within a few ulps of the
/// direct conv (tested against the im2col path).
extension CPUBackend {
    /// Whether a conv can take the Winograd path (3x3, stride 1, one group, at least 8 channels in and
    /// out); `Configuration.winograd` switches the path off.
    static func winogradEligible(cin: Int, cout: Int, kh: Int, kw: Int, stride: (Int, Int), groups: Int, ho: Int, wo: Int) -> Bool {
        kh == 3 && kw == 3 && stride == (1, 1) && groups == 1 && cin >= 8 && cout >= 8 && ho >= 2 && wo >= 2
    }

    /// out (N, Cout, Ho, Wo) = conv3x3(x) + bias, every pointer contiguous f32.
    func winogradConv3x3(x px: UnsafePointer<Float>, nImages: Int, cin: Int, h: Int, w: Int,
                                weight pw: UnsafePointer<Float>, bias pbias: UnsafePointer<Float>?, cout: Int,
                                padTop pt: Int, padLeft pl: Int, out po: UnsafeMutablePointer<Float>, ho: Int, wo: Int) {
        let tilesY = (ho + 1) / 2, tilesX = (wo + 1) / 2
        // U[p][co][ci]: the 16 transformed filter taps.
        let u = UnsafeMutablePointer<Float>.allocate(capacity: 16 * cout * cin)
        defer { u.deallocate() }
        parallel.forEach(cout, grain: max(1, 4096 / max(cin, 1))) { r in
            for co in r { for ci in 0..<cin { Self.transformFilter(pw + (co * cin + ci) * 9, u + co * cin + ci, stride: cout * cin) } }
        }
        // Bands of whole tile rows, sized so that V (16 x Cin x T) and M (16 x Cout x T) fit the budget.
        let bytesPerTile = 16 * (cin + cout) * 4
        let bandTileRows = max(1, min(tilesY, configuration.winogradBandBytes / max(1, bytesPerTile * tilesX)))
        let bands = (tilesY + bandTileRows - 1) / bandTileRows
        let maxT = bandTileRows * tilesX
        let scratch = 16 * (cin + cout) * maxT
        let runBand = { (job: Int, buf: UnsafeMutablePointer<Float>) in
            let img = job / bands, band = job % bands
            let ty0 = band * bandTileRows, ty1 = min(tilesY, ty0 + bandTileRows)
            let t = (ty1 - ty0) * tilesX
            let v = buf, m = buf + 16 * cin * maxT
            let src = px + img * cin * h * w
            for ci in 0..<cin {
                Self.transformInput(plane: src + ci * h * w, h: h, w: w, pt: pt, pl: pl, ty0: ty0, ty1: ty1, tilesX: tilesX,
                               v: v + ci * t, stride: cin * t)
            }
            for p in 0..<16 {
                BLAS.sgemm(transA: false, transB: false, m: cout, n: t, k: cin, a: u + p * cout * cin, lda: cin,
                           b: v + p * cin * t, ldb: t, beta: 0, c: m + p * cout * t, ldc: t)
            }
            let dst = po + img * cout * ho * wo
            for co in 0..<cout {
                Self.transformOutput(m: m + co * t, stride: cout * t, bias: pbias?[co] ?? 0, ty0: ty0, ty1: ty1, tilesX: tilesX,
                                out: dst + co * ho * wo, ho: ho, wo: wo)
            }
        }
        let jobs = nImages * bands
        let workers = min(parallel.threadCount, jobs)
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: scratch * max(1, workers))
        defer { buf.deallocate() }
        if workers > 1 && jobs >= 2 * workers {
            BLAS.singleThreaded { LinalgKernels.dynamicForEach(jobs, workers: workers) { j, wk in runBand(j, buf + wk * scratch) } }
        } else {
            for j in 0..<jobs { runBand(j, buf) }
        }
    }

    /// U = G g Gᵀ for one 3x3 filter `g`; writes the 16 taps at `u[p * stride]`.
    @inline(__always)
    static func transformFilter(_ g: UnsafePointer<Float>, _ u: UnsafeMutablePointer<Float>, stride: Int) {
        // G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
        let g0 = SIMD4(g[0], g[1], g[2], 0), g1 = SIMD4(g[3], g[4], g[5], 0), g2 = SIMD4(g[6], g[7], g[8], 0)
        /// Row `r` of G g, times Gᵀ.
        @inline(__always) func put(_ t: SIMD4<Float>, _ r: Int) {
            u[(4 * r) * stride] = t.x
            u[(4 * r + 1) * stride] = 0.5 * (t.x + t.y + t.z)
            u[(4 * r + 2) * stride] = 0.5 * (t.x - t.y + t.z)
            u[(4 * r + 3) * stride] = t.z
        }
        put(g0, 0); put(0.5 * (g0 + g1 + g2), 1); put(0.5 * (g0 - g1 + g2), 2); put(g2, 3)
    }

    /// V = Bᵀ d B for every tile of tile rows ty0..<ty1 of one input plane; tap p of tile k goes to
    /// `v[p * stride + k]`. Taps outside the image (padding) read as zero.
    @inline(__always)
    static func transformInput(plane: UnsafePointer<Float>, h: Int, w: Int, pt: Int, pl: Int, ty0: Int, ty1: Int, tilesX: Int,
                               v: UnsafeMutablePointer<Float>, stride: Int) {
        // Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
        var k = 0
        for ty in ty0..<ty1 {
            let iy0 = 2 * ty - pt
            let rowsInside = iy0 >= 0 && iy0 + 3 < h
            // Tiles with a padded left edge, then 8 interior tiles at a time (SIMD over tiles: contiguous
            // stores, even/odd split of 18 input columns), then the rest one by one.
            let firstInterior = min(tilesX, (pl + 1) / 2)
            var tx = 0
            while tx < firstInterior { scalarTile(tx); tx += 1 }
            if rowsInside {
                while tx + 8 <= tilesX && 2 * tx - pl + 18 <= w {
                    transformInput8(plane + iy0 * w + 2 * tx - pl, w: w, v: v + k, stride: stride)
                    tx += 8; k += 8
                }
            }
            while tx < tilesX { scalarTile(tx); tx += 1 }

            @inline(__always) func scalarTile(_ tx: Int) {
                let ix0 = 2 * tx - pl
                var d0, d1, d2, d3: SIMD4<Float>
                if rowsInside && ix0 >= 0 && ix0 + 3 < w {
                    let s = plane + iy0 * w + ix0
                    d0 = SIMD4(s[0], s[1], s[2], s[3])
                    d1 = SIMD4(s[w], s[w + 1], s[w + 2], s[w + 3])
                    d2 = SIMD4(s[2 * w], s[2 * w + 1], s[2 * w + 2], s[2 * w + 3])
                    d3 = SIMD4(s[3 * w], s[3 * w + 1], s[3 * w + 2], s[3 * w + 3])
                } else {
                    d0 = load(plane, h, w, iy0, ix0); d1 = load(plane, h, w, iy0 + 1, ix0)
                    d2 = load(plane, h, w, iy0 + 2, ix0); d3 = load(plane, h, w, iy0 + 3, ix0)
                }
                let a0 = d0 - d2, a1 = d1 + d2, a2 = d2 - d1, a3 = d1 - d3
                store(a0, v + k, stride, 0); store(a1, v + k, stride, 4)
                store(a2, v + k, stride, 8); store(a3, v + k, stride, 12)
                k += 1
            }
        }
    }

    /// Input transform of 8 horizontally adjacent interior tiles whose top-left input pixel is `s`.
    @inline(__always)
    static func transformInput8(_ s: UnsafePointer<Float>, w: Int, v: UnsafeMutablePointer<Float>, stride: Int) {
        @inline(__always) func columns(_ row: UnsafePointer<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
            let lo = UnsafeRawPointer(row).loadUnaligned(as: SIMD16<Float>.self)
            let hi = UnsafeRawPointer(row + 2).loadUnaligned(as: SIMD16<Float>.self)
            return (lo.evenHalf, lo.oddHalf, hi.evenHalf, hi.oddHalf)
        }
        let d0 = columns(s), d1 = columns(s + w), d2 = columns(s + 2 * w), d3 = columns(s + 3 * w)
        @inline(__always) func put(_ x: SIMD8<Float>, _ p: Int) {
            UnsafeMutableRawPointer(v + p * stride).storeBytes(of: x, as: SIMD8<Float>.self)
        }
        @inline(__always) func row(_ a: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>), _ base: Int) {
            put(a.0 - a.2, base); put(a.1 + a.2, base + 1); put(a.2 - a.1, base + 2); put(a.1 - a.3, base + 3)
        }
        row((d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3), 0)
        row((d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3), 4)
        row((d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3), 8)
        row((d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3), 12)
    }

    @inline(__always)
    private static func load(_ plane: UnsafePointer<Float>, _ h: Int, _ w: Int, _ y: Int, _ x0: Int) -> SIMD4<Float> {
        var r = SIMD4<Float>(repeating: 0)
        guard y >= 0 && y < h else { return r }
        for c in 0..<4 where x0 + c >= 0 && x0 + c < w { r[c] = plane[y * w + x0 + c] }
        return r
    }

    /// Column transform of one row `a` of Bᵀ d, stored as taps base..base+3.
    @inline(__always)
    private static func store(_ a: SIMD4<Float>, _ v: UnsafeMutablePointer<Float>, _ stride: Int, _ base: Int) {
        v[base * stride] = a.x - a.z
        v[(base + 1) * stride] = a.y + a.z
        v[(base + 2) * stride] = a.z - a.y
        v[(base + 3) * stride] = a.y - a.w
    }

    /// Y = Aᵀ M A + bias for every tile of one output channel; tap p of tile k is `m[p * stride + k]`.
    @inline(__always)
    static func transformOutput(m: UnsafePointer<Float>, stride: Int, bias: Float, ty0: Int, ty1: Int, tilesX: Int,
                                out: UnsafeMutablePointer<Float>, ho: Int, wo: Int) {
        // Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]
        var k = 0
        for ty in ty0..<ty1 {
            let oy = 2 * ty
            var tx = 0
            if oy + 1 < ho {
                while tx + 8 <= tilesX && 2 * (tx + 8) <= wo {
                    transformOutput8(m + k, stride: stride, bias: bias, out: out + oy * wo + 2 * tx, wo: wo)
                    tx += 8; k += 8
                }
            }
            while tx < tilesX {
                defer { tx += 1 }
                let r0 = SIMD4(m[k], m[stride + k], m[2 * stride + k], m[3 * stride + k])
                let r1 = SIMD4(m[4 * stride + k], m[5 * stride + k], m[6 * stride + k], m[7 * stride + k])
                let r2 = SIMD4(m[8 * stride + k], m[9 * stride + k], m[10 * stride + k], m[11 * stride + k])
                let r3 = SIMD4(m[12 * stride + k], m[13 * stride + k], m[14 * stride + k], m[15 * stride + k])
                let s0 = r0 + r1 + r2, s1 = r1 - r2 - r3
                let ox = 2 * tx
                let o = out + oy * wo + ox
                o[0] = s0.x + s0.y + s0.z + bias
                if ox + 1 < wo { o[1] = s0.y - s0.z - s0.w + bias }
                if oy + 1 < ho {
                    o[wo] = s1.x + s1.y + s1.z + bias
                    if ox + 1 < wo { o[wo + 1] = s1.y - s1.z - s1.w + bias }
                }
                k += 1
            }
        }
    }

    /// Output transform of 8 horizontally adjacent whole tiles (2 x 16 output pixels at `out`).
    @inline(__always)
    static func transformOutput8(_ m: UnsafePointer<Float>, stride: Int, bias: Float, out: UnsafeMutablePointer<Float>, wo: Int) {
        @inline(__always) func tap(_ p: Int) -> SIMD8<Float> { UnsafeRawPointer(m + p * stride).loadUnaligned(as: SIMD8<Float>.self) }
        let a0 = tap(0) + tap(4) + tap(8), a1 = tap(1) + tap(5) + tap(9)
        let a2 = tap(2) + tap(6) + tap(10), a3 = tap(3) + tap(7) + tap(11)
        let b0 = tap(4) - tap(8) - tap(12), b1 = tap(5) - tap(9) - tap(13)
        let b2 = tap(6) - tap(10) - tap(14), b3 = tap(7) - tap(11) - tap(15)
        let bv = SIMD8<Float>(repeating: bias)
        let y00 = a0 + a1 + a2 + bv, y01 = a1 - a2 - a3 + bv
        let y10 = b0 + b1 + b2 + bv, y11 = b1 - b2 - b3 + bv
        let o1 = out + wo
        for j in 0..<8 {
            out[2 * j] = y00[j]; out[2 * j + 1] = y01[j]
            o1[2 * j] = y10[j]; o1[2 * j + 1] = y11[j]
        }
    }
}
