extension CUDAKernelSource {
    /// fp8 attention for Hopper (sm_90a only), head size 128, no mask: `flash_wg3_d128`'s structure
    /// (a TMA producer warpgroup, two consumer warpgroups of 64 query rows, rings of `ns` 128-key stages
    /// (2 to 4) handed over with mbarriers) with Q K^T and P V on the e4m3 tensor cores (`wgmma ... k32 .e4m3`,
    /// twice the bf16 rate).
    ///
    /// `attn_quant_e4m3` runs first: every 128-row tile of Q, K and V of one (batch, head) gets its own
    /// scale (tile amax / 448) and e4m3 codes; Q and K are written (B*H, L, 128), V transposed to
    /// (B*H, 128, Lpad) because fp8 wgmma reads both operands K-major (for P V the keys are the
    /// reduction axis). Within every 16 keys V^T's columns are permuted so that the consumers' S
    /// accumulators, converted to e4m3 in place, already are the A fragments of P V: a thread holds
    /// keys {2t, 2t+1, 8+2t, 9+2t} of each 16 where the fragment wants slots 4t..4t+3.
    ///
    /// Scales: a Q tile's scale multiplies the softmax's log2 scale; a K tile's goes into the same
    /// FFMA as the exponent (the running max is kept in true-score units, `wg8_softmax`); P is made
    /// as P * 256 by adding 8 to the exponent (e4m3 keeps 3 mantissa bits down to 2^-9:
    /// probabilities below ~1e-5 of the row's largest flush to zero, as in FA3); O is kept in units
    /// of the last V tile's scale (rescaled with the softmax correction, no extra pass) and divided
    /// by l * (that scale)^-1 at the end, l being the f32 sum of the unrounded P * 256.
    static let flashHopperFP8 = #"""
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Q, K, V (bf16, (B, H, L, 128) views with the given batch/head/row strides) -> per-tile e4m3:
// Qq, Kq (B*H, L, 128), Vt (B*H, 128, Lpad) with keys permuted within 16, and one f32 scale per
// (b*H + h, 128-row tile) in sq / sk / sv. Block (tile, b*H + h, tensor 0/1/2), 256 threads: thread
// i holds row i/2, columns (i%2)*64 .. +63. Rows past L read as zero (Vt's padding is written zero).
// tFirst = 2 with grid.z = 1 quantises V alone (Q and K came from `qk_norm_rope_e4m3`); then V may be
// one stream of a joint sequence, its rows starting at key kOff (a multiple of 128) of Vt's vTiles tiles.
// vmax (nullable, zeroed before) gets max |V| / 448 over all V tiles.
extern "C" __global__ void __launch_bounds__(256) attn_quant_e4m3(const u16* Q, const u16* K, const u16* V, int H, int Lq, int Lk,
    i64 qsb, i64 qsh, i64 qsl, i64 ksb, i64 ksh, i64 ksl, i64 vsb, i64 vsh, i64 vsl,
    unsigned char* Qq, unsigned char* Kq, unsigned char* Vt, int Lpad, float* sq, float* sk, float* sv, int tFirst,
    int kOff, int vTiles, float* vmax) {
  __shared__ float sh[33];
  __shared__ __align__(16) unsigned char tile[128 * 128];
  int t = tFirst + blockIdx.z, bh = blockIdx.y, b = bh / H, h = bh % H;
  int L = t == 0 ? Lq : Lk;
  int r0 = blockIdx.x * 128;
  if (r0 >= L) return;                                   // the whole block: grid.x covers the longer of Lq, Lk
  const u16* X = t == 0 ? Q + b * qsb + h * qsh : (t == 1 ? K + b * ksb + h * ksh : V + b * vsb + h * vsh);
  i64 sl = t == 0 ? qsl : (t == 1 ? ksl : vsl);
  int r = threadIdx.x >> 1, half = threadIdx.x & 1;
  bool ok = r0 + r < L;
  const uint4* src = (const uint4*)(X + (i64)(r0 + r) * sl + half * 64);
  uint4 x[8];
  float m = 0.0f;
  #pragma unroll
  for (int i = 0; i < 8; ++i) { x[i] = ok ? src[i] : make_uint4(0u, 0u, 0u, 0u); m = fmaxf(m, absmax_bf16x8(x[i])); }
  m = block_max(m, sh);
  float s = m > 0.0f ? m / 448.0f : 1.0f, inv = 1.0f / s;
  if (threadIdx.x == 0) {
    if (t < 2) (t == 0 ? sq : sk)[bh * ((L + 127) / 128) + blockIdx.x] = s;
    else {
      sv[bh * vTiles + kOff / 128 + blockIdx.x] = s;
      // max |V| / 448 over every tile (non-negative floats order as their bits): the bound on the
      // attention output's scale (`flash_wg3_fp8_d128` writing e4m3).
      if (vmax) atomicMax((int*)vmax, __float_as_int(m / 448.0f));
    }
  }
  uint2 c[8];
  #pragma unroll
  for (int i = 0; i < 8; ++i) c[i] = e4m3x8(x[i], inv);
  if (t < 2) {
    if (ok) {
      uint4* dst = (uint4*)((t == 0 ? Qq : Kq) + ((i64)bh * L + r0 + r) * 128 + half * 64);
      #pragma unroll
      for (int i = 0; i < 4; ++i) dst[i] = make_uint4(c[2 * i].x, c[2 * i].y, c[2 * i + 1].x, c[2 * i + 1].y);
    }
    return;
  }
  uint2* row = (uint2*)(tile + r * 128 + half * 64);
  #pragma unroll
  for (int i = 0; i < 8; ++i) row[i] = c[i];
  __syncthreads();
  // Thread i writes V^T row d = i/2, keys (i%2)*64 .. +63 of this tile; slot 4t+e of every 16 keys
  // holds key 2t + (e & 1) + 8 * (e >> 1).
  int d = threadIdx.x >> 1, k0 = (threadIdx.x & 1) * 64;
  u32 w[16];
  #pragma unroll
  for (int j = 0; j < 16; ++j) {
    u32 word = 0;
    #pragma unroll
    for (int e = 0; e < 4; ++e) {
      int slot = 4 * j + e, g = slot >> 4, sg = slot & 15;
      int key = k0 + 16 * g + ((sg >> 2) << 1) + (sg & 1) + ((sg >> 1) & 1) * 8;
      word |= (u32)tile[key * 128 + d] << (8 * e);
    }
    w[j] = word;
  }
  uint4* dst = (uint4*)(Vt + ((i64)bh * 128 + d) * Lpad + kOff + r0 + k0);
  #pragma unroll
  for (int i = 0; i < 4; ++i) dst[i] = make_uint4(w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]);
}
// Four floats -> four e4m3 codes in one word, a in the lowest byte.
__device__ __forceinline__ u32 e4m3x4f(float a, float b, float c, float d) {
  u16 lo, hi;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(lo) : "f"(b), "f"(a));
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(hi) : "f"(d), "f"(c));
  return (u32)lo | ((u32)hi << 16);
}
// `qk_norm_rope_bf16` writing Q and K straight as e4m3 for `flash_wg3_fp8_d128` (V is copied as bf16
// for `attn_quant_e4m3` unless v is null). One scale for all of Q and one for all of K, known before any
// value: after the RMSNorm a head's 128 values have a sum of squares of at most 128, so each is at most
// sqrt(128) |w|max, and the rotation keeps that bound; the bound (1% over, for the bf16 rounding) maps
// to 448. e4m3's precision is relative, so a bound above the values seen costs nothing but the
// subnormal range (below 1/28,000 of the bound). The bound is taken over every stream's weights
// (qwA/qwB, kwA/kwB: the streams joined into one sequence), so all launches of one attention agree;
// the first warp's lane 0 writes the scales (sq, sk).
// Layout (memory-bound; session 18): a warp takes QKN_PAIRS (token, head) pairs, loading all of them
// first; lanes 0-15 do Q and lanes 16-31 K, eight elements (16 bytes) a lane. The sum of squares adds
// in the order of the one-warp-per-row kernel it replaced (four-element partials, butterfly 16 ... 1
// mapped onto half-warps), so the codes should match it bit for bit (not compared on a GPU; the errors
// against the CPU are unchanged). Rows and rotation tables 16-byte aligned, the weights 8-byte.
#define QKN_PAIRS 2
// Eight bf16 from an address 8-byte aligned (the norm weights: read once a warp).
__device__ __forceinline__ uint4 ld_bf16x8_a8(const u16* p) {
  uint2 a = *(const uint2*)p, b = *(const uint2*)(p + 4);
  return make_uint4(a.x, a.y, b.x, b.y);
}
extern "C" __global__ void __launch_bounds__(256, 3) qk_norm_rope_e4m3(const u16* __restrict__ qkv, i64 rowStride, i64 B, i64 L, i64 H,
    const u16* qw, const u16* kw, const u16* qwA, const u16* qwB, const u16* kwA, const u16* kwB,
    const float* __restrict__ cosT, const float* __restrict__ sinT, i64 ropeOffset, unsigned char* __restrict__ q8,
    unsigned char* __restrict__ k8, u16* __restrict__ v, i64 Ltot, i64 posOffset, float eps, float* sq, float* sk) {
  const int D = 128;
  i64 wid = (blockIdx.x * (i64)blockDim.x + threadIdx.x) >> 5;
  int lane = threadIdx.x & 31, half = lane >> 4, hl = lane & 15;
  i64 n = B * L * H, p0 = wid * QKN_PAIRS;
  if (p0 >= n) return;
  // The bound: lanes 0-15 over Q's weights, 16-31 over K's, then each half's max to every lane.
  float bq, bk;
  {
    uint4 a = ld_bf16x8_a8((half ? kwA : qwA) + hl * 8), b = ld_bf16x8_a8((half ? kwB : qwB) + hl * 8);
    float m = fmaxf(absmax_bf16x8(a), absmax_bf16x8(b));
    for (int o = 8; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    bq = __shfl_sync(0xffffffffu, m, 0); bk = __shfl_sync(0xffffffffu, m, 16);
  }
  float sQ = bq > 0.0f ? bq * (11.3137085f * 1.01f / 448.0f) : 1.0f;   // sqrt(128) * 1.01 / 448
  float sK = bk > 0.0f ? bk * (11.3137085f * 1.01f / 448.0f) : 1.0f;
  if (wid == 0 && lane == 0) { *sq = sQ; *sk = sK; }
  float inv = 1.0f / (half ? sK : sQ);
  float w[8];
  unpack8(ld_bf16x8_a8((half ? kw : qw) + hl * 8), w);
  uint4 raw[QKN_PAIRS];
  float4 cs[QKN_PAIRS], sn[QKN_PAIRS];
  #pragma unroll
  for (int t = 0; t < QKN_PAIRS; ++t) {
    i64 pr = p0 + t < n ? p0 + t : n - 1;               // past the end: reload the last pair, store nothing
    i64 h = pr % H, bl = pr / H, l = bl % L;
    raw[t] = *(const uint4*)(qkv + bl * rowStride + half * H * D + h * D + hl * 8);
    i64 trow = (ropeOffset + l) * (D / 2) + hl * 4;
    cs[t] = *(const float4*)(cosT + trow); sn[t] = *(const float4*)(sinT + trow);
  }
  #pragma unroll
  for (int t = 0; t < QKN_PAIRS; ++t) {
    if (p0 + t >= n) break;
    i64 pr = p0 + t, h = pr % H, bl = pr / H, l = bl % L, b = bl / L;
    float x[8];
    unpack8(raw[t], x);
    // Elements 0-3 and 4-7 are the old lanes 2 hl and 2 hl + 1: their partials, then the butterfly.
    float pa = x[0] * x[0] + x[1] * x[1] + x[2] * x[2] + x[3] * x[3];
    float pb = x[4] * x[4] + x[5] * x[5] + x[6] * x[6] + x[7] * x[7];
    for (int o = 8; o > 0; o >>= 1) { pa += __shfl_xor_sync(0xffffffffu, pa, o); pb += __shfl_xor_sync(0xffffffffu, pb, o); }
    float rstd = 1.0f / sqrtf((pa + pb) / (float)D + eps);
    #pragma unroll
    for (int e = 0; e < 8; ++e) x[e] = bf2f(f2bf(x[e] * rstd * w[e]));
    // The bf16 rounding of the rotated values first, as the bf16 path's output would be quantised.
    const float c[4] = { cs[t].x, cs[t].y, cs[t].z, cs[t].w }, sv[4] = { sn[t].x, sn[t].y, sn[t].z, sn[t].w };
    float y[8];
    #pragma unroll
    for (int i = 0; i < 4; ++i) {
      y[2 * i] = bf2f(f2bf(c[i] * x[2 * i] - sv[i] * x[2 * i + 1]));
      y[2 * i + 1] = bf2f(f2bf(sv[i] * x[2 * i] + c[i] * x[2 * i + 1]));
    }
    i64 dst = ((b * H + h) * Ltot + posOffset + l) * D + hl * 8;
    *(uint2*)((half ? k8 : q8) + dst) = make_uint2(e4m3x4f(y[0] * inv, y[1] * inv, y[2] * inv, y[3] * inv),
                                                   e4m3x4f(y[4] * inv, y[5] * inv, y[6] * inv, y[7] * inv));
    // nullptr: V is quantised from qkv itself
    if (v && !half) *(uint4*)(v + dst) = *(const uint4*)(qkv + bl * rowStride + 2 * H * D + h * D + hl * 8);
  }
}
// D (64 x 128, f32) = or += A (64 x 32 e4m3, smem) * B (32 x 128 e4m3, smem), both K-major; acc = 0 overwrites D.
__device__ __forceinline__ void wg_m64n128k32_e4m3_ss(float* d, u64 da, u64 db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
    "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1;\n}\n"
    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
    : "l"(da), "l"(db), "r"(acc));
}
// D (64 x 128, f32) += A (64 x 32 e4m3, registers) * B (32 x 128 e4m3, smem, K-major).
__device__ __forceinline__ void wg_m64n128k32_e4m3_rs(float* d, const u32* a, u64 db) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
    "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1;\n}\n"
    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
// One 128 x 128-byte box of a 3-D uint8 tensor map at (c0, c1, c2).
__device__ __forceinline__ void tma_box3(u32 dst, const TensorMap128* map, int c0, int c1, int c2, u32 bar) {
  asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];"
    :: "r"(dst), "l"((unsigned long long)map), "r"(c0), "r"(c1), "r"(c2), "r"(bar) : "memory");
}
// S = Q K^T for this warpgroup's 64 rows x 128 keys: 4 steps of 32 bytes along the head dimension.
__device__ __forceinline__ void wg8_qk(float* s, u32 sQ, u32 sK) {
  #pragma unroll
  for (int kk = 0; kk < 4; ++kk) wg_m64n128k32_e4m3_ss(s, wg_desc(sQ + kk * 32, 16, 1024), wg_desc(sK + kk * 32, 16, 1024), kk);
}
// O += P V^T-tile: 4 steps of 32 (permuted) keys.
__device__ __forceinline__ void wg8_pv(float* o, const u32* p, u32 sV) {
  #pragma unroll
  for (int kk = 0; kk < 4; ++kk) wg_m64n128k32_e4m3_rs(o, p + 4 * kk, wg_desc(sV + kk * 32, 16, 1024));
}
// P (S's accumulator layout, already times 256) -> the e4m3 A fragments of 4 k32 steps: registers
// (row g, slots 4t..4t+3), (row g+8, ...), (row g, 16+4t..), (row g+8, 16+4t..) from n8 tiles 4kk..4kk+3.
__device__ __forceinline__ void wg8_pack(u32* p, const float* s) {
  #pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    const float* x = s + 16 * kk;
    p[4 * kk] = e4m3x4f(x[0], x[1], x[4], x[5]);
    p[4 * kk + 1] = e4m3x4f(x[2], x[3], x[6], x[7]);
    p[4 * kk + 2] = e4m3x4f(x[8], x[9], x[12], x[13]);
    p[4 * kk + 3] = e4m3x4f(x[10], x[11], x[14], x[15]);
  }
}
// `wg2_softmax` for the e4m3 kernel's S, which is in units of this K tile's scale ks (> 0): the
// running max m is kept in true-score units (ks * S), each P is exp2(S * ks * sl2 - m * sl2 + 8) in
// one FFMA (the + 8 is the * 256 that puts P in e4m3's range), and l sums those P * 256.
__device__ __forceinline__ void wg8_softmax(float* s, int key0, int Lk, int lane, float sl2, float ks,
    float& m0, float& m1, float& l0, float& l1, float& a0, float& a1) {
  wg2_mask(s, key0, Lk, lane);
  float r0 = -INF_F, r1 = -INF_F;
  wg2_rowmax(s, r0, r1);
  float mx0 = fmaxf(m0, r0 == -INF_F ? -INF_F : r0 * ks), mx1 = fmaxf(m1, r1 == -INF_F ? -INF_F : r1 * ks);
  a0 = m0 == -INF_F ? 0.0f : fast_exp2((m0 - mx0) * sl2);
  a1 = m1 == -INF_F ? 0.0f : fast_exp2((m1 - mx1) * sl2);
  m0 = mx0; m1 = mx1;
  float b0 = mx0 == -INF_F ? 0.0f : mx0 * sl2 - 8.0f, b1 = mx1 == -INF_F ? 0.0f : mx1 * sl2 - 8.0f;
  float c = ks * sl2, t0 = 0.0f, t1 = 0.0f;
  #pragma unroll
  for (int i = 0; i < 16; ++i) {
    s[4 * i] = fast_exp2(fmaf(s[4 * i], c, -b0)); s[4 * i + 1] = fast_exp2(fmaf(s[4 * i + 1], c, -b0));
    s[4 * i + 2] = fast_exp2(fmaf(s[4 * i + 2], c, -b1)); s[4 * i + 3] = fast_exp2(fmaf(s[4 * i + 3], c, -b1));
    t0 += s[4 * i] + s[4 * i + 1]; t1 += s[4 * i + 2] + s[4 * i + 3];
  }
  l0 = l0 * a0 + t0; l1 = l1 * a1 + t1;
}
// The consumers' output rows (this thread's rows ra and ra + 8 of (B, Lq, H, 128) with rows `ldo` apart):
// bf16 O (returning max |stored value| of this thread), or with O8 e4m3 codes of O / *so (returning 0).
__device__ __forceinline__ float wg8_store_rows(u16* O, i64 ldo, unsigned char* O8, const float* so, const float* o,
    float l0, float l1, i64 ra, int Lq, int h, int b, int lane) {
  float i0, i1, mx = 0.0f;
  wg_row_inverses(l0, l1, i0, i1);
  i64 rb = ra + 8, oa = (b * (i64)Lq + ra) * ldo + h * 128, ob = oa + 8 * ldo;
  if (O8) {
    float s = *so, inv = s > 0.0f ? 1.0f / s : 0.0f;
    i0 *= inv; i1 *= inv;
    #pragma unroll
    for (int i = 0; i < 16; ++i) {
      int col = i * 8 + (lane & 3) * 2;
      u16 wa, wb;
      asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(wa) : "f"(o[4 * i + 1] * i0), "f"(o[4 * i] * i0));
      asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(wb) : "f"(o[4 * i + 3] * i1), "f"(o[4 * i + 2] * i1));
      if (ra < Lq) *(u16*)(O8 + oa + col) = wa;
      if (rb < Lq) *(u16*)(O8 + ob + col) = wb;
    }
    return 0.0f;
  }
  #pragma unroll
  for (int i = 0; i < 16; ++i) {
    int col = i * 8 + (lane & 3) * 2;
    u32 wa = pack_bf16(o[4 * i] * i0, o[4 * i + 1] * i0), wb = pack_bf16(o[4 * i + 2] * i1, o[4 * i + 3] * i1);
    if (ra < Lq) { *(u32*)(O + oa + col) = wa; mx = fmaxf(mx, absmax_bf16x2(wa)); }
    if (rb < Lq) { *(u32*)(O + ob + col) = wb; mx = fmaxf(mx, absmax_bf16x2(wb)); }
  }
  return mx;
}
// The kernel's body; TR = true also writes the consumers' timeline (`flash_wg3_fp8_d128_trace`): for the
// blocks of (batch, head) 0, lane 0 of each consumer warp stores clock64() at 8 points of every key tile,
// tr[((blockIdx.x * 8 + consumer warp) * nT + tile) * 8 + point]: 0 loop top, 1 K/V landed, 2 its turn
// (ping-pong), 3 GEMMs issued, 4 both GEMMs done, 5 softmax done, 6 the same (P V is waited for with
// S), 7 O rescaled and P packed. The stamps are in the body's order, so this kernel's schedule is the
// product kernel's (ptxas had reordered the product kernel around its P V wait before session 18).
// The key tile's order: issue Q K^T and P_{j-1} V_{j-1}, wait for both, then the softmax, then O's
// correction. Overlapping the softmax with P V (FlashAttention-3's intra-warpgroup overlap; ptxas had
// hoisted the wait above it anyway) or rescaling O while Q K^T runs measured slower for this kernel on
// an H100 (0.420-0.434 ms against 0.395-0.401 at 4608 tokens, BENCHMARKS.md, session 18), as did a lazy
// running max with P in units of the largest V scale and exp2 partly on the FMA pipe (sessions 17-18).
template <bool TR>
__device__ __forceinline__ void flash_fp8_body(const TensorMap128* tq, const TensorMap128* tk, const TensorMap128* tv,
    const float* sq, const float* sk, const float* sv, u16* O, int H, int Lq, int Lk, float sl2, int pp, int qkOne, int ns,
    i64 ldo, float* omax, unsigned char* O8, const float* so, long long* trace) {
  constexpr int BM = 128, BN = 128, QB = BM * 128, KB = BN * 128;
  extern __shared__ __align__(16) unsigned char fp8_smem[];
  // fullQ, then fullK, fullV, emptyK, emptyV: FLASH_STAGES_MAX each (`ns` of them used).
  __shared__ __align__(8) unsigned long long bars[1 + 4 * FLASH_STAGES_MAX];
  u32 raw = smem_addr(fp8_smem), base = (raw + 1023u) & ~1023u;   // Q | K stages | V stages, 1024-byte aligned
  u32 sK = base + QB, sV = base + QB + ns * KB;
  u32 bar0 = smem_addr(bars);
  u32 fullQ = bar0, fullK = bar0 + 8, fullV = fullK + 8 * FLASH_STAGES_MAX, emptyK = fullV + 8 * FLASH_STAGES_MAX,
      emptyV = emptyK + 8 * FLASH_STAGES_MAX;
  int wg = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
  int bh = blockIdx.y, b = bh / H, h = bh % H;
  int q0 = blockIdx.x * BM;
  int nT = (Lk + BN - 1) / BN;
  if (threadIdx.x == 0) {
    mbar_init(fullQ, 1);
    for (int s = 0; s < ns; ++s) { mbar_init(fullK + 8 * s, 1); mbar_init(fullV + 8 * s, 1); mbar_init(emptyK + 8 * s, 256); mbar_init(emptyV + 8 * s, 256); }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 24;");
    if (threadIdx.x == 0) {
      mbar_expect(fullQ, QB);
      tma_box3(base, tq, 0, q0, bh, fullQ);
      // Tile j goes to stage s = j % ns in round r = j / ns, once the consumers released round r - 1.
      for (int j = 0, s = 0, r = 0; j < nT; ++j) {
        if (r > 0) mbar_wait(emptyK + 8 * s, (r - 1) & 1);
        mbar_expect(fullK + 8 * s, KB);
        tma_box3(sK + s * KB, tk, 0, j * BN, bh, fullK + 8 * s);
        if (r > 0) mbar_wait(emptyV + 8 * s, (r - 1) & 1);
        mbar_expect(fullV + 8 * s, KB);
        tma_box3(sV + s * KB, tv, j * BN, 0, bh, fullV + 8 * s);
        if (++s == ns) { s = 0; ++r; }
      }
    }
    return;
  }
  asm volatile("setmaxnreg.inc.sync.aligned.u32 240;");
  int c = wg - 1;                                       // consumer 0 or 1: rows c*64 .. c*64+63
  // Ping-pong (pp): the consumers take turns issuing their GEMMs (named barriers 1 and 2), so one's
  // softmax runs while the other's GEMMs keep the tensor cores busy (FlashAttention-3's schedule).
  // Consumer 1 lets consumer 0 go first.
  if (pp && c == 1) bar_arrive(1, 256);
  u32 sQ = base + c * 64 * 128;
  // qkOne: one scale for all of Q and one for all of K (sq[0], sk[0]; `qk_norm_rope_e4m3`).
  const int kStep = qkOne ? 0 : 1;
  const float* skb = sk + (i64)bh * nT * kStep;
  const float* svb = sv + (i64)bh * nT;
  float ql2 = sq[((i64)bh * ((Lq + BM - 1) / BM) + blockIdx.x) * kStep] * sl2;
  float o[64], s[64];
  u32 p[16];
  #pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.0f;
  float m0 = -INF_F, m1 = -INF_F, l0 = 0.0f, l1 = 0.0f, a0, a1;
  long long* tr = TR && trace && bh == 0 && lane == 0 ? trace + (i64)(blockIdx.x * 8 + c * 4 + warp) * nT * 8 : nullptr;
#define FP8_STAMP(j, k) do { if (TR && tr) tr[(j) * 8 + (k)] = clock64(); } while (0)
  FP8_STAMP(0, 0);
  // Key tile scales (K's, V's) one tile ahead of their use.
  float ksCur = skb[0], svCur = svb[0];
  float ksNext = nT > 1 ? skb[kStep] : 0.0f, svNext = nT > 1 ? svb[1] : 0.0f;
  mbar_wait(fullQ, 0);
  mbar_wait(fullK, 0);
  FP8_STAMP(0, 1);
  if (pp) bar_sync(1 + c, 256);
  FP8_STAMP(0, 2);
  wg_fence();
  wg8_qk(s, sQ, sK);
  wg_commit();
  if (pp) bar_arrive(2 - c, 256);
  FP8_STAMP(0, 3);
  wg_wait0(); wg_pin<64>(s);
  FP8_STAMP(0, 4);
  mbar_arrive(emptyK);
  wg8_softmax(s, 0, Lk, lane, ql2, ksCur, m0, m1, l0, l1, a0, a1);
  FP8_STAMP(0, 5); FP8_STAMP(0, 6);
  wg8_pack(p, s);
  FP8_STAMP(0, 7);
  int st = 0, rt = 0;                                    // stage and round of tile j (j % ns, j / ns)
  for (int j = 1; j < nT; ++j) {
    int sp = st, rp = rt;                                // tile j - 1's
    if (++st == ns) { st = 0; ++rt; }
    FP8_STAMP(j, 0);
    // This tile's scales were loaded an iteration ago; the next tile's are loaded now, so their global
    // latency (hundreds of cycles) falls outside the softmax, which needs them first.
    float ks = ksNext, svj = svNext;
    if (j + 1 < nT) { ksNext = skb[(j + 1) * kStep]; svNext = svb[j + 1]; }
    mbar_wait(fullK + 8 * st, rt & 1);
    mbar_wait(fullV + 8 * sp, rp & 1);
    FP8_STAMP(j, 1);
    wg_pin<64>(o); wg_pin_u<16>(p);
    if (pp) bar_sync(1 + c, 256);
    FP8_STAMP(j, 2);
    wg_fence();
    wg8_qk(s, sQ, sK + st * KB);
    wg_commit();
    wg8_pv(o, p, sV + sp * KB);
    wg_commit();
    if (pp) bar_arrive(2 - c, 256);
    FP8_STAMP(j, 3);
    wg_wait0();            // S_j and P_{j-1} V_{j-1}: K stage st and V stage sp can be refilled
    wg_pin<64>(s); wg_pin<64>(o); wg_pin_u<16>(p);
    FP8_STAMP(j, 4);
    mbar_arrive(emptyK + 8 * st);
    mbar_arrive(emptyV + 8 * sp);
    wg8_softmax(s, j * BN, Lk, lane, ql2, ks, m0, m1, l0, l1, a0, a1);
    FP8_STAMP(j, 5); FP8_STAMP(j, 6);
    // O was in units of V tile j-1's scale; from here on in tile j's (with the softmax correction).
    float r = svCur / svj;
    svCur = svj;
    wg_rescale_o(o, a0 * r, a1 * r);
    wg8_pack(p, s);
    FP8_STAMP(j, 7);
  }
#undef FP8_STAMP
  int sl = st;                                           // tile nT - 1's stage
  mbar_wait(fullV + 8 * sl, rt & 1);
  wg_pin<64>(o); wg_pin_u<16>(p);
  if (pp) bar_sync(1 + c, 256);
  wg_fence();
  wg8_pv(o, p, sV + sl * KB);
  wg_commit();
  if (pp) bar_arrive(2 - c, 256);
  wg_wait0();
  wg_pin<64>(o);
  float u = 1.0f / svCur;                                // l sums P * 256: O / l in V units, times the scale
  float mx = wg8_store_rows(O, ldo, O8, so, o, l0 * u, l1 * u, q0 + c * 64 + warp * 16 + (lane >> 2), Lq, h, b, lane);
  if (omax) {
    // max |O| of the block: warps, then the 8 consumer warps through shared memory (named barrier 3:
    // the consumers only; the producer has left), one atomic per block.
    __shared__ float red[8];
    mx = warp_max(mx);
    if (lane == 0) red[c * 4 + warp] = mx;
    bar_sync(3, 256);
    if (c == 0 && warp == 0 && lane == 0) {
      float m = red[0];
      for (int i = 1; i < 8; ++i) m = fmaxf(m, red[i]);
      atomicMax((int*)omax, __float_as_int(m));
    }
  }
}
extern "C" __global__ void __launch_bounds__(384, 1) flash_wg3_fp8_d128(const __grid_constant__ TensorMap128 tq,
    const __grid_constant__ TensorMap128 tk, const __grid_constant__ TensorMap128 tv,
    const float* sq, const float* sk, const float* sv, u16* O, int H, int Lq, int Lk, float sl2, int pp, int qkOne, int ns,
    i64 ldo, float* omax, unsigned char* O8, const float* so) {
  flash_fp8_body<false>(&tq, &tk, &tv, sq, sk, sv, O, H, Lq, Lk, sl2, pp, qkOne, ns, ldo, omax, O8, so, nullptr);
}
// The same with the consumers' timeline in trace (see `flash_fp8_body`), for `cuda-check attn-trace`.
extern "C" __global__ void __launch_bounds__(384, 1) flash_wg3_fp8_d128_trace(const __grid_constant__ TensorMap128 tq,
    const __grid_constant__ TensorMap128 tk, const __grid_constant__ TensorMap128 tv,
    const float* sq, const float* sk, const float* sv, u16* O, int H, int Lq, int Lk, float sl2, int pp, int qkOne, int ns,
    i64 ldo, float* omax, unsigned char* O8, const float* so, long long* trace) {
  flash_fp8_body<true>(&tq, &tk, &tv, sq, sk, sv, O, H, Lq, Lk, sl2, pp, qkOne, ns, ldo, omax, O8, so, trace);
}
#endif
"""#
}
