extension CUDAKernelSource {
    /// float8 helpers for the fp8 GEMM path: per-row quantisation of bf16 activations (scale = row
    /// amax / 448, codes saturated to e4m3), and dequantisation of e4m3 weights with per-row scales to
    /// bf16 for GPUs whose tensor cores have no fp8 (before compute capability 8.9).
    static let fp8 = #"""
// x (rows, K) bf16 contiguous -> q (rows, K) e4m3 codes, scale[r] = amax(|x[r, :]|) / 448 (1 for a zero row).
extern "C" __global__ void quant_rows_e4m3(const u16* x, unsigned char* q, float* scale, i64 K) {
  __shared__ float sh[33];
  i64 r = blockIdx.x;
  const u16* xr = x + r * K;
  unsigned char* qr = q + r * K;
  float m = 0.0f;
  for (i64 i = threadIdx.x; i < K; i += blockDim.x) m = fmaxf(m, fabsf(bf2f(xr[i])));
  m = block_max(m, sh);
  float s = m > 0.0f ? m / 448.0f : 1.0f, inv = 1.0f / s;
  if (threadIdx.x == 0) scale[r] = s;
  for (i64 i = threadIdx.x; i < K; i += blockDim.x) qr[i] = f2e4m3(bf2f(xr[i]) * inv);
}
// amax[r] = max |x[r, :]| (bf16 rows), one block per row.
extern "C" __global__ void amax_rows_bf16(const u16* x, float* amax, i64 K) {
  __shared__ float sh[33];
  const u16* xr = x + (i64)blockIdx.x * K;
  float m = 0.0f;
  for (i64 i = threadIdx.x; i < K; i += blockDim.x) m = fmaxf(m, fabsf(bf2f(xr[i])));
  m = block_max(m, sh);
  if (threadIdx.x == 0) amax[blockIdx.x] = m;
}
// Per-tensor quantisation: every block reduces the row maxima (rows values) to the tensor's amax,
// scale = amax / 448 (1 when zero), then quantises its grid-stride share of x; block 0 writes scale[0].
extern "C" __global__ void quant_tensor_e4m3(const u16* x, const float* rowAmax, int rows, unsigned char* q, float* scale, i64 n) {
  __shared__ float sh[33];
  float m = 0.0f;
  for (int i = threadIdx.x; i < rows; i += blockDim.x) m = fmaxf(m, rowAmax[i]);
  m = block_max(m, sh);
  float s = m > 0.0f ? m / 448.0f : 1.0f, inv = 1.0f / s;
  if (blockIdx.x == 0 && threadIdx.x == 0) scale[0] = s;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) q[i] = f2e4m3(bf2f(x[i]) * inv);
}
// Vectorised per-tensor quantisation (n a multiple of 8, x 16-byte and q 8-byte aligned), two passes.
// max |.| of the two bf16 values in a 32-bit word.
__device__ __forceinline__ float absmax_bf16x2(u32 w) {
  return fmaxf(fabsf(__uint_as_float(w << 16)), fabsf(__uint_as_float(w & 0xffff0000u)));
}
__device__ __forceinline__ float absmax_bf16x8(uint4 v) {
  return fmaxf(fmaxf(absmax_bf16x2(v.x), absmax_bf16x2(v.y)), fmaxf(absmax_bf16x2(v.z), absmax_bf16x2(v.w)));
}
// Pass 1: block b writes the max |x| of its grid-stride share of the n8 groups of 8 values to part[b]
// (four 16-byte loads in flight per thread).
extern "C" __global__ void amax_part_bf16x8(const uint4* __restrict__ x, i64 n8, float* part) {
  __shared__ float sh[33];
  float m = 0.0f;
  i64 stride = (i64)gridDim.x * blockDim.x, i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  for (; i + 3 * stride < n8; i += 4 * stride) {
    uint4 a = x[i], b = x[i + stride], c = x[i + 2 * stride], d = x[i + 3 * stride];
    m = fmaxf(m, fmaxf(fmaxf(absmax_bf16x8(a), absmax_bf16x8(b)), fmaxf(absmax_bf16x8(c), absmax_bf16x8(d))));
  }
  for (; i < n8; i += stride) m = fmaxf(m, absmax_bf16x8(x[i]));
  m = block_max(m, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = m;
}
// `amax_part_bf16x8` over a (rows, 8 * cols8) block of a wider bf16 matrix, rows `ld` elements apart
// (ld and the start 16-byte aligned): Flux single blocks' GELU columns beside the attention's.
extern "C" __global__ void amax_part_cols_bf16x8(const u16* __restrict__ x, unsigned rows, unsigned cols8, i64 ld, float* part) {
  __shared__ float sh[33];
  float m = 0.0f;
  unsigned n8 = rows * cols8, stride = gridDim.x * blockDim.x;
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n8; i += stride) {
    unsigned r = i / cols8, c = i - r * cols8;
    m = fmaxf(m, absmax_bf16x8(*(const uint4*)(x + r * ld + c * 8)));
  }
  m = block_max(m, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = m;
}
// Four bf16 values (two words, low half first) times inv -> four e4m3 codes in one word, in order.
__device__ __forceinline__ u32 e4m3x4(u32 a, u32 b, float inv) {
  u16 lo, hi;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(lo) : "f"(__uint_as_float(a & 0xffff0000u) * inv), "f"(__uint_as_float(a << 16) * inv));
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(hi) : "f"(__uint_as_float(b & 0xffff0000u) * inv), "f"(__uint_as_float(b << 16) * inv));
  return (u32)lo | ((u32)hi << 16);
}
// Eight bf16 values (one 16-byte load) times inv -> eight e4m3 codes (one 8-byte store).
__device__ __forceinline__ uint2 e4m3x8(uint4 a, float inv) { return make_uint2(e4m3x4(a.x, a.y, inv), e4m3x4(a.z, a.w, inv)); }
// Pass 2: every block reduces the nPart partial maxima to the tensor's amax, scale = amax / 448 (1 when
// zero; block 0 writes it), then quantises its grid-stride share, 8 values per 16-byte load.
extern "C" __global__ void quant_bf16x8_e4m3(const uint4* __restrict__ x, const float* part, int nPart, uint2* q, float* scale, i64 n8) {
  __shared__ float sh[33];
  float m = 0.0f;
  for (int i = threadIdx.x; i < nPart; i += blockDim.x) m = fmaxf(m, part[i]);
  m = block_max(m, sh);
  float s = m > 0.0f ? m / 448.0f : 1.0f, inv = 1.0f / s;
  if (blockIdx.x == 0 && threadIdx.x == 0) scale[0] = s;
  i64 stride = (i64)gridDim.x * blockDim.x, i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  for (; i + stride < n8; i += 2 * stride) {
    uint4 a = x[i], b = x[i + stride];
    q[i] = e4m3x8(a, inv);
    q[i + stride] = e4m3x8(b, inv);
  }
  for (; i < n8; i += stride) q[i] = e4m3x8(x[i], inv);
}
// mod_layernorm_bf16 (CUDAKernelSource.fused) over rows [blockIdx.x * rowsPerBlock, + rowsPerBlock) that
// also writes the max |y| of those rows (the bf16 values stored) to part[blockIdx.x]: partial maxima for
// quant_bf16x8_e4m3, so quantising y needs no amax pass over it.
extern "C" __global__ void mod_layernorm_bf16_amax(const uint4* x, const u16* shift, const u16* scale, i64 sstride,
    uint4* y, int cols8, i64 tokens, float eps, i64 rows, int rowsPerBlock, float* part) {
  __shared__ float sh[33];
  float m = 0.0f;
  i64 r0 = (i64)blockIdx.x * rowsPerBlock;
  for (i64 r = r0; r < r0 + rowsPerBlock && r < rows; ++r)
    m = fmaxf(m, absmax_bf16x8(mod_ln_row_bf16(x, shift, scale, sstride, y, cols8, r, tokens, eps, sh)));
  m = block_max(m, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = m;
}
// The same LayerNorm written as e4m3 codes of y * inv[0] (a delayed scale, DelayedE4M3Scale), max |y|
// (of the bf16 values) folded into st[0] by atomicMax on its bits (|y| >= 0): no bf16 y, no pass over it.
extern "C" __global__ void mod_layernorm_bf16_e4m3(const uint4* x, const u16* shift, const u16* scale, i64 sstride,
    uint2* q, int cols8, i64 tokens, float eps, i64 rows, int rowsPerBlock, const float* inv, float* st) {
  __shared__ float sh[33];
  float m = 0.0f, iv = inv[0];
  i64 r0 = (i64)blockIdx.x * rowsPerBlock;
  for (i64 r = r0; r < r0 + rowsPerBlock && r < rows; ++r) {
    uint4 o = mod_ln_row_bf16(x, shift, scale, sstride, nullptr, cols8, r, tokens, eps, sh);
    m = fmaxf(m, absmax_bf16x8(o));
    if (threadIdx.x < cols8) q[r * cols8 + threadIdx.x] = e4m3x8(o, iv);
  }
  m = block_max(m, sh);
  if (threadIdx.x == 0) atomicMax((int*)st, __float_as_int(m));
}
// Per-row quantisation, vectorised (K a multiple of 8, 16-byte aligned rows): one block per row reads
// it twice (amax, then codes), 8 values per load; scale[r] = amax / 448 (1 for a zero row).
extern "C" __global__ void quant_rows_bf16x8_e4m3(const uint4* __restrict__ x, uint2* q, float* scale, int k8) {
  __shared__ float sh[33];
  const uint4* xr = x + (i64)blockIdx.x * k8;
  uint2* qr = q + (i64)blockIdx.x * k8;
  float m = 0.0f;
  for (int i = threadIdx.x; i < k8; i += blockDim.x) m = fmaxf(m, absmax_bf16x8(xr[i]));
  m = block_max(m, sh);
  float s = m > 0.0f ? m / 448.0f : 1.0f, inv = 1.0f / s;
  if (threadIdx.x == 0) scale[blockIdx.x] = s;
  for (int i = threadIdx.x; i < k8; i += blockDim.x) qr[i] = e4m3x8(xr[i], inv);
}
// The scales of an fp8 GEMM run with unit scales, applied afterwards (per-channel weight scales, which
// cuBLASLt's scalar scaling cannot take): y (rows x n bf16, rows ldc apart, in place) =
// act(y * sx[r, or 0 when !sxPerRow] * sw[c] + b[c]); 8 columns per thread (n, ldc multiples of 8).
extern "C" __global__ void fp8_rescale_bf16x8(u16* y, i64 ldc, int rows, int n, const float* sx, int sxPerRow,
    const float* sw, const u16* b, int gelu) {
  int n8 = n >> 3;
  i64 total = (i64)rows * n8;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) {
    int r = (int)(i / n8), c = (int)(i % n8) * 8;
    uint4* p = (uint4*)(y + r * ldc + c);
    uint4 v = *p;
    u32* w = (u32*)&v;
    float s = sx[sxPerRow ? r : 0];
    #pragma unroll
    for (int k = 0; k < 4; ++k) {
      float lo = __uint_as_float(w[k] << 16) * s * sw[c + 2 * k], hi = __uint_as_float(w[k] & 0xffff0000u) * s * sw[c + 2 * k + 1];
      if (b) { lo += bf2f(b[c + 2 * k]); hi += bf2f(b[c + 2 * k + 1]); }
      if (gelu) {
        lo = 0.5f * lo * (1.0f + tanhf(0.7978845608028654f * (lo + 0.044715f * lo * lo * lo)));
        hi = 0.5f * hi * (1.0f + tanhf(0.7978845608028654f * (hi + 0.044715f * hi * hi * hi)));
      }
      w[k] = pack_bf16(lo, hi);
    }
    *p = v;
  }
}
// w (rows, K) e4m3 codes with scale[r] (or scale[0] when perRow == 0) -> bf16.
extern "C" __global__ void dequant_rows_e4m3(const unsigned char* w, const float* scale, int perRow, u16* y, i64 K, i64 total) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x)
    y[i] = f2bf(e4m3f(w[i]) * scale[perRow ? i / K : 0]);
}
// Delayed e4m3 scales (DelayedE4M3Scale): st = [max |y| of the layer's last call, the scale that call
// used (0: none), calls whose output went past 448 * their scale]. One thread: the scale for this call
// from the last amax times `margin` (the last scale again if no amax was written), at least `bound[0]`
// when given (the attention part's own bound in the single blocks' matrix); scale[0] = s, inv[0] = 1 / s
// for the GEMM's D scale; st[0] cleared for the GEMM's max |D|.
extern "C" __global__ void e4m3_delayed_scale(float* st, const float* bound, float margin, float* scale, float* inv) {
  float a = st[0], used = st[1];
  if (used > 0.0f && !(a <= 448.0f * used)) st[2] += 1.0f;
  float s = a > 0.0f ? a * margin * (1.0f / 448.0f) : used;
  if (bound) s = fmaxf(s, bound[0]);
  if (!(s > 0.0f) || isinf(s)) s = 1.0f;
  st[0] = 0.0f; st[1] = s; scale[0] = s; inv[0] = 1.0f / s;
}
// Calibration from an exact per-tensor scale (amax / 448): the amax the next call scales by.
extern "C" __global__ void e4m3_delayed_calibrate(float* st, const float* exact) {
  st[0] = exact[0] * 448.0f; st[1] = 0.0f;
}
"""#
}
