#!/usr/bin/env bash
# Issue 16 (the architecture change) on the GPU machine, carry .device (majicflux.xz, cuda-check.xz
# from `PRODUCTS="majicflux cuda-check" Tools/cuda/stage.sh`, site.tar.xz). Two calls, one after the other:
#   checks   every GPU op vs the CPU, the tiny pipeline on the GPU, the fp8 linears (FP8Linear through the
#            FP8GEMM capability), the backend from 8 threads; then the full-size DiT step bf16 and fp8
#            and PyTorch's bf16 step at 1024x1024 on the same card (the GPU step re-measured)
#   product  the console (`serve --device cuda`: bf16, fp8, fp8 --vram-budget 6, through the HTTP API;
#            diffusers' warm call) and `generate --device cuda` (bf16, fp8, fp8 and bf16 within 6 GiB)
# Everything lands in $OUT/logs.tgz.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/site
[ -d /tmp/site/diffusers ] || tar -xJf .device/site.tar.xz -C /tmp/site
for phase in "$@"; do
  echo "=== phase $phase $(date +%T)"
  case $phase in
    checks)
      OUT=$OUT/checks bash .device/device_run.sh ops pipeline fp8 threads
      OUT=$OUT/step DIT_SIZES=1024 TORCH_SIZES=1024 bash .device/device_run.sh dit-fp8 dit torch ;;
    product)
      OUT=$OUT/serve SKIP_TAR=1 bash Tools/cuda/device_serve.sh
      OUT=$OUT/lowvram RUNS="bf16 fp8 fp8-budget bf16-budget" MAJICFLUX_XZ=.device/majicflux.xz bash Tools/cuda/device_lowvram.sh ;;
    *) echo "unknown phase $phase (checks product)"; exit 2 ;;
  esac
done
echo "=== done $(date +%T)"
tar -czf /tmp/logs.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/logs.tgz "$OUT/"
