#!/usr/bin/env bash
# Runs on the GPU machine from /work/main's root with .device carried (see Tools/cuda/README.md):
# the CUDA checks and benchmarks, then the PyTorch reference, each stage logged under $OUT.
# Usage: bash .device/device_run.sh [stages...]  (default: ops pipeline gemm dit torch; also flash, dit-mma, upload, fp8, stream, stream-bf16, lora, dit-lora)
# TORCH_SIZES (default "1024 512") picks the PyTorch reference's sizes; MAJICFLUX_CUDA_FLASH the flash kernel.
set -u
DEVICE_BINARIES="cuda-check" . Tools/cuda/device_setup.sh
stages=${*:-ops pipeline gemm dit torch}
for s in $stages; do
  echo "=== $s $(date +%T)"
  case $s in
    ops) timeout 90 /tmp/bin/cuda-check ops 2>&1 | tee "$OUT/ops.log" ;;
    pipeline) timeout 60 /tmp/bin/cuda-check pipeline Tests/ModelsTests/Fixtures/tiny-flux 2>&1 | tee "$OUT/pipeline.log" ;;
    gemm) timeout 30 /tmp/bin/cuda-check gemm 2>&1 | tee "$OUT/gemm.log" ;;
    flash) timeout 120 /tmp/bin/cuda-check flash 2>&1 | tee "$OUT/flash.log" ;;
    upload) timeout 120 /tmp/bin/cuda-check upload 2>&1 | tee "$OUT/upload.log" ;;
    threads) timeout 120 /tmp/bin/cuda-check threads 2>&1 | tee "$OUT/threads.log" ;;
    fp8) timeout 120 /tmp/bin/cuda-check fp8 2>&1 | tee "$OUT/fp8.log" ;;
    gguf) timeout 180 /tmp/bin/cuda-check gguf 2>&1 | tee "$OUT/gguf.log" ;;
    stream) timeout 240 /tmp/bin/cuda-check stream ${STREAM_GIB:-4} 2>&1 | tee "$OUT/stream.log" ;;
    stream-bf16) timeout 240 /tmp/bin/cuda-check stream ${STREAM_GIB:-4} bf16 2>&1 | tee "$OUT/stream-bf16.log" ;;
    dit-fp8) timeout 150 /tmp/bin/cuda-check dit-fp8 ${DIT_SIZES:-1024} 2>&1 | tee "$OUT/dit-fp8.log" ;;
    dit-mma) MAJICFLUX_CUDA_FLASH=mma timeout 120 /tmp/bin/cuda-check dit 1024 512 2>&1 | tee "$OUT/dit-mma.log" ;;
    dit) timeout 120 /tmp/bin/cuda-check dit 1024 512 2>&1 | tee "$OUT/dit.log" ;;
    lora) timeout 120 /tmp/bin/cuda-check lora Tests/ModelsTests/Fixtures/tiny-flux Tests/ModelsTests/Fixtures/lora 2>&1 | tee "$OUT/lora.log" ;;
    torch-lora)
      timeout 240 python3 .device/bench_lora_torch.py ${TORCH_SIZES:-1024 512} 2>&1 | grep -v Warning | tee "$OUT/torch-lora.log" ;;
    dit-lora) timeout 300 /tmp/bin/cuda-check dit-lora ${DIT_SIZES:-1024 512} 2>&1 | tee "$OUT/dit-lora.log" ;;
    torch)
      [ -d /tmp/site/diffusers ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .device/whl/*.whl >/dev/null 2>&1
      timeout 150 python3 .device/bench_flux_dit_torch.py ${TORCH_SIZES:-1024 512} 2>&1 | grep -v Warning | tee "$OUT/torch.log" ;;
  esac
done
echo "=== done $(date +%T)"
