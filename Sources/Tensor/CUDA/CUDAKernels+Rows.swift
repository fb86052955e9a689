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
// x (N, C, S) contiguous; one block per (n, group).
extern "C" __global__ void group_norm(const void* x, int tx, const void* w, int tw, const void* b, int tb,
                                      void* y, int ty, i64 C, i64 S, i64 G, float eps) {
  __shared__ float sh[33];
  i64 n = blockIdx.x / G, g = blockIdx.x % G;
  i64 cpg = C / G; i64 base = (n * C + g * cpg) * S; i64 cnt = cpg * S;
  float s = 0;
  for (i64 i = threadIdx.x; i < cnt; i += blockDim.x) s += ldf(x, tx, base + i);
  float mean = block_sum(s, sh) / (float)cnt;
  float q = 0;
  for (i64 i = threadIdx.x; i < cnt; i += blockDim.x) { float d = ldf(x, tx, base + i) - mean; q += d * d; }
  float rstd = 1.0f / sqrtf(block_sum(q, sh) / (float)cnt + eps);
  for (i64 i = threadIdx.x; i < cnt; i += blockDim.x) {
    i64 c = g * cpg + i / S;
    float v = (ldf(x, tx, base + i) - mean) * rstd;
    if (w) v *= ldf(w, tw, c);
    if (b) v += ldf(b, tb, c);
    stf(y, ty, base + i, v);
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
extern "C" __global__ void im2col(const void* x, int tx, void* col, int tc, i64 Cin, i64 H, i64 W, i64 kh, i64 kw,
                                  i64 sh, i64 sw, i64 pt, i64 pl, i64 Ho, i64 Wo, i64 oy0) {
  i64 total = Cin * kh * kw * Ho * Wo;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) {
    i64 ox = i % Wo; i64 t = i / Wo; i64 oy = t % Ho + oy0; t /= Ho;
    i64 kx = t % kw; t /= kw; i64 ky = t % kh; i64 c = t / kh;
    i64 iy = oy * sh - pt + ky, ix = ox * sw - pl + kx;
    float v = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? ldf(x, tx, (c * H + iy) * W + ix) : 0.0f;
    stf(col, tc, i, v);
  }
}
// y (N, C, S) += bias[c]
extern "C" __global__ void channel_bias(void* y, int ty, const void* b, int tb, i64 C, i64 S, i64 total) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) {
    i64 c = (i / S) % C;
    stf(y, ty, i, ldf(y, ty, i) + ldf(b, tb, c));
  }
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
