extension CUDAKernelSource {
    /// ggml block formats expanded on the GPU (`BlockDequantizing`): one thread per 32 consecutive
    /// output elements (a Q8_0/Q4_0/... block, or one eighth of a k-quant super-block). The float
    /// operations are those of gguf-py's numpy decoder (and Quant's CPU one) in the same order, with
    /// `__fmul_rn`/`__fadd_rn` so that NVRTC does not contract them into FMAs: the values equal the
    /// CPU's before the one rounding to the output dtype. Format codes: `CUDABackend.ggufCode`.
    static let gguf = #"""
__device__ __forceinline__ float gg_half(const unsigned char* p, int off) { return h2f((u16)(p[off] | (p[off + 1] << 8))); }
__device__ __forceinline__ float gg_mad(float a, float b, float c) { return __fadd_rn(__fmul_rn(a, b), c); }
__device__ __forceinline__ float gg_msub(float a, float b, float c) { return __fsub_rn(__fmul_rn(a, b), c); }
// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block (ggml's get_scale_min_k4).
__device__ __forceinline__ void gg_scale_min(const unsigned char* s, int j, float* sc, float* m) {
  if (j < 4) { *sc = (float)(s[j] & 63); *m = (float)(s[j + 4] & 63); return; }
  *sc = (float)((s[j + 4] & 0x0F) | ((s[j - 4] >> 2) & 0x30));
  *m = (float)((s[j + 4] >> 4) | ((s[j] >> 2) & 0x30));
}
// The 32 values of group g (elements 32g ..< 32g + 32 of the flat tensor).
__device__ void gguf_group(const unsigned char* base, int fmt, i64 g, float* y) {
  switch (fmt) {
  case 0: {  // Q8_0: f16 d, 32 int8
    const unsigned char* p = base + g * 34; float d = gg_half(p, 0);
    for (int j = 0; j < 32; j++) y[j] = __fmul_rn((float)(signed char)p[2 + j], d);
  } break;
  case 1: {  // Q4_0: f16 d, nibbles; y = d * (q - 8)
    const unsigned char* p = base + g * 18; float d = gg_half(p, 0);
    for (int j = 0; j < 16; j++) { int b = p[2 + j]; y[j] = __fmul_rn(d, (float)((b & 15) - 8)); y[j + 16] = __fmul_rn(d, (float)((b >> 4) - 8)); }
  } break;
  case 2: {  // Q4_1: f16 d, f16 m, nibbles; y = d * q + m
    const unsigned char* p = base + g * 20; float d = gg_half(p, 0), m = gg_half(p, 2);
    for (int j = 0; j < 16; j++) { int b = p[4 + j]; y[j] = gg_mad(d, (float)(b & 15), m); y[j + 16] = gg_mad(d, (float)(b >> 4), m); }
  } break;
  case 3: {  // Q5_0: f16 d, u32 fifth bits, nibbles; y = d * (q - 16)
    const unsigned char* p = base + g * 22; float d = gg_half(p, 0);
    u32 qh = (u32)p[2] | ((u32)p[3] << 8) | ((u32)p[4] << 16) | ((u32)p[5] << 24);
    for (int j = 0; j < 16; j++) {
      int b = p[6 + j];
      int lo = (b & 15) | (((qh >> j) & 1) << 4), hi = (b >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = __fmul_rn(d, (float)(lo - 16)); y[j + 16] = __fmul_rn(d, (float)(hi - 16));
    }
  } break;
  case 4: {  // Q5_1: f16 d, f16 m, u32 fifth bits, nibbles; y = d * q + m
    const unsigned char* p = base + g * 24; float d = gg_half(p, 0), m = gg_half(p, 2);
    u32 qh = (u32)p[4] | ((u32)p[5] << 8) | ((u32)p[6] << 16) | ((u32)p[7] << 24);
    for (int j = 0; j < 16; j++) {
      int b = p[8 + j];
      int lo = (b & 15) | (((qh >> j) & 1) << 4), hi = (b >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = gg_mad(d, (float)lo, m); y[j + 16] = gg_mad(d, (float)hi, m);
    }
  } break;
  case 5: {  // Q2_K (84 bytes): scales[16], qs[64], d, dmin; element h*128 + s*32 + l
    i64 blk = g >> 3; int sg = (int)(g & 7), h = sg >> 2, s = sg & 3;
    const unsigned char* p = base + blk * 84; float d = gg_half(p, 80), dmin = gg_half(p, 82);
    for (int l = 0; l < 32; l++) {
      int i = sg * 32 + l, sc = p[i / 16];
      float dl = __fmul_rn(d, (float)(sc & 15)), ml = __fmul_rn(dmin, (float)(sc >> 4));
      int q = (p[16 + h * 32 + l] >> (2 * s)) & 3;
      y[l] = gg_msub(dl, (float)q, ml);
    }
  } break;
  case 6: {  // Q3_K (110 bytes): hmask[32], qs[64], scales[12], d
    i64 blk = g >> 3; int sg = (int)(g & 7), h = sg >> 2, s = sg & 3;
    const unsigned char* p = base + blk * 110; float d = gg_half(p, 108);
    for (int l = 0; l < 32; l++) {
      int i = sg * 32 + l, si = i / 16;
      int low4 = (p[96 + si % 8] >> (4 * (si / 8))) & 15, high2 = (p[104 + si % 4] >> (2 * (si / 4))) & 3;
      float scale = __fmul_rn(d, (float)((low4 | (high2 << 4)) - 32));
      int low = (p[32 + h * 32 + l] >> (2 * s)) & 3, bit = (p[l] >> sg) & 1;
      y[l] = __fmul_rn(scale, (float)(low - (bit ? 0 : 4)));
    }
  } break;
  case 7: case 8: {  // Q4_K (144 bytes) / Q5_K (176 bytes): d, dmin, scales[12], [qh[32]], qs[128]
    bool five = fmt == 8;
    i64 blk = g >> 3; int sg = (int)(g & 7), c = sg >> 1, s = sg & 1;
    const unsigned char* p = base + blk * (five ? 176 : 144); float d = gg_half(p, 0), dmin = gg_half(p, 2);
    float sc, m; gg_scale_min(p + 4, sg, &sc, &m);
    float dl = __fmul_rn(d, sc), ml = __fmul_rn(dmin, m);
    const unsigned char* qs = p + (five ? 48 : 16) + c * 32;
    for (int l = 0; l < 32; l++) {
      int q = (qs[l] >> (4 * s)) & 15;
      if (five) q |= ((p[16 + l] >> sg) & 1) << 4;
      y[l] = gg_msub(dl, (float)q, ml);
    }
  } break;
  case 9: {  // Q6_K (210 bytes): ql[128], qh[64], scales[16] int8, d
    i64 blk = g >> 3; int sg = (int)(g & 7), h = sg >> 2, t = sg & 3;
    const unsigned char* p = base + blk * 210; float d = gg_half(p, 208);
    for (int l = 0; l < 32; l++) {
      int i = sg * 32 + l, k = t * 32 + l;
      int low = (p[h * 64 + k % 64] >> (4 * (k / 64))) & 15, high = (p[128 + h * 32 + l] >> (2 * t)) & 3;
      float scale = __fmul_rn(d, (float)(signed char)p[192 + i / 16]);
      y[l] = __fmul_rn(scale, (float)((low | (high << 4)) - 32));
    }
  } break;
  }
}
// bf16 output, 16-byte stores (dst 16-byte aligned; 64 bytes per group).
extern "C" __global__ void gguf_dequant_bf16(const unsigned char* src, int fmt, u16* dst, i64 groups) {
  for (i64 g = blockIdx.x * (i64)blockDim.x + threadIdx.x; g < groups; g += (i64)gridDim.x * blockDim.x) {
    float y[32]; gguf_group(src, fmt, g, y);
    uint4* o = (uint4*)(dst + g * 32);
    for (int v = 0; v < 4; v++) {
      u32 w[4];
      for (int k = 0; k < 4; k++) w[k] = (u32)f2bf(y[v * 8 + 2 * k]) | ((u32)f2bf(y[v * 8 + 2 * k + 1]) << 16);
      o[v] = make_uint4(w[0], w[1], w[2], w[3]);
    }
  }
}
// Any floating output dtype (dtype codes of `common`).
extern "C" __global__ void gguf_dequant(const unsigned char* src, int fmt, void* dst, int dt, i64 groups) {
  for (i64 g = blockIdx.x * (i64)blockDim.x + threadIdx.x; g < groups; g += (i64)gridDim.x * blockDim.x) {
    float y[32]; gguf_group(src, fmt, g, y);
    for (int j = 0; j < 32; j++) stf(dst, dt, g * 32 + j, y[j]);
  }
}
// Per-tensor e4m3 of the expanded values, two passes: partial maxima per block, then every block
// reduces them (scale = amax / 448, 1 when zero) and quantises its grid-stride share of groups.
extern "C" __global__ void gguf_amax_part(const unsigned char* src, int fmt, i64 groups, float* part) {
  __shared__ float sh[33];
  float m = 0.0f;
  for (i64 g = blockIdx.x * (i64)blockDim.x + threadIdx.x; g < groups; g += (i64)gridDim.x * blockDim.x) {
    float y[32]; gguf_group(src, fmt, g, y);
    for (int j = 0; j < 32; j++) m = fmaxf(m, fabsf(y[j]));
  }
  m = block_max(m, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = m;
}
// The 32 e4m3 codes of group g's values y at 1/scale = inv (two 16-byte stores).
__device__ __forceinline__ void gguf_e4m3_store(const float* y, float inv, unsigned char* codes, i64 g) {
  uint4* o = (uint4*)(codes + g * 32);
  for (int v = 0; v < 2; v++) {
    u32 w[4];
    for (int k = 0; k < 4; k++) {
      const float* q = y + v * 16 + 4 * k;
      w[k] = (u32)f2e4m3(q[0] * inv) | ((u32)f2e4m3(q[1] * inv) << 8) | ((u32)f2e4m3(q[2] * inv) << 16) | ((u32)f2e4m3(q[3] * inv) << 24);
    }
    o[v] = make_uint4(w[0], w[1], w[2], w[3]);
  }
}
// The codes at scale s (1/s = inv) of a grid-stride share of groups.
__device__ __forceinline__ void gguf_e4m3_groups(const unsigned char* src, int fmt, float inv, unsigned char* codes, i64 groups) {
  for (i64 g = blockIdx.x * (i64)blockDim.x + threadIdx.x; g < groups; g += (i64)gridDim.x * blockDim.x) {
    float y[32]; gguf_group(src, fmt, g, y);
    gguf_e4m3_store(y, inv, codes, g);
  }
}
// Per-row e4m3: one thread block per output row of gpr groups; the row's scale is its amax / 448
// (1 for an all-zero row), or known[row] when the scales were kept (then one pass).
extern "C" __global__ void gguf_e4m3_rows(const unsigned char* src, int fmt, i64 gpr, const float* known,
                                          unsigned char* codes, float* scale) {
  __shared__ float sh[33];
  const i64 row = blockIdx.x;
  float s;
  if (known) {
    s = known[row];
  } else {
    float m = 0.0f;
    for (i64 j = threadIdx.x; j < gpr; j += blockDim.x) {
      float y[32]; gguf_group(src, fmt, row * gpr + j, y);
      for (int t = 0; t < 32; t++) m = fmaxf(m, fabsf(y[t]));
    }
    m = block_max(m, sh);
    s = m > 0.0f ? m / 448.0f : 1.0f;
    if (threadIdx.x == 0) scale[row] = s;
  }
  const float inv = 1.0f / s;
  for (i64 j = threadIdx.x; j < gpr; j += blockDim.x) {
    float y[32]; gguf_group(src, fmt, row * gpr + j, y);
    gguf_e4m3_store(y, inv, codes, row * gpr + j);
  }
}
extern "C" __global__ void gguf_e4m3(const unsigned char* src, int fmt, const float* part, int parts,
                                     unsigned char* codes, float* scale, i64 groups) {
  __shared__ float sh[33];
  float m = 0.0f;
  for (int i = threadIdx.x; i < parts; i += blockDim.x) m = fmaxf(m, part[i]);
  m = block_max(m, sh);
  float s = m > 0.0f ? m / 448.0f : 1.0f;
  if (blockIdx.x == 0 && threadIdx.x == 0) scale[0] = s;
  gguf_e4m3_groups(src, fmt, 1.0f / s, codes, groups);
}
// One pass when the scale is known (a weight's amax never changes: computed once, kept).
extern "C" __global__ void gguf_e4m3_at(const unsigned char* src, int fmt, const float* scale, unsigned char* codes, i64 groups) {
  gguf_e4m3_groups(src, fmt, 1.0f / scale[0], codes, groups);
}
"""#
}
