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
// w (rows, K) e4m3 codes with scale[r] (or scale[0] when perRow == 0) -> bf16.
extern "C" __global__ void dequant_rows_e4m3(const unsigned char* w, const float* scale, int perRow, u16* y, i64 K, i64 total) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x)
    y[i] = f2bf(e4m3f(w[i]) * scale[perRow ? i / K : 0]);
}
"""#
}
