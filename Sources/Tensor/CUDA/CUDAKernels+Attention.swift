extension CUDAKernelSource {
    /// General attention (any head size, any float dtype, additive mask): one block per query row,
    /// the row's scores in shared memory (Lk floats). Output laid out (B, Lq, H, Dv).
    static let attention = #"""
struct AttnStrides { i64 q[4], k[4], v[4], m[4]; };
extern "C" __global__ void attn_rows(const void* q, int tq, const void* k, int tk, const void* v, int tv,
                                     const float* mask, void* out, int to, AttnStrides s,
                                     i64 H, i64 Lq, i64 Lk, i64 D, i64 Dv, float scale) {
  extern __shared__ float sc[];
  __shared__ float sh[33];
  i64 r = blockIdx.x; i64 qi = r % Lq; i64 bh = r / Lq; i64 h = bh % H, b = bh / H;
  i64 qb = b * s.q[0] + h * s.q[1] + qi * s.q[2];
  i64 kb = b * s.k[0] + h * s.k[1];
  i64 vb = b * s.v[0] + h * s.v[1];
  float mx = -INF_F;
  for (i64 j = threadIdx.x; j < Lk; j += blockDim.x) {
    float acc = 0;
    for (i64 d = 0; d < D; ++d) acc += ldf(q, tq, qb + d * s.q[3]) * ldf(k, tk, kb + j * s.k[2] + d * s.k[3]);
    acc *= scale;
    if (mask) acc += mask[b * s.m[0] + h * s.m[1] + qi * s.m[2] + j * s.m[3]];
    sc[j] = acc;
    mx = fmaxf(mx, acc);
  }
  mx = block_max(mx, sh);
  float sum = 0;
  for (i64 j = threadIdx.x; j < Lk; j += blockDim.x) {
    float p = mx == -INF_F ? 0.0f : expf(sc[j] - mx);
    sc[j] = p; sum += p;
  }
  sum = block_sum(sum, sh);
  __syncthreads();
  float inv = sum > 0 ? 1.0f / sum : 0.0f;
  i64 ob = ((b * Lq + qi) * H + h) * Dv;
  for (i64 d = threadIdx.x; d < Dv; d += blockDim.x) {
    float acc = 0;
    for (i64 j = 0; j < Lk; ++j) acc += sc[j] * ldf(v, tv, vb + j * s.v[2] + d * s.v[3]);
    stf(out, to, ob + d, acc * inv);
  }
}
"""#

    /// Flash attention for bf16 q/k/v with head size 64 or 128 (FlashAttention-2 style): 4 warps own
    /// 16 query rows each; K and V tiles of 64 keys stream through shared memory with cp.async; S = QK^T
    /// and O += PV run on tensor cores (mma.sync m16n8k16 bf16, f32 accumulators); softmax is online,
    /// so no score matrix is ever written to memory. Output bf16 laid out (B, Lq, H, D).
    static let flash = #"""
__device__ __forceinline__ u32 smem_addr(const void* p) {
  unsigned long long a; asm("cvta.to.shared.u64 %0, %1;" : "=l"(a) : "l"(p)); return (u32)a;
}
__device__ __forceinline__ void cp_async16(void* s, const void* g, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(smem_addr(s)), "l"(g), "r"(bytes));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;"); }
__device__ __forceinline__ void cp_wait_all() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }
__device__ __forceinline__ void ldsm_x4(u32* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_t(u32* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}
__device__ __forceinline__ void mma_bf16(float* c, const u32* a, u32 b0, u32 b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ u32 pack_bf16(float lo, float hi) {
  u32 r; asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo)); return r;
}
template <int D, int ROWS>
__device__ __forceinline__ void flash_load(u16* s, const u16* g, i64 row0, i64 L, i64 ld) {
  constexpr int CH = D / 8, LDS = D + 8;
  for (int c = threadIdx.x; c < ROWS * CH; c += blockDim.x) {
    int r = c / CH, cc = c % CH;
    bool ok = row0 + r < L;
    const u16* src = g + (ok ? (row0 + r) * ld : 0) + cc * 8;
    cp_async16(s + r * LDS + cc * 8, src, ok ? 16 : 0);
  }
}
__device__ __forceinline__ float fast_exp2(float x) { float y; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
// Each of the 4 warps owns 32 query rows (two m16 tiles), so every K/V fragment read from shared
// memory feeds two MMAs; Q fragments are re-read from shared memory per k-step to save registers.
template <int D, int BN>
__device__ __forceinline__ void flash_impl(const u16* __restrict__ Q, const u16* __restrict__ K, const u16* __restrict__ V,
    u16* __restrict__ O, int H, int Lq, int Lk, i64 qsb, i64 qsh, i64 qsl, i64 ksb, i64 ksh, i64 ksl,
    i64 vsb, i64 vsh, i64 vsl, float sl2) {
  constexpr int BM = 128, LDS = D + 8;
  extern __shared__ __align__(16) unsigned char smem[];
  u16* sQ = (u16*)smem; u16* sK = sQ + BM * LDS; u16* sV = sK + BN * LDS;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int b = blockIdx.y / H, h = blockIdx.y % H;
  i64 q0 = (i64)blockIdx.x * BM;
  const u16* Qb = Q + b * qsb + h * qsh; const u16* Kb = K + b * ksb + h * ksh; const u16* Vb = V + b * vsb + h * vsh;
  flash_load<D, BM>(sQ, Qb, q0, Lq, qsl);
  flash_load<D, BN>(sK, Kb, 0, Lk, ksl);
  cp_commit(); cp_wait_all(); __syncthreads();
  float o[2][D / 8][4];
  #pragma unroll
  for (int mt = 0; mt < 2; ++mt)
    #pragma unroll
    for (int t = 0; t < D / 8; ++t) { o[mt][t][0] = o[mt][t][1] = o[mt][t][2] = o[mt][t][3] = 0; }
  float mrow[2][2] = {{-INF_F, -INF_F}, {-INF_F, -INF_F}}, lrow[2][2] = {{0, 0}, {0, 0}};
  int nTiles = (Lk + BN - 1) / BN;
  for (int j = 0; j < nTiles; ++j) {
    if (j > 0) { cp_wait_all(); __syncthreads(); }
    flash_load<D, BN>(sV, Vb, (i64)j * BN, Lk, vsl); cp_commit();
    float s[2][BN / 8][4];
    #pragma unroll
    for (int mt = 0; mt < 2; ++mt)
      #pragma unroll
      for (int t = 0; t < BN / 8; ++t) { s[mt][t][0] = s[mt][t][1] = s[mt][t][2] = s[mt][t][3] = 0; }
    #pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      u32 qa[2][4];
      #pragma unroll
      for (int mt = 0; mt < 2; ++mt)
        ldsm_x4(qa[mt], sQ + (warp * 32 + mt * 16 + (lane % 16)) * LDS + kk * 16 + (lane / 16) * 8);
      #pragma unroll
      for (int nn = 0; nn < BN / 16; ++nn) {
        u32 bk[4];
        ldsm_x4(bk, sK + (nn * 16 + (lane % 8) + (lane / 16) * 8) * LDS + kk * 16 + ((lane / 8) % 2) * 8);
        #pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          mma_bf16(s[mt][2 * nn], qa[mt], bk[0], bk[1]);
          mma_bf16(s[mt][2 * nn + 1], qa[mt], bk[2], bk[3]);
        }
      }
    }
    if ((j + 1) * BN > Lk) {
      #pragma unroll
      for (int t = 0; t < BN / 8; ++t) {
        int col = j * BN + t * 8 + (lane % 4) * 2;
        #pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          if (col >= Lk) { s[mt][t][0] = -INF_F; s[mt][t][2] = -INF_F; }
          if (col + 1 >= Lk) { s[mt][t][1] = -INF_F; s[mt][t][3] = -INF_F; }
        }
      }
    }
    #pragma unroll
    for (int mt = 0; mt < 2; ++mt) {
      #pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        float mx = mrow[mt][hr];
        #pragma unroll
        for (int t = 0; t < BN / 8; ++t) mx = fmaxf(mx, fmaxf(s[mt][t][2 * hr], s[mt][t][2 * hr + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        float alpha = mrow[mt][hr] == -INF_F ? 0.0f : fast_exp2((mrow[mt][hr] - mx) * sl2);
        mrow[mt][hr] = mx;
        float base = mx == -INF_F ? 0.0f : mx * sl2;
        float rs = 0;
        #pragma unroll
        for (int t = 0; t < BN / 8; ++t) {
          s[mt][t][2 * hr] = fast_exp2(s[mt][t][2 * hr] * sl2 - base);
          s[mt][t][2 * hr + 1] = fast_exp2(s[mt][t][2 * hr + 1] * sl2 - base);
          rs += s[mt][t][2 * hr] + s[mt][t][2 * hr + 1];
        }
        lrow[mt][hr] = lrow[mt][hr] * alpha + rs;
        #pragma unroll
        for (int t = 0; t < D / 8; ++t) { o[mt][t][2 * hr] *= alpha; o[mt][t][2 * hr + 1] *= alpha; }
      }
    }
    // P as packed bf16 pairs (half the registers of the f32 scores).
    u32 pp[2][BN / 8][2];
    #pragma unroll
    for (int mt = 0; mt < 2; ++mt)
      #pragma unroll
      for (int t = 0; t < BN / 8; ++t) { pp[mt][t][0] = pack_bf16(s[mt][t][0], s[mt][t][1]); pp[mt][t][1] = pack_bf16(s[mt][t][2], s[mt][t][3]); }
    cp_wait_all(); __syncthreads();
    if (j + 1 < nTiles) { flash_load<D, BN>(sK, Kb, (i64)(j + 1) * BN, Lk, ksl); cp_commit(); }
    #pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      u32 pa[2][4];
      #pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        pa[mt][0] = pp[mt][2 * kk][0];
        pa[mt][1] = pp[mt][2 * kk][1];
        pa[mt][2] = pp[mt][2 * kk + 1][0];
        pa[mt][3] = pp[mt][2 * kk + 1][1];
      }
      #pragma unroll
      for (int dd = 0; dd < D / 16; ++dd) {
        u32 bv[4];
        ldsm_x4_t(bv, sV + (kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * LDS + dd * 16 + (lane / 16) * 8);
        #pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          mma_bf16(o[mt][2 * dd], pa[mt], bv[0], bv[1]);
          mma_bf16(o[mt][2 * dd + 1], pa[mt], bv[2], bv[3]);
        }
      }
    }
  }
  #pragma unroll
  for (int mt = 0; mt < 2; ++mt) {
    float inv[2];
    #pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      float l = lrow[mt][hr];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      inv[hr] = l > 0 ? 1.0f / l : 0.0f;
    }
    i64 r0 = q0 + warp * 32 + mt * 16 + lane / 4, r1 = r0 + 8;
    #pragma unroll
    for (int t = 0; t < D / 8; ++t) {
      int col = t * 8 + (lane % 4) * 2;
      if (r0 < Lq) *(u32*)(O + ((b * (i64)Lq + r0) * H + h) * D + col) = pack_bf16(o[mt][t][0] * inv[0], o[mt][t][1] * inv[0]);
      if (r1 < Lq) *(u32*)(O + ((b * (i64)Lq + r1) * H + h) * D + col) = pack_bf16(o[mt][t][2] * inv[1], o[mt][t][3] * inv[1]);
    }
  }
}
extern "C" __global__ void __launch_bounds__(128) flash_d128(const u16* Q, const u16* K, const u16* V, u16* O, int H, int Lq, int Lk,
    i64 qsb, i64 qsh, i64 qsl, i64 ksb, i64 ksh, i64 ksl, i64 vsb, i64 vsh, i64 vsl, float sl2) {
  flash_impl<128, 64>(Q, K, V, O, H, Lq, Lk, qsb, qsh, qsl, ksb, ksh, ksl, vsb, vsh, vsl, sl2);
}
extern "C" __global__ void __launch_bounds__(128) flash_d128_n32(const u16* Q, const u16* K, const u16* V, u16* O, int H, int Lq, int Lk,
    i64 qsb, i64 qsh, i64 qsl, i64 ksb, i64 ksh, i64 ksl, i64 vsb, i64 vsh, i64 vsl, float sl2) {
  flash_impl<128, 32>(Q, K, V, O, H, Lq, Lk, qsb, qsh, qsl, ksb, ksh, ksl, vsb, vsh, vsl, sl2);
}
extern "C" __global__ void __launch_bounds__(128) flash_d64(const u16* Q, const u16* K, const u16* V, u16* O, int H, int Lq, int Lk,
    i64 qsb, i64 qsh, i64 qsl, i64 ksb, i64 ksh, i64 ksl, i64 vsb, i64 vsh, i64 vsl, float sl2) {
  flash_impl<64, 64>(Q, K, V, O, H, Lq, Lk, qsb, qsh, qsl, ksb, ksh, ksl, vsb, vsh, vsl, sl2);
}
"""#
}
