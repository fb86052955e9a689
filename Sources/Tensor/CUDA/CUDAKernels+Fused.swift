extension CUDAKernelSource {
    /// Fused kernels for the Flux blocks: modulated LayerNorm, gated residual add, and QK-RMSNorm +
    /// RoPE + head split writing q, k, v straight into the joint (B, H, L, D) attention inputs.
    static let fused = #"""
// y[r, :] = LN(x[r, :]) * (1 + scale[b, :]) + shift[b, :], b = r / tokens. x contiguous rows.
extern "C" __global__ void mod_layernorm(const void* x, int tx, const void* shift, const void* scale, int ts, i64 sstride,
                                         void* y, int ty, i64 cols, i64 tokens, float eps) {
  __shared__ float sh[33];
  i64 r = blockIdx.x; i64 base = r * cols; i64 b = r / tokens;
  float s = 0;
  for (i64 c = threadIdx.x; c < cols; c += blockDim.x) s += ldf(x, tx, base + c);
  float mean = block_sum(s, sh) / (float)cols;
  float q = 0;
  for (i64 c = threadIdx.x; c < cols; c += blockDim.x) { float d = ldf(x, tx, base + c) - mean; q += d * d; }
  float rstd = 1.0f / sqrtf(block_sum(q, sh) / (float)cols + eps);
  for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = (ldf(x, tx, base + c) - mean) * rstd;
    v = v * (1.0f + ldf(scale, ts, b * sstride + c)) + ldf(shift, ts, b * sstride + c);
    stf(y, ty, base + c, v);
  }
}
// out = x + gate[b, :] * y, x and y contiguous (rows x cols), b = row / tokens.
extern "C" __global__ void gated_residual(const void* x, int tx, const void* y, int tyy, const void* gate, int tg, i64 gstride,
                                          void* out, int to, i64 cols, i64 tokens, i64 n) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    i64 c, b;
    if (n < 0x7fffffffLL) { u32 r = (u32)i / (u32)cols; c = (u32)i - r * (u32)cols; b = r / (u32)tokens; }
    else { c = i % cols; b = (i / cols) / tokens; }
    stf(out, to, i, ldf(x, tx, i) + ldf(gate, tg, b * gstride + c) * ldf(y, tyy, i));
  }
}
// One warp per (b, l, h): qkv row (3, H, D) at qkv + (b * L + l) * rowStride; q and k RMS-normalised
// with qw / kw and rotated by cos/sin rows (ropeOffset + l) in (x[2i], x[2i+1]) pairs; q, k, v written
// to (B, H, Ltot, D) at position posOffset + l.
extern "C" __global__ void qk_norm_rope(const void* qkv, int tx, i64 rowStride, i64 B, i64 L, i64 H, i64 D,
                                        const void* qw, const void* kw, int tw, const float* cosT, const float* sinT,
                                        i64 ropeOffset, void* q, void* k, void* v, int ty, i64 Ltot, i64 posOffset, float eps) {
  i64 wid = (blockIdx.x * (i64)blockDim.x + threadIdx.x) >> 5; int lane = threadIdx.x & 31;
  if (wid >= B * L * H) return;
  i64 h = wid % H; i64 bl = wid / H; i64 l = bl % L, b = bl / L;
  i64 src = bl * rowStride + h * D;
  i64 dst = ((b * H + h) * Ltot + posOffset + l) * D;
  i64 half = D / 2; i64 trow = (ropeOffset + l) * half;
  for (int which = 0; which < 2; ++which) {
    i64 s0 = src + which * H * D;
    float ss = 0;
    for (i64 i = lane; i < D; i += 32) { float t = ldf(qkv, tx, s0 + i); ss += t * t; }
    ss = warp_sum(ss);
    float rstd = 1.0f / sqrtf(ss / (float)D + eps);
    const void* w = which == 0 ? qw : kw;
    void* o = which == 0 ? q : k;
    for (i64 p = lane; p < half; p += 32) {
      float x0 = ldf(qkv, tx, s0 + 2 * p) * rstd * ldf(w, tw, 2 * p);
      float x1 = ldf(qkv, tx, s0 + 2 * p + 1) * rstd * ldf(w, tw, 2 * p + 1);
      if (ty == 2) { x0 = bf2f(f2bf(x0)); x1 = bf2f(f2bf(x1)); }
      float c = cosT[trow + p], s = sinT[trow + p];
      stf(o, ty, dst + 2 * p, c * x0 - s * x1);
      stf(o, ty, dst + 2 * p + 1, s * x0 + c * x1);
    }
  }
  i64 s2 = src + 2 * H * D;
  for (i64 i = lane; i < D; i += 32) stf(v, ty, dst + i, ldf(qkv, tx, s2 + i));
}
__device__ __forceinline__ void unpack8(uint4 r, float* v) {
  u32 w[4] = { r.x, r.y, r.z, r.w };
  #pragma unroll
  for (int k = 0; k < 4; ++k) { v[2 * k] = bf2f((u16)(w[k] & 0xffff)); v[2 * k + 1] = bf2f((u16)(w[k] >> 16)); }
}
__device__ __forceinline__ uint4 pack8(const float* v) {
  uint4 r;
  r.x = (u32)f2bf(v[0]) | ((u32)f2bf(v[1]) << 16); r.y = (u32)f2bf(v[2]) | ((u32)f2bf(v[3]) << 16);
  r.z = (u32)f2bf(v[4]) | ((u32)f2bf(v[5]) << 16); r.w = (u32)f2bf(v[6]) | ((u32)f2bf(v[7]) << 16);
  return r;
}
// bf16 fast path of mod_layernorm, one row r: one 16-byte vector per thread, the row read once. Every
// thread of the block takes part in the row's sums (so a block may run several rows in turn); thread c
// writes (unless y is null) and returns its 8 outputs as stored (zeros past the row).
__device__ __forceinline__ uint4 mod_ln_row_bf16(const uint4* x, const u16* shift, const u16* scale, i64 sstride,
                                                 uint4* y, int cols8, i64 r, i64 tokens, float eps, float* sh) {
  i64 b = r / tokens; int c = threadIdx.x;
  bool act = c < cols8;
  uint4 raw = {0, 0, 0, 0};
  if (act) raw = x[r * cols8 + c];
  float v[8]; unpack8(raw, v);
  float s = 0;
  #pragma unroll
  for (int k = 0; k < 8; ++k) s += v[k];
  float cols = (float)(cols8 * 8);
  float mean = block_sum(s, sh) / cols;
  float q = 0;
  if (act) {
    #pragma unroll
    for (int k = 0; k < 8; ++k) { float d = v[k] - mean; q += d * d; }
  }
  float rstd = 1.0f / sqrtf(block_sum(q, sh) / cols + eps);
  if (!act) return make_uint4(0, 0, 0, 0);
  float sc[8], sf[8];
  unpack8(*(const uint4*)(scale + b * sstride + c * 8), sc);
  unpack8(*(const uint4*)(shift + b * sstride + c * 8), sf);
  #pragma unroll
  for (int k = 0; k < 8; ++k) v[k] = (v[k] - mean) * rstd * (1.0f + sc[k]) + sf[k];
  uint4 o = pack8(v);
  if (y) y[r * cols8 + c] = o;
  return o;
}
// One block per row.
extern "C" __global__ void mod_layernorm_bf16(const uint4* x, const u16* shift, const u16* scale, i64 sstride,
                                              uint4* y, int cols8, i64 tokens, float eps) {
  __shared__ float sh[33];
  mod_ln_row_bf16(x, shift, scale, sstride, y, cols8, blockIdx.x, tokens, eps, sh);
}
// bf16 fast path of gated_residual: 8 elements per thread.
extern "C" __global__ void gated_residual_bf16(const uint4* x, const uint4* y, const u16* gate, i64 gstride,
                                               uint4* out, u32 cols8, u32 tokens, i64 n8) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n8; i += (i64)gridDim.x * blockDim.x) {
    u32 row = (u32)i / cols8, c8 = (u32)i - row * cols8; u32 b = row / tokens;
    float vx[8], vy[8], vg[8];
    unpack8(x[i], vx); unpack8(y[i], vy); unpack8(*(const uint4*)(gate + b * gstride + c8 * 8), vg);
    #pragma unroll
    for (int k = 0; k < 8; ++k) vx[k] += vg[k] * vy[k];
    out[i] = pack8(vx);
  }
}
// rows x (cols16 * 16 bytes) copy between row-strided buffers (strides in 16-byte units).
extern "C" __global__ void copy_rows16(const uint4* src, i64 sstride, uint4* dst, i64 dstride, u32 cols16, i64 n) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    u32 r = (u32)(i / cols16), c = (u32)(i - (i64)r * cols16);
    dst[r * dstride + c] = src[r * sstride + c];
  }
}
// qk_norm_rope for bf16 with D = 128: each lane holds 4 consecutive elements (two rotary pairs).
extern "C" __global__ void qk_norm_rope_bf16(const u16* qkv, i64 rowStride, i64 B, i64 L, i64 H,
                                             const u16* qw, const u16* kw, const float* cosT, const float* sinT,
                                             i64 ropeOffset, u16* q, u16* k, u16* v, i64 Ltot, i64 posOffset, float eps) {
  const int D = 128;
  i64 wid = (blockIdx.x * (i64)blockDim.x + threadIdx.x) >> 5; int lane = threadIdx.x & 31;
  if (wid >= B * L * H) return;
  i64 h = wid % H; i64 bl = wid / H; i64 l = bl % L, b = bl / L;
  const u16* src = qkv + bl * rowStride + h * D + lane * 4;
  i64 dst = ((b * H + h) * Ltot + posOffset + l) * D + lane * 4;
  i64 trow = (ropeOffset + l) * (D / 2) + lane * 2;
  float c0 = cosT[trow], c1 = cosT[trow + 1], s0 = sinT[trow], s1 = sinT[trow + 1];
  #pragma unroll
  for (int which = 0; which < 2; ++which) {
    uint2 raw = *(const uint2*)(src + which * H * D);
    float x[4] = { bf2f((u16)(raw.x & 0xffff)), bf2f((u16)(raw.x >> 16)), bf2f((u16)(raw.y & 0xffff)), bf2f((u16)(raw.y >> 16)) };
    float ss = warp_sum(x[0] * x[0] + x[1] * x[1] + x[2] * x[2] + x[3] * x[3]);
    float rstd = 1.0f / sqrtf(ss / (float)D + eps);
    uint2 wr = *(const uint2*)((which == 0 ? qw : kw) + lane * 4);
    float w[4] = { bf2f((u16)(wr.x & 0xffff)), bf2f((u16)(wr.x >> 16)), bf2f((u16)(wr.y & 0xffff)), bf2f((u16)(wr.y >> 16)) };
    #pragma unroll
    for (int e = 0; e < 4; ++e) x[e] = bf2f(f2bf(x[e] * rstd * w[e]));
    float o0 = c0 * x[0] - s0 * x[1], o1 = s0 * x[0] + c0 * x[1];
    float o2 = c1 * x[2] - s1 * x[3], o3 = s1 * x[2] + c1 * x[3];
    uint2 out; out.x = (u32)f2bf(o0) | ((u32)f2bf(o1) << 16); out.y = (u32)f2bf(o2) | ((u32)f2bf(o3) << 16);
    *(uint2*)((which == 0 ? q : k) + dst) = out;
  }
  *(uint2*)(v + dst) = *(const uint2*)(src + 2 * H * D);
}
// Uniform values in [-scale, scale) from a counter-based hash (for benchmarks with random weights).
extern "C" __global__ void fill_uniform(void* y, int ty, i64 n, unsigned long long seed, float scale) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    unsigned long long z = seed + (unsigned long long)i * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; z = (z ^ (z >> 27)) * 0x94D049BB133111EBull; z ^= z >> 31;
    float u = (float)(z >> 40) * (1.0f / 16777216.0f);
    stf(y, ty, i, (2.0f * u - 1.0f) * scale);
  }
}
"""#
}
