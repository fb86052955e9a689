#!/usr/bin/env bash
# The device session of 2026-12-01 (issues 7 and 9): phases run in the order given, in one call
# (carry .device and .train; the tracked tree must stay small, see Tools/cuda/README.md).
#   bench  the flash kernels check; every op vs the CPU; DiT step ours vs PyTorch (same card)
#   probe  train.py's step speed (eager and compiled, several batches) and the VAE step
#   make   a FLUX.1-dev-size random bf16 folder in /tmp/flux-random (for e2e)
#   e2e    `majicflux generate --device cuda` 1024x1024, 20 steps, then diffusers' FluxPipeline
#          (e2e-ours: without diffusers)
#   upload a 1 GB mapped tensor to the GPU, direct pread path vs host array (cuda-check upload)
#   fp8    fp8 linear layers vs bf16 at DiT shapes (cuda-check fp8)
#   issue8 (issue 8) every GPU op (banded im2col included); the tiny pipeline in fp8 on the GPU (PSNR);
#          the full-size fp8 DiT step and its error vs bf16; streamed vs resident DiT (cuda-check
#          stream); the fp8 GEMMs and the fp8 step again with cuBLASLt candidates timed (AUTOTUNE=1)
#   lowvram  generate 1024x1024 20 steps: fp8 resident, fp8 and bf16 within --vram-budget 6 (after make)
#   issue8a (issue 8, 2026-12-01 fourth session) the flash kernels (wgmma2 becomes the kernel of every
#          later stage if it passes); the full-size fp8 DiT step and PyTorch bf16's at 1024x1024 side by
#          side; streamed vs resident; the tiny fp8 pipeline; every op; the fp8 GEMMs; then the fp8
#          GEMMs and the step again with cuBLASLt candidates timed (AUTOTUNE=1)
#   issue8b the same after the third flash kernel and the faster activation quantisation: flash, the
#          fp8 step and PyTorch's side by side, the fp8 checks, the bf16 step
#   issue8d the fp8 step and PyTorch's at 1024 and 512 side by side, streamed vs resident with the
#          current kernels, the fp8 step with cuBLASLt candidates timed
# At the end every file under $OUT is packed into $OUT/logs.tgz (the device tool brings back 8 files).
# Staging: PRODUCTS="cuda-check majicflux" Tools/cuda/stage.sh; site.tar.xz = the unpacked diffusers
# 0.42.1 + importlib_metadata wheels (tar | xz: 1.9 MB instead of 6.4 MB of wheels).
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/site
[ -d /tmp/site/diffusers ] || tar -xJf .device/site.tar.xz -C /tmp/site
for phase in "$@"; do
  echo "=== phase $phase $(date +%T)"
  case $phase in
    bench)
      bash .device/device_run.sh flash
      if grep -q "flash: all passed" "$OUT/flash.log"; then bash .device/device_run.sh ops dit torch
      else bash .device/device_run.sh ops dit-mma torch; fi ;;
    probe)
      BENCH=1 timeout 200 ./.train/run.sh "$OUT" --batches 256,1024 --compile-batches 1024 --vae-batches 64,256 --steps 60 ;;
    make)
      [ -d /tmp/flux-random/transformer ] || PYTHONPATH=/tmp/site timeout 240 python3 Tools/cuda/e2e_generate.py make /tmp/flux-random 2>&1 \
        | grep -v -i "warn\|Writing model shards\|kept in float32" | tee "$OUT/make.log" ;;
    e2e)
      MAJICFLUX_XZ=.device/majicflux.xz RUNS=1 bash Tools/cuda/device_e2e.sh ;;
    e2e-ours)
      MAJICFLUX_XZ=.device/majicflux.xz RUNS=1 SKIP_TORCH=1 bash Tools/cuda/device_e2e.sh ;;
    upload|fp8)
      bash .device/device_run.sh $phase ;;
    issue8)
      bash .device/device_run.sh ops pipeline dit-fp8 stream fp8
      mkdir -p "$OUT/tuned" && OUT=$OUT/tuned MAJICFLUX_CUDA_AUTOTUNE=1 bash .device/device_run.sh fp8 dit-fp8 ;;
    issue8a)
      bash .device/device_run.sh flash
      grep -q "flash wgmma2: passed" "$OUT/flash.log" && export MAJICFLUX_CUDA_FLASH=wgmma2
      echo "flash kernel for the rest: ${MAJICFLUX_CUDA_FLASH:-default}"
      TORCH_SIZES=1024 bash .device/device_run.sh dit-fp8 torch stream pipeline ops fp8
      mkdir -p "$OUT/tuned" && OUT=$OUT/tuned MAJICFLUX_CUDA_AUTOTUNE=1 bash .device/device_run.sh fp8 dit-fp8 ;;
    issue8b)
      bash .device/device_run.sh flash
      if grep -q "flash wgmma3: passed" "$OUT/flash.log"; then export MAJICFLUX_CUDA_FLASH=wgmma3
      elif grep -q "flash wgmma2: passed" "$OUT/flash.log"; then export MAJICFLUX_CUDA_FLASH=wgmma2; fi
      echo "flash kernel for the rest: ${MAJICFLUX_CUDA_FLASH:-default}"
      TORCH_SIZES=1024 bash .device/device_run.sh dit-fp8 torch fp8 dit ;;
    issue8d)
      DIT_SIZES="1024 512" TORCH_SIZES="1024 512" bash .device/device_run.sh dit-fp8 torch stream
      mkdir -p "$OUT/tuned" && OUT=$OUT/tuned MAJICFLUX_CUDA_AUTOTUNE=1 bash .device/device_run.sh dit-fp8 ;;
    lowvram)
      MAJICFLUX_XZ=.device/majicflux.xz bash Tools/cuda/device_lowvram.sh ;;
    *) echo "unknown phase $phase (bench probe make e2e e2e-ours upload fp8 issue8 issue8a issue8b issue8d lowvram)"; exit 2 ;;
  esac
done
echo "=== done $(date +%T)"
tar -czf /tmp/logs.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/logs.tgz "$OUT/"
