extension CUDAKernelSource {
    /// Row kernels: reductions, softmax, LayerNorm, RMSNorm, GroupNorm, embedding gather.
    /// One block per row; inputs contiguous (rows x cols); statistics in f32.
    static let rows = #"""
extern "C" __global__ void reduce_rows(const void* x, int tx, void* y, int ty, i64 cols, int op) {
  __shared__ float sh[33];
  i64 row = blockIdx.x; i64 base = row * cols;
  float acc = (op == 2) ? -INF_F : (op == 3 ? INF_F : 0.0f);
  bool nan = false;
  for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = ldf(x, tx, base + c);
    if (v != v) nan = true;
    if (op <= 1) acc += v; else if (op == 2) acc = fmaxf(acc, v); else acc = fminf(acc, v);
  }
  float r;
  if (op <= 1) { r = block_sum(acc, sh); if (op == 1) r /= (float)cols; }
  else if (op == 2) r = block_max(acc, sh);
  else r = -block_max(-acc, sh);
  float anyNan = block_max(nan ? 1.0f : 0.0f, sh);
  if (op >= 2 && anyNan > 0) r = NAN_F;
  if (threadIdx.x == 0) stf(y, ty, row, r);
}
extern "C" __global__ void softmax_rows(const void* x, int tx, void* y, int ty, i64 cols) {
  __shared__ float sh[33];
  i64 base = blockIdx.x * cols;
  float m = -INF_F;
  for (i64 c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, ldf(x, tx, base + c));
  m = block_max(m, sh);
  float s = 0;
  for (i64 c = threadIdx.x; c < cols; c += blockDim.x) s += expf(ldf(x, tx, base + c) - m);
  s = block_sum(s, sh);
  float inv = 1.0f / s;
  for (i64 c = threadIdx.x; c < cols; c += blockDim.x) stf(y, ty, base + c, expf(ldf(x, tx, base + c) - m) * inv);
}
// mode 0: LayerNorm (mean, variance), mode 1: RMSNorm.
extern "C" __global__ void norm_rows(const void* x, int tx, const void* w, int tw, const void* b, int tb,
                                     void* y, int ty, i64 cols, float eps, int mode) {
  __shared__ float sh[33];
  i64 base = blockIdx.x * cols;
  float mean = 0;
  if (mode == 0) {
    float s = 0;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) s += ldf(x, tx, base + c);
    mean = block_sum(s, sh) / (float)cols;
  }
  float q = 0;
  for (i64 c = threadIdx.x; c < cols; c += blockDim.x) { float d = ldf(x, tx, base + c) - mean; q += d * d; }
  float rstd = 1.0f / sqrtf(block_sum(q, sh) / (float)cols + eps);
  for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = (ldf(x, tx, base + c) - mean) * rstd;
    if (w) v *= ldf(w, tw, c);
    if (b) v += ldf(b, tb, c);
    stf(y, ty, base + c, v);
  }
}
// Group norm of x (N, C, S) contiguous in three kernels, so a group of millions of values is spread
// over many blocks (one block per group left the GPU mostly idle at VAE sizes):
// 1. per (n, group) and chunk of `chunk` values: the chunk's mean and sum of squared deviations;
extern "C" __global__ void group_norm_partial(const void* x, int tx, float* part, i64 C, i64 S, i64 G, i64 chunk) {
  __shared__ float sh[33];
  i64 ng = blockIdx.x, p = blockIdx.y, P = gridDim.y;
  i64 cnt = (C / G) * S, base = ng * cnt;
  i64 lo = p * chunk, hi = lo + chunk < cnt ? lo + chunk : cnt;
  float s = 0;
  for (i64 i = lo + threadIdx.x; i < hi; i += blockDim.x) s += ldf(x, tx, base + i);
  float m = block_sum(s, sh) / (float)(hi > lo ? hi - lo : 1);
  float q = 0;
  for (i64 i = lo + threadIdx.x; i < hi; i += blockDim.x) { float d = ldf(x, tx, base + i) - m; q += d * d; }
  q = block_sum(q, sh);
  if (threadIdx.x == 0) { part[(ng * P + p) * 2] = m; part[(ng * P + p) * 2 + 1] = q; }
}
// 2. per (n, group): the chunks combined (Chan et al.) into mean and 1 / sqrt(var + eps);
extern "C" __global__ void group_norm_finalize(const float* part, float* stats, i64 NG, i64 P, i64 cnt, i64 chunk, float eps) {
  i64 ng = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (ng >= NG) return;
  double n = 0, mean = 0, m2 = 0;
  for (i64 p = 0; p < P; p++) {
    double nb = (double)(cnt - p * chunk < chunk ? cnt - p * chunk : chunk);
    double mb = part[(ng * P + p) * 2], m2b = part[(ng * P + p) * 2 + 1];
    double delta = mb - mean, tot = n + nb;
    mean += delta * nb / tot;
    m2 += m2b + delta * delta * n * nb / tot;
    n = tot;
  }
  stats[ng * 2] = (float)mean;
  stats[ng * 2 + 1] = 1.0f / sqrtf((float)(m2 / (double)cnt) + eps);
}
// 3. y = (x - mean) * rstd * w[c] + b[c], then silu when asked (the VAE's norm + activation in one
// pass): one block row per (n, c), blocks along S.
extern "C" __global__ void group_norm_apply(const void* x, int tx, const float* stats, const void* w, int tw, const void* b, int tb,
                                            void* y, int ty, i64 C, i64 S, i64 G, int silu) {
  i64 nc = blockIdx.x, c = nc % C, ng = (nc / C) * G + c / (C / G);
  float mean = stats[ng * 2], rstd = stats[ng * 2 + 1];
  float scale = w ? ldf(w, tw, c) * rstd : rstd, shift = (b ? ldf(b, tb, c) : 0.0f) - mean * scale;
  i64 base = nc * S;
  for (i64 i = blockIdx.y * (i64)blockDim.x + threadIdx.x; i < S; i += (i64)gridDim.y * blockDim.x)
  {
    float v = ldf(x, tx, base + i) * scale + shift;
    stf(y, ty, base + i, silu ? v / (1.0f + expf(-v)) : v);
  }
}
// out[i, :] = table[idx[i], :]; table (V, D) contiguous; out of range rows give NaN.
extern "C" __global__ void embedding_rows(const void* table, int tt, const void* idx, int tidx, void* y, int ty, i64 D, i64 V) {
  i64 row = (i64)ldd(idx, tidx, blockIdx.x);
  bool ok = row >= 0 && row < V;
  for (i64 c = threadIdx.x; c < D; c += blockDim.x)
    stf(y, ty, blockIdx.x * D + c, ok ? ldf(table, tt, row * D + c) : NAN_F);
}
"""#

    /// Convolution helpers: im2col (for a GEMM), bias add per channel, nearest 2x upsampling.
    static let conv = #"""
// x (Cin, H, W) one image, contiguous; col (Cin*kh*kw, Ho*Wo) for output rows oy0 ..< oy0 + Ho.
// One block per (output row, column-matrix row k): threads walk the row, so there is no per-element
// index division (64-bit divisions made the element-wise version slower than the GEMMs it feeds).
extern "C" __global__ void im2col(const void* x, int tx, void* col, int tc, i64 Cin, i64 H, i64 W, i64 kh, i64 kw,
                                  i64 sh, i64 sw, i64 pt, i64 pl, i64 Ho, i64 Wo, i64 oy0) {
  i64 row = blockIdx.x, k = blockIdx.y;
  i64 kx = k % kw, ky = (k / kw) % kh, c = k / (kw * kh);
  i64 iy = (row + oy0) * sh - pt + ky;
  bool inside = iy >= 0 && iy < H;
  i64 src = (c * H + iy) * W, dst = (k * Ho + row) * Wo;
  for (i64 ox = threadIdx.x; ox < Wo; ox += blockDim.x) {
    i64 ix = ox * sw - pl + kx;
    stf(col, tc, dst + ox, inside && ix >= 0 && ix < W ? ldf(x, tx, src + ix) : 0.0f);
  }
}
// im2col for 2-byte dtypes (bf16, f16) with Wo a multiple of 8: each thread gathers 8 outputs and
// writes them as one 16-byte store (2-byte stores left the kernel far below the memory bandwidth).
extern "C" __global__ void im2col_b16(const u16* x, u16* col, i64 Cin, i64 H, i64 W, i64 kh, i64 kw,
                                      i64 sh, i64 sw, i64 pt, i64 pl, i64 Ho, i64 Wo, i64 oy0) {
  i64 row = blockIdx.x, k = blockIdx.y;
  int kx = (int)(k % kw), ky = (int)((k / kw) % kh);
  i64 c = k / (kw * kh);
  i64 iy = (row + oy0) * sh - pt + ky;
  bool inside = iy >= 0 && iy < H;
  const u16* src = x + (c * H + (inside ? iy : 0)) * W;
  u16* dst = col + (k * Ho + row) * Wo;
  int w = (int)W, s = (int)sw, l = (int)pl;
  for (int o8 = threadIdx.x * 8; o8 < Wo; o8 += blockDim.x * 8) {
    __align__(16) u16 v[8];
#pragma unroll
    for (int j = 0; j < 8; j++) {
      int ix = (o8 + j) * s - l + kx;
      v[j] = inside && ix >= 0 && ix < w ? src[ix] : (u16)0;
    }
    *(uint4*)(dst + o8) = *(const uint4*)v;
  }
}
// y (N, C, S) += bias[c]: one block row per (n, c), blocks along S.
extern "C" __global__ void channel_bias_rows(void* y, int ty, const void* b, int tb, i64 C, i64 S) {
  i64 nc = blockIdx.x, base = nc * S;
  float bias = ldf(b, tb, nc % C);
  for (i64 i = blockIdx.y * (i64)blockDim.x + threadIdx.x; i < S; i += (i64)gridDim.y * blockDim.x)
    stf(y, ty, base + i, ldf(y, ty, base + i) + bias);
}
extern "C" __global__ void upsample2x(const void* x, void* y, i64 NC, i64 H, i64 W, int bytes) {
  i64 total = NC * H * W * 4;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) {
    i64 ox = i % (2 * W); i64 t = i / (2 * W); i64 oy = t % (2 * H); i64 nc = t / (2 * H);
    i64 s = (nc * H + oy / 2) * W + ox / 2;
    switch (bytes) {
    case 2: ((u16*)y)[i] = ((const u16*)x)[s]; break;
    case 4: ((u32*)y)[i] = ((const u32*)x)[s]; break;
    default: ((unsigned char*)y)[i] = ((const unsigned char*)x)[s]; break;
    }
  }
}
"""#
}
