extension CUDAKernelSource {
    /// Flash attention for Hopper, second version (sm_90a only): bf16 q/k/v, head size 128, no mask.
    /// Two warpgroups (256 threads) share one 128-row query tile, each owning 64 rows, and the K and V
    /// tiles of 128 keys, so every key tile copied into shared memory serves twice the queries of the
    /// first version. Within a warpgroup the two GEMMs overlap the softmax: for key tile j the
    /// warpgroup issues S_j = Q K_j^T and O += P_{j-1} V_{j-1} together, waits only for S_j, computes
    /// its softmax while the tensor cores run P_{j-1} V_{j-1}, then rescales O. K and V tiles have
    /// rings of two; tile j + 1 of K and tile j of V are copied (cp.async, all threads) while tile j
    /// is computed, with one barrier per key tile. Same operand layouts as `flash_wg_d128`
    /// (128-byte swizzle; S from shared memory, P from registers, V read N-major).
    static let flashHopper2 = #"""
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ void wg_wait1() { asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory"); }
__device__ __forceinline__ void cp_wait0() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }
// D (64 x 128, f32) = or += A (64 x 16, smem) * B (16 x 128, smem, K-major); acc = 0 overwrites D.
__device__ __forceinline__ void wg_m64n128k16_ss(float* d, u64 da, u64 db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
    "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
    : "l"(da), "l"(db), "r"(acc));
}
// One key tile's online softmax on this thread's S fragment (rows lane/4 and lane/4 + 8 of its warp's
// 16): masks keys at or past Lk, updates the running max m and sum l, leaves P = exp2(S*sl2 - m*sl2)
// in s and returns the factors the accumulated O rows must be scaled by.
// Sets the scores of keys at or past Lk to -inf (this thread's columns of a 128-key tile at key0).
__device__ __forceinline__ void wg2_mask(float* s, int key0, int Lk, int lane) {
  if (key0 + 128 > Lk) {
    #pragma unroll
    for (int i = 0; i < 16; ++i) {
      int col = key0 + i * 8 + (lane & 3) * 2;
      if (col >= Lk) { s[4 * i] = -INF_F; s[4 * i + 2] = -INF_F; }
      if (col + 1 >= Lk) { s[4 * i + 1] = -INF_F; s[4 * i + 3] = -INF_F; }
    }
  }
}
// The tile's row maxima of this thread's two rows, starting from r0 / r1 (the four threads of a row
// combined).
__device__ __forceinline__ void wg2_rowmax(const float* s, float& r0, float& r1) {
  #pragma unroll
  for (int i = 0; i < 16; ++i) {
    r0 = fmaxf(r0, fmaxf(s[4 * i], s[4 * i + 1]));
    r1 = fmaxf(r1, fmaxf(s[4 * i + 2], s[4 * i + 3]));
  }
  r0 = fmaxf(r0, __shfl_xor_sync(0xffffffffu, r0, 1)); r0 = fmaxf(r0, __shfl_xor_sync(0xffffffffu, r0, 2));
  r1 = fmaxf(r1, __shfl_xor_sync(0xffffffffu, r1, 1)); r1 = fmaxf(r1, __shfl_xor_sync(0xffffffffu, r1, 2));
}
__device__ __forceinline__ void wg2_softmax(float* s, int key0, int Lk, int lane, float sl2,
    float& m0, float& m1, float& l0, float& l1, float& a0, float& a1) {
  wg2_mask(s, key0, Lk, lane);
  float mx0 = m0, mx1 = m1;
  wg2_rowmax(s, mx0, mx1);
  a0 = m0 == -INF_F ? 0.0f : fast_exp2((m0 - mx0) * sl2);
  a1 = m1 == -INF_F ? 0.0f : fast_exp2((m1 - mx1) * sl2);
  m0 = mx0; m1 = mx1;
  float b0 = mx0 == -INF_F ? 0.0f : mx0 * sl2, b1 = mx1 == -INF_F ? 0.0f : mx1 * sl2;
  float r0 = 0.0f, r1 = 0.0f;
  #pragma unroll
  for (int i = 0; i < 16; ++i) {
    s[4 * i] = fast_exp2(s[4 * i] * sl2 - b0); s[4 * i + 1] = fast_exp2(s[4 * i + 1] * sl2 - b0);
    s[4 * i + 2] = fast_exp2(s[4 * i + 2] * sl2 - b1); s[4 * i + 3] = fast_exp2(s[4 * i + 3] * sl2 - b1);
    r0 += s[4 * i] + s[4 * i + 1]; r1 += s[4 * i + 2] + s[4 * i + 3];
  }
  l0 = l0 * a0 + r0; l1 = l1 * a1 + r1;
}
// S (this warpgroup's 64 rows x 128 keys) = Q K^T: 8 steps of 16 along the head dimension.
__device__ __forceinline__ void wg2_qk(float* s, u32 sQ, u32 sK) {
  #pragma unroll
  for (int kk = 0; kk < 8; ++kk)
    wg_m64n128k16_ss(s, wg_desc(sQ + (kk >> 2) * (128 * 128) + (kk & 3) * 32, 16, 1024),
                        wg_desc(sK + (kk >> 2) * (128 * 128) + (kk & 3) * 32, 16, 1024), kk);
}
// O (64 rows x 128) += P (registers, bf16) V (128 keys x 128, N-major): 8 steps of 16 keys.
__device__ __forceinline__ void wg2_pv(float* o, const u32* p, u32 sV) {
  #pragma unroll
  for (int kk = 0; kk < 8; ++kk) wg_m64n128k16_rs(o, p + 4 * kk, wg_desc(sV + kk * 16 * 128, 128 * 128, 1024));
}
__device__ __forceinline__ void wg2_pack(u32* p, const float* s) {
  #pragma unroll
  for (int kk = 0; kk < 8; ++kk) {
    p[4 * kk] = pack_bf16(s[8 * kk], s[8 * kk + 1]);
    p[4 * kk + 1] = pack_bf16(s[8 * kk + 2], s[8 * kk + 3]);
    p[4 * kk + 2] = pack_bf16(s[8 * kk + 4], s[8 * kk + 5]);
    p[4 * kk + 3] = pack_bf16(s[8 * kk + 6], s[8 * kk + 7]);
  }
}
// A shared-memory store of v, which depends on the whole softmax, placed before a wgmma wait: ptxas
// otherwise hoists the wait above the softmax (pure register work), and the softmax of tile j no longer
// overlaps P_{j-1} V_{j-1} on the tensor cores. Every thread writes the same word (one transaction).
__device__ __forceinline__ void wg_after(float v) {
  __shared__ float wg_sink;
  asm volatile("st.shared.f32 [%0], %1;" :: "r"(smem_addr(&wg_sink)), "f"(v) : "memory");
}
// O's 64 x 128 accumulator (this thread's rows g and g + 8) times the softmax correction c0, c1.
__device__ __forceinline__ void wg_rescale_o(float* o, float c0, float c1) {
  #pragma unroll
  for (int i = 0; i < 16; ++i) { o[4 * i] *= c0; o[4 * i + 1] *= c0; o[4 * i + 2] *= c1; o[4 * i + 3] *= c1; }
}
template <int N> __device__ __forceinline__ void wg_pin_u(u32* r) {
  #pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i]) :: "memory");
}
extern "C" __global__ void __launch_bounds__(256, 1) flash_wg2_d128(const u16* Q, const u16* K, const u16* V, u16* O, int H, int Lq, int Lk,
    i64 qsb, i64 qsh, i64 qsl, i64 ksb, i64 ksh, i64 ksl, i64 vsb, i64 vsh, i64 vsl, float sl2) {
  constexpr int BM = 128, BN = 128, QB = BM * 256, KB = BN * 256;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  u32 raw = smem_addr(smem_raw), base = (raw + 1023u) & ~1023u;
  unsigned char* sm = smem_raw + (base - raw);          // 1024-byte aligned: Q | K0 K1 | V0 V1
  int wg = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
  int b = blockIdx.y / H, h = blockIdx.y % H;
  i64 q0 = (i64)blockIdx.x * BM;
  const u16* Qb = Q + b * qsb + h * qsh; const u16* Kb = K + b * ksb + h * ksh; const u16* Vb = V + b * vsb + h * vsh;
  int nT = (Lk + BN - 1) / BN;
  u32 sQ = base + wg * 64 * 128;                        // this warpgroup's 64 rows in both Q panels
  unsigned char* smK = sm + QB; unsigned char* smV = sm + QB + 2 * KB;
  u32 sK = base + QB, sV = base + QB + 2 * KB;
  wg_load<BM, 256>(sm, Qb, q0, Lq, qsl);
  wg_load<BN, 256>(smK, Kb, 0, Lk, ksl);
  cp_commit();
  float o[64], s[64];
  u32 p[32];
  #pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.0f;
  float m0 = -INF_F, m1 = -INF_F, l0 = 0.0f, l1 = 0.0f, a0, a1;
  // Key tile 0: S_0 and its softmax (nothing to overlap yet).
  cp_wait0(); fence_async_smem(); __syncthreads();
  if (nT > 1) wg_load<BN, 256>(smK + KB, Kb, BN, Lk, ksl);
  wg_load<BN, 256>(smV, Vb, 0, Lk, vsl);
  cp_commit();
  wg_fence();
  wg2_qk(s, sQ, sK);
  wg_commit(); wg_wait0(); wg_pin<64>(s);
  wg2_softmax(s, 0, Lk, lane, sl2, m0, m1, l0, l1, a0, a1);
  wg2_pack(p, s);
  for (int j = 1; j < nT; ++j) {
    cp_wait0(); fence_async_smem();
    __syncthreads();       // K_j and V_{j-1} are in; every warpgroup is done with K_{j-1} and V_{j-2}
    if (j + 1 < nT) wg_load<BN, 256>(smK + ((j + 1) & 1) * KB, Kb, (i64)(j + 1) * BN, Lk, ksl);
    wg_load<BN, 256>(smV + (j & 1) * KB, Vb, (i64)j * BN, Lk, vsl);
    cp_commit();
    wg_pin<64>(o); wg_pin_u<32>(p);
    wg_fence();
    wg2_qk(s, sQ, sK + (j & 1) * KB);
    wg_commit();
    wg2_pv(o, p, sV + ((j - 1) & 1) * KB);
    wg_commit();
    wg_wait1();            // S_j is done; P_{j-1} V_{j-1} may still run
    wg_pin<64>(s);
    wg2_softmax(s, j * BN, Lk, lane, sl2, m0, m1, l0, l1, a0, a1);
    wg_after(l0 + l1);
    wg_wait0();
    wg_pin<64>(o); wg_pin_u<32>(p);
    wg_rescale_o(o, a0, a1);
    wg2_pack(p, s);
  }
  cp_wait0(); fence_async_smem(); __syncthreads();       // V_{nT-1} is in
  wg_pin<64>(o); wg_pin_u<32>(p);
  wg_fence();
  wg2_pv(o, p, sV + ((nT - 1) & 1) * KB);
  wg_commit(); wg_wait0();
  wg_pin<64>(o);
  wg_store_rows(O, o, l0, l1, q0 + wg * 64 + warp * 16 + (lane >> 2), Lq, H, h, b, lane);
}
#endif
"""#
}
