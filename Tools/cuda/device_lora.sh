#!/usr/bin/env bash
# Issue 17 (LoRA) on the GPU machine, one call (carry .device: majicflux.xz, cuda-check.xz, site.tar.xz,
# bench_lora_torch.py):
#   1. cuda-check lora: the tiny pipeline with LoRAs on the GPU (f32/bf16/fp8, fused, streamed) vs the CPU;
#   2. cuda-check dit-lora and PyTorch's eager step with peft-style LoRAs, same card (step overhead);
#   3. a FLUX.1-dev-size random folder and `majicflux serve --lora-dir` with two 153 MB LoRAs
#      (Tools/cuda/serve_lora_check.py: switching time between jobs), and `majicflux generate --lora` on the GPU.
set -u
. Tools/cuda/device_setup.sh
for s in ${STAGES:-lora dit-lora torch-lora serve generate}; do
  echo "=== $s $(date +%T)"
  case $s in
    lora) timeout 120 /tmp/bin/cuda-check lora Tests/ModelsTests/Fixtures/tiny-flux Tests/ModelsTests/Fixtures/lora 2>&1 | tee "$OUT/lora.log" ;;
    dit-lora) timeout 300 /tmp/bin/cuda-check dit-lora 1024 512 2>&1 | tee "$OUT/dit-lora.log" ;;
    torch-lora) timeout 240 python3 .device/bench_lora_torch.py 1024 512 2>&1 | grep -v Warning | tee "$OUT/torch-lora.log" ;;
    serve)
      [ -d /tmp/flux-random/transformer ] || timeout 240 python3 Tools/cuda/e2e_generate.py make /tmp/flux-random 2>&1 \
        | grep -v -i "warn\|Writing model shards\|kept in float32" | tail -3
      timeout 400 python3 Tools/cuda/serve_lora_check.py --bin /tmp/bin/majicflux --model /tmp/flux-random --out "$OUT" 2>&1 | tee "$OUT/serve_lora.log" ;;
    generate)
      timeout 200 /tmp/bin/majicflux generate --model Tests/ModelsTests/Fixtures/tiny-flux --device cuda --precision fp8 \
        --prompt "a red circle" --seed 3 --steps 4 --width 128 --height 96 --lora Tests/ModelsTests/Fixtures/lora/kohya.safetensors:0.6 \
        --lora Tests/ModelsTests/Fixtures/lora/peft.safetensors --output "$OUT/generate-lora.png" 2>&1 | tail -5 | tee "$OUT/generate.log" ;;
  esac
done
echo "=== done $(date +%T)"
rm -rf "$OUT"/serve-lora/ "$OUT"/loras/
