/// CUDA C sources compiled at run time by NVRTC. No CUDA headers are included: bf16/f16/fp8
/// conversions are written out or use PTX, so the sources compile with a bare NVRTC.
public enum CUDAKernelSource {
    /// Every kernel source, in the order they are compiled into one module.
    public static var all: String {
        [common, elementwise, rows, conv, attention, flash, flashHopper, flashHopper2, flashHopper3, fused, fp8, flashHopperFP8, gguf].joined(separator: "\n")
    }

    /// Dtype codes shared with `CUDABackend.code(_:)`.
    static let common = #"""
typedef long long i64;
typedef unsigned short u16;
typedef unsigned int u32;
#define INF_F __int_as_float(0x7f800000)
#define NAN_F __int_as_float(0x7fc00000)
__device__ __forceinline__ float bf2f(u16 h) { return __uint_as_float(((u32)h) << 16); }
__device__ __forceinline__ u16 f2bf(float f) {
  u32 u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (u16)(u >> 16);
}
__device__ __forceinline__ float h2f(u16 h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ u16 f2h(float f) { u16 h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float e4m3f(unsigned char v) {
  u32 s = v >> 7, e = (v >> 3) & 15, m = v & 7; float r;
  if (e == 15 && m == 7) r = NAN_F; else if (e == 0) r = ldexpf((float)m, -9); else r = ldexpf((float)(8 + m), (int)e - 10);
  return s ? -r : r;
}
__device__ __forceinline__ float e5m2f(unsigned char v) {
  u32 s = v >> 7, e = (v >> 2) & 31, m = v & 3; float r;
  if (e == 31) r = m ? NAN_F : INF_F; else if (e == 0) r = ldexpf((float)m, -16); else r = ldexpf((float)(4 + m), (int)e - 17);
  return s ? -r : r;
}
__device__ __forceinline__ unsigned char f2e4m3(float f) {
  u16 r; asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(0.0f), "f"(f)); return (unsigned char)(r & 0xff);
}
__device__ __forceinline__ unsigned char f2e5m2(float f) {
  u16 r; asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(r) : "f"(0.0f), "f"(f)); return (unsigned char)(r & 0xff);
}
// dtype codes: 0 f32, 1 f16, 2 bf16, 3 e4m3fn, 4 e5m2, 5 i8, 6 u8, 7 i32, 8 i64, 9 bool
__device__ __forceinline__ float ldf(const void* p, int t, i64 i) {
  switch (t) {
  case 0: return ((const float*)p)[i];
  case 1: return h2f(((const u16*)p)[i]);
  case 2: return bf2f(((const u16*)p)[i]);
  case 3: return e4m3f(((const unsigned char*)p)[i]);
  case 4: return e5m2f(((const unsigned char*)p)[i]);
  case 5: return (float)((const signed char*)p)[i];
  case 6: return (float)((const unsigned char*)p)[i];
  case 7: return (float)((const int*)p)[i];
  case 8: return (float)((const i64*)p)[i];
  default: return ((const unsigned char*)p)[i] ? 1.0f : 0.0f;
  }
}
__device__ __forceinline__ void stf(void* p, int t, i64 i, float v) {
  switch (t) {
  case 0: ((float*)p)[i] = v; break;
  case 1: ((u16*)p)[i] = f2h(v); break;
  case 2: ((u16*)p)[i] = f2bf(v); break;
  case 3: ((unsigned char*)p)[i] = f2e4m3(v); break;
  case 4: ((unsigned char*)p)[i] = f2e5m2(v); break;
  case 5: ((signed char*)p)[i] = (signed char)v; break;
  case 6: ((unsigned char*)p)[i] = (unsigned char)v; break;
  case 7: ((int*)p)[i] = (int)v; break;
  case 8: ((i64*)p)[i] = (i64)v; break;
  default: ((unsigned char*)p)[i] = v != 0.0f ? 1 : 0; break;
  }
}
__device__ __forceinline__ double ldd(const void* p, int t, i64 i) {
  switch (t) {
  case 7: return (double)((const int*)p)[i];
  case 8: return (double)((const i64*)p)[i];
  default: return (double)ldf(p, t, i);
  }
}
__device__ __forceinline__ void std_(void* p, int t, i64 i, double v) {
  switch (t) {
  case 7: ((int*)p)[i] = (int)v; break;
  case 8: ((i64*)p)[i] = (i64)v; break;
  default: stf(p, t, i, (float)v); break;
  }
}
// Strided indexing: operand 0 is the output; up to 3 inputs.
struct Meta { i64 rank, n; i64 shape[6]; i64 st[4][6]; i64 off[4]; };
template <int NOPS>
__device__ __forceinline__ void offsets(const Meta& m, i64 i, i64* o) {
  #pragma unroll
  for (int k = 0; k < NOPS; ++k) o[k] = m.off[k];
  for (int d = (int)m.rank - 1; d >= 0; --d) {
    i64 s = m.shape[d]; i64 c = i % s; i /= s;
    #pragma unroll
    for (int k = 0; k < NOPS; ++k) o[k] += c * m.st[k][d];
  }
}
// The same with 32-bit index arithmetic (when every size and offset fits; much cheaper division).
template <int NOPS>
__device__ __forceinline__ void offsets32(const Meta& m, u32 i, i64* o) {
  u32 acc[NOPS];
  #pragma unroll
  for (int k = 0; k < NOPS; ++k) acc[k] = 0;
  for (int d = (int)m.rank - 1; d >= 0; --d) {
    u32 s = (u32)m.shape[d]; u32 c = i % s; i /= s;
    #pragma unroll
    for (int k = 0; k < NOPS; ++k) acc[k] += c * (u32)m.st[k][d];
  }
  #pragma unroll
  for (int k = 0; k < NOPS; ++k) o[k] = m.off[k] + (i64)(int)acc[k];
}
#define OFFSETS(N, m, i, o) do { if ((m).n < 0x7fffffffLL) offsets32<N>(m, (u32)(i), o); else offsets<N>(m, i, o); } while (0)
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Block-wide reductions (blockDim.x a multiple of 32, at most 1024). `sh` holds 33 floats.
__device__ float block_sum(float v, float* sh) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : 0.0f;
  v = warp_sum(v);
  return v;
}
__device__ float block_max(float v, float* sh) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : -INF_F;
  v = warp_max(v);
  return v;
}
"""#
}
