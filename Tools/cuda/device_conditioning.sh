#!/usr/bin/env bash
# Issue 18 (image-conditioned generation) on the GPU machine, one call (carry .device: majicflux.xz,
# cuda-check.xz, site.tar.xz, torch_flux_bench.py, bench_conditioning_torch.py):
#   1. cuda-check conditioning: every conditioned case of the tiny models on the GPU (f32, bf16, fp8) vs the CPU;
#   2. PyTorch: AutoencoderKL.encode at 1024x1024 (bf16; the random VAE saved to /tmp/vae-random) and a
#      FLUX.1-dev-size Kontext step in eager mode; then cuda-check conditioning-bench on the same VAE and size;
#   3. `majicflux generate --device cuda` with --image/--mask/--outpaint/--control/--reference on the tiny
#      models, and `majicflux serve --device cuda` with picture jobs through the HTTP API
#      (Tools/cuda/serve_conditioning_check.py).
set -u
. Tools/cuda/device_setup.sh
FX=Tests/ModelsTests/Fixtures
C=$FX/conditioning
for s in ${STAGES:-conditioning torch-cond cond-bench generate serve}; do
  echo "=== $s $(date +%T)"
  case $s in
    conditioning) timeout 240 /tmp/bin/cuda-check conditioning "$PWD/$FX" 2>&1 | tee "$OUT/conditioning.log" ;;
    torch-cond) timeout 240 python3 .device/bench_conditioning_torch.py --vae-out /tmp/vae-random ${SIZES:-1024} 2>&1 | grep -v Warning | tee "$OUT/torch-cond.log" ;;
    ops) timeout 120 /tmp/bin/cuda-check ops 2>&1 | tail -8 | tee "$OUT/ops.log" ;;
    cond-bench) timeout 240 /tmp/bin/cuda-check conditioning-bench /tmp/vae-random ${SIZES:-1024} 2>&1 | tee "$OUT/cond-bench.log" ;;
    generate)
      rm -f /tmp/tiny-flux-kontext.safetensors; cp "$FX/tiny-flux-dit-comfy.safetensors" /tmp/tiny-flux-kontext.safetensors
      run() { local name=$1; shift
        timeout 120 /tmp/bin/majicflux generate --model $FX/tiny-flux --device cuda --prompt "a red circle" --seed 3 --steps 4 \
          --max-sequence-length 64 --output "$OUT/gen-$name.png" "$@" > "$OUT/gen-$name.log" 2>&1
        echo "$name: exit $? $(tail -1 "$OUT/gen-$name.log")"; }
      run img2img --image $C/input.png --strength 0.6
      run inpaint --image $C/input.png --mask $C/mask.png --strength 0.8 --mask-blur 2
      run outpaint --image $C/input.png --outpaint 16,0,16,0
      run fill --dit $C/tiny-flux-fill.safetensors --image $C/input.png --mask $C/mask.png
      run canny --dit $C/tiny-flux-control.safetensors --control $C/input.png --control-preprocess canny
      run kontext --dit /tmp/tiny-flux-kontext.safetensors --reference $C/reference.png --reference-resize off
      run refused --image $C/input.png --control $C/control_image.png ;;
    serve) timeout 240 python3 Tools/cuda/serve_conditioning_check.py /tmp/bin/majicflux $FX 2>&1 | tee "$OUT/serve-cond.log" ;;
  esac
done
tar -czf "$OUT/logs.tgz" -C "$OUT" $(cd "$OUT" && ls *.log *.png 2>/dev/null) 2>/dev/null
echo "=== done $(date +%T)"
