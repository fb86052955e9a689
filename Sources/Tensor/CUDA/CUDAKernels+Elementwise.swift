extension CUDAKernelSource {
    /// Strided elementwise kernels (unary, binary, affine, conversion, copy), grid-stride loops.
    static let elementwise = #"""
__device__ __forceinline__ float unary_op(int op, float x) {
  switch (op) {
  case 0: return -x;
  case 1: return expf(x);
  case 2: return logf(x);
  case 3: return sqrtf(x);
  case 4: return 1.0f / sqrtf(x);
  case 5: return fabsf(x);
  case 6: return x * x;
  case 7: return tanhf(x);
  case 8: return 1.0f / (1.0f + expf(-x));
  case 9: return x / (1.0f + expf(-x));
  case 10: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  case 11: { float u = 0.7978845608028654f * (x + 0.044715f * x * x * x); return 0.5f * x * (1.0f + tanhf(u)); }
  case 12: return x / (1.0f + expf(-1.702f * x));
  case 13: return sinf(x);
  case 14: return cosf(x);
  default: return erff(x);
  }
}
__device__ __forceinline__ float binary_op(int op, float a, float b) {
  switch (op) {
  case 0: return a + b;
  case 1: return a - b;
  case 2: return a * b;
  case 3: return a / b;
  case 4: return (a != a || b != b) ? NAN_F : fmaxf(a, b);
  case 5: return (a != a || b != b) ? NAN_F : fminf(a, b);
  default: return powf(a, b);
  }
}
extern "C" __global__ void ew_unary(Meta m, int op, const void* x, int tx, void* y, int ty) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < m.n; i += (i64)gridDim.x * blockDim.x) {
    i64 o[2]; OFFSETS(2, m, i, o);
    stf(y, ty, o[0], unary_op(op, ldf(x, tx, o[1])));
  }
}
extern "C" __global__ void ew_binary(Meta m, int op, const void* a, int ta, const void* b, int tb, void* y, int ty) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < m.n; i += (i64)gridDim.x * blockDim.x) {
    i64 o[3]; OFFSETS(3, m, i, o);
    stf(y, ty, o[0], binary_op(op, ldf(a, ta, o[1]), ldf(b, tb, o[2])));
  }
}
extern "C" __global__ void ew_affine(Meta m, float scale, float shift, const void* x, int tx, void* y, int ty) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < m.n; i += (i64)gridDim.x * blockDim.x) {
    i64 o[2]; OFFSETS(2, m, i, o);
    stf(y, ty, o[0], ldf(x, tx, o[1]) * scale + shift);
  }
}
extern "C" __global__ void ew_convert(Meta m, const void* x, int tx, void* y, int ty) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < m.n; i += (i64)gridDim.x * blockDim.x) {
    i64 o[2]; OFFSETS(2, m, i, o);
    std_(y, ty, o[0], ldd(x, tx, o[1]));
  }
}
extern "C" __global__ void ew_copy(Meta m, const void* x, void* y, int bytes) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < m.n; i += (i64)gridDim.x * blockDim.x) {
    i64 o[2]; OFFSETS(2, m, i, o);
    switch (bytes) {
    case 1: ((unsigned char*)y)[o[0]] = ((const unsigned char*)x)[o[1]]; break;
    case 2: ((u16*)y)[o[0]] = ((const u16*)x)[o[1]]; break;
    case 4: ((u32*)y)[o[0]] = ((const u32*)x)[o[1]]; break;
    default: ((i64*)y)[o[0]] = ((const i64*)x)[o[1]]; break;
    }
  }
}
// Contiguous bf16 fast paths (8 elements per thread when n % 8 == 0 and pointers are 16-byte aligned).
extern "C" __global__ void bf16_add_vec(const uint4* a, const uint4* b, uint4* y, i64 n8) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n8; i += (i64)gridDim.x * blockDim.x) {
    uint4 va = a[i], vb = b[i], r;
    u32* pa = (u32*)&va; u32* pb = (u32*)&vb; u32* pr = (u32*)&r;
    #pragma unroll
    for (int k = 0; k < 4; ++k) {
      float lo = bf2f((u16)(pa[k] & 0xffff)) + bf2f((u16)(pb[k] & 0xffff));
      float hi = bf2f((u16)(pa[k] >> 16)) + bf2f((u16)(pb[k] >> 16));
      pr[k] = (u32)f2bf(lo) | ((u32)f2bf(hi) << 16);
    }
    y[i] = r;
  }
}
"""#
}
