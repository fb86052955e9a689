#!/usr/bin/env bash
# Issue 21 (GPU speed II) on the GPU machine, session 2026-12-03 (6). Carry .device (cuda-check.xz,
# majicflux.xz, site.tar.xz for the PyTorch stages). Stages (STAGES, in order):
#   kernels   how long NVRTC takes to compile our kernel module (paid at every process start today)
#   dit       cuda-check dit / dit-fp8 at 1024 and 512: step (GPU time, host queueing time, 10 steps
#             back to back), profile by kernel, flash attention alone
#   torch     PyTorch eager and torch.compile(fullgraph, fused QKV) steps at 1024 and 512 in the same call
# Everything lands in $OUT/logs.tgz.
set -u
. Tools/cuda/device_setup.sh
for s in ${STAGES:-kernels dit torch}; do
  echo "=== $s $(date +%T)"
  case $s in
    kernels) /usr/bin/time -f "cuda-check kernels: %e s wall, %U s user" timeout 120 /tmp/bin/cuda-check kernels 2>&1 | tail -3 | tee "$OUT/kernels.log" ;;
    dit) for k in dit dit-fp8; do timeout 200 /tmp/bin/cuda-check $k ${SIZES:-1024 512} 2>&1 | tee "$OUT/$k.log"; done ;;
    torch) timeout 400 python3 .device/bench_flux_dit_torch.py --compile ${SIZES:-1024 512} 2>&1 | grep -v Warning | tee "$OUT/torch.log" ;;
  esac
done
tar -czf /tmp/logs.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/logs.tgz "$OUT/"
echo "=== done $(date +%T)"
