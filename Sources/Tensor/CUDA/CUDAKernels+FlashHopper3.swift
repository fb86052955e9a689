extension CUDAKernelSource {
    /// Flash attention for Hopper, third version (sm_90a only): warp-specialised, bf16, head size 128,
    /// no mask. Three warpgroups: one producer, whose single thread issues TMA (bulk tensor) copies of
    /// Q and of K and V tiles of 128 keys into rings of `ns` stages (2 or 3), and two consumers, each owning 64 of
    /// the block's 128 query rows. Stages are handed over with mbarriers (full: the TMA's byte count
    /// arrived; empty: all 256 consumer threads are done reading), so the consumers never wait on each
    /// other and drift apart, one's softmax overlapping the other's GEMMs. Within a consumer S_j and
    /// P_{j-1} V_{j-1} are issued together as in `flash_wg2_d128`. The producer gives its registers to
    /// the consumers (setmaxnreg). TMA writes the same 128-byte-swizzled panels the wgmma descriptors
    /// read (tensor maps made by `CUDABackend.flashTensorMap`), zero-filling rows past L.
    static let flashHopper3 = #"""
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
struct __align__(64) TensorMap128 { unsigned long long w[16]; };
// The deepest K/V ring the warp-specialised kernels take (`ns`, `CUDABackend.Configuration.flashStages`).
#define FLASH_STAGES_MAX 4
__device__ __forceinline__ void mbar_init(u32 bar, u32 count) { asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" :: "r"(bar), "r"(count) : "memory"); }
__device__ __forceinline__ void mbar_expect(u32 bar, u32 bytes) { asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(bar), "r"(bytes) : "memory"); }
__device__ __forceinline__ void mbar_arrive(u32 bar) { asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" :: "r"(bar) : "memory"); }
__device__ __forceinline__ void mbar_wait(u32 bar, u32 parity) {
  asm volatile("{\n.reg .pred p;\nMBAR_WAIT:\nmbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n@!p bra MBAR_WAIT;\n}\n" :: "r"(bar), "r"(parity) : "memory");
}
// Named barrier `id` among `n` threads: wait for all of them / count this thread in and go on.
__device__ __forceinline__ void bar_sync(int id, int n) { asm volatile("bar.sync %0, %1;" :: "r"(id), "r"(n) : "memory"); }
__device__ __forceinline__ void bar_arrive(int id, int n) { asm volatile("bar.arrive %0, %1;" :: "r"(id), "r"(n) : "memory"); }
// One 64-column panel (128 rows x 128 bytes) of a (B, L, H, 128) bf16 tensor: columns c0..c0+63 of
// rows row..row+127 of head h, batch b.
__device__ __forceinline__ void tma_panel(u32 dst, const TensorMap128* map, int c0, int row, int h, int b, u32 bar) {
  asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], [%6];"
    :: "r"(dst), "l"((unsigned long long)map), "r"(c0), "r"(row), "r"(h), "r"(b), "r"(bar) : "memory");
}
extern "C" __global__ void __launch_bounds__(384, 1) flash_wg3_d128(const __grid_constant__ TensorMap128 tq,
    const __grid_constant__ TensorMap128 tk, const __grid_constant__ TensorMap128 tv, u16* O, int H, int Lq, int Lk, float sl2, int pp, int ns) {
  constexpr int BM = 128, BN = 128, QB = BM * 256, KB = BN * 256;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  // fullQ, then fullK, fullV, emptyK, emptyV: FLASH_STAGES_MAX each (`ns` of them used).
  __shared__ __align__(8) unsigned long long bars[1 + 4 * FLASH_STAGES_MAX];
  u32 raw = smem_addr(smem_raw), base = (raw + 1023u) & ~1023u;   // Q | K stages | V stages, 1024-byte aligned
  u32 sK = base + QB, sV = base + QB + ns * KB;
  u32 bar0 = smem_addr(bars);
  u32 fullQ = bar0, fullK = bar0 + 8, fullV = fullK + 8 * FLASH_STAGES_MAX, emptyK = fullV + 8 * FLASH_STAGES_MAX,
      emptyV = emptyK + 8 * FLASH_STAGES_MAX;
  int wg = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
  int b = blockIdx.y / H, h = blockIdx.y % H;
  int q0 = blockIdx.x * BM;
  int nT = (Lk + BN - 1) / BN;
  if (threadIdx.x == 0) {
    mbar_init(fullQ, 1);
    for (int s = 0; s < ns; ++s) { mbar_init(fullK + 8 * s, 1); mbar_init(fullV + 8 * s, 1); mbar_init(emptyK + 8 * s, 256); mbar_init(emptyV + 8 * s, 256); }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (wg == 0) {
    // Producer: one thread issues every copy; tile j goes to stage s = j % ns in round r = j / ns,
    // once the consumers are done with the tile of round r - 1 there.
    asm volatile("setmaxnreg.dec.sync.aligned.u32 24;");
    if (threadIdx.x == 0) {
      mbar_expect(fullQ, QB);
      tma_panel(base, &tq, 0, q0, h, b, fullQ);
      tma_panel(base + BM * 128, &tq, 64, q0, h, b, fullQ);
      for (int j = 0, s = 0, r = 0; j < nT; ++j) {
        if (r > 0) mbar_wait(emptyK + 8 * s, (r - 1) & 1);
        mbar_expect(fullK + 8 * s, KB);
        tma_panel(sK + s * KB, &tk, 0, j * BN, h, b, fullK + 8 * s);
        tma_panel(sK + s * KB + BN * 128, &tk, 64, j * BN, h, b, fullK + 8 * s);
        if (r > 0) mbar_wait(emptyV + 8 * s, (r - 1) & 1);
        mbar_expect(fullV + 8 * s, KB);
        tma_panel(sV + s * KB, &tv, 0, j * BN, h, b, fullV + 8 * s);
        tma_panel(sV + s * KB + BN * 128, &tv, 64, j * BN, h, b, fullV + 8 * s);
        if (++s == ns) { s = 0; ++r; }
      }
    }
    return;
  }
  asm volatile("setmaxnreg.inc.sync.aligned.u32 240;");
  int c = wg - 1;                                       // consumer 0 or 1: rows c*64 .. c*64+63
  // Ping-pong (pp): the consumers take turns issuing their GEMMs (named barriers 1 and 2), so one's
  // softmax runs while the other's GEMMs keep the tensor cores busy (FlashAttention-3's schedule).
  // Consumer 1 lets consumer 0 go first.
  if (pp && c == 1) bar_arrive(1, 256);
  u32 sQ = base + c * 64 * 128;
  float o[64], s[64];
  u32 p[32];
  #pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.0f;
  float m0 = -INF_F, m1 = -INF_F, l0 = 0.0f, l1 = 0.0f, a0, a1;
  mbar_wait(fullQ, 0);
  mbar_wait(fullK, 0);
  if (pp) bar_sync(1 + c, 256);
  wg_fence();
  wg2_qk(s, sQ, sK);
  wg_commit();
  if (pp) bar_arrive(2 - c, 256);
  wg_wait0(); wg_pin<64>(s);
  mbar_arrive(emptyK);
  wg2_softmax(s, 0, Lk, lane, sl2, m0, m1, l0, l1, a0, a1);
  wg2_pack(p, s);
  // O's correction for the last softmax, applied between issuing Q K^T and P V (FlashAttention-3's
  // order: the multiplies run while S is computed).
  float cr0 = 1.0f, cr1 = 1.0f;
  int st = 0, rt = 0;                                    // stage and round of tile j (j % ns, j / ns)
  for (int j = 1; j < nT; ++j) {
    int sp = st, rp = rt;                                // tile j - 1's
    if (++st == ns) { st = 0; ++rt; }
    mbar_wait(fullK + 8 * st, rt & 1);
    mbar_wait(fullV + 8 * sp, rp & 1);
    wg_pin<64>(o); wg_pin_u<32>(p);
    if (pp) bar_sync(1 + c, 256);
    wg_fence();
    wg2_qk(s, sQ, sK + st * KB);
    wg_commit();
    if (j > 1) wg_rescale_o(o, cr0, cr1);
    wg_fence();
    wg2_pv(o, p, sV + sp * KB);
    wg_commit();
    if (pp) bar_arrive(2 - c, 256);
    wg_wait1();            // S_j is done (K stage st can be refilled); P_{j-1} V_{j-1} may still run
    wg_pin<64>(s);
    mbar_arrive(emptyK + 8 * st);
    wg2_softmax(s, j * BN, Lk, lane, sl2, m0, m1, l0, l1, a0, a1);
    wg_after(l0 + l1);
    wg_wait0();
    wg_pin<64>(o); wg_pin_u<32>(p);
    mbar_arrive(emptyV + 8 * sp);
    cr0 = a0; cr1 = a1;
    wg2_pack(p, s);
  }
  int sl = st;                                           // tile nT - 1's stage
  mbar_wait(fullV + 8 * sl, rt & 1);
  wg_pin<64>(o); wg_pin_u<32>(p);
  if (pp) bar_sync(1 + c, 256);
  if (nT > 1) wg_rescale_o(o, cr0, cr1);
  wg_fence();
  wg2_pv(o, p, sV + sl * KB);
  wg_commit();
  if (pp) bar_arrive(2 - c, 256);
  wg_wait0();
  wg_pin<64>(o);
  wg_store_rows(O, o, l0, l1, q0 + c * 64 + warp * 16 + (lane >> 2), Lq, H, h, b, lane);
}
#endif
"""#
}
