#!/usr/bin/env bash
# Issue 8's low-VRAM runs on the GPU machine (carry .device, staged by Tools/cuda/stage.sh majicflux):
# on the full FLUX.1-dev-size random folder (device_calls.sh make, in the same call), 
# `majicflux generate --device cuda` at 1024x1024, 20 steps: bf16 resident, fp8 resident, fp8 within
# --vram-budget ${BUDGET:-6}, and bf16 within the same budget. Peak device memory two ways: majicflux's
# own driver counter (cuMemGetInfo after every new block) and nvidia-smi polled every 0.2 s.
set -u
DEVICE_BINARIES="majicflux" . Tools/cuda/device_setup.sh
[ -d /tmp/flux-random/transformer ] || { echo "no /tmp/flux-random: run device_calls.sh make first"; exit 1; }
# fp8 on the GPU is on by default now (MAJICFLUX_CUDA_FP8=0 turns it off)
for run in ${RUNS:-bf16 fp8 fp8-budget bf16-budget fp8-budget4}; do
  case $run in
    bf16) extra="--precision bf16" ;;
    fp8) extra="--precision fp8" ;;
    fp8-budget) extra="--precision fp8 --vram-budget ${BUDGET:-6}" ;;
    fp8-budget4) extra="--precision fp8 --vram-budget 4" ;;
    bf16-budget) extra="--precision bf16 --vram-budget ${BUDGET:-6}" ;;
  esac
  poll_peak "$OUT/peak_mib_$run.txt" & p=$!
  /usr/bin/time -v timeout 300 /tmp/bin/majicflux generate --model /tmp/flux-random --device cuda --width 1024 --height 1024 \
      --steps 20 --seed 1 --prompt "a red circle on the left on a white background" --output "$OUT/$run.png" $extra \
      > "$OUT/$run.log" 2>&1
  kill $p
  echo "== $run ($extra): $(grep -E 'T5:|DiT:|GPU memory|peak per stage|Elapsed|Maximum resident|rror' "$OUT/$run.log" | tr -s ' ' | tr '\n' ' ') steps: $(grep -o "20/20 [0-9.]*s/it" "$OUT/$run.log" | tail -1) nvidia-smi peak MiB $(cat "$OUT/peak_mib_$run.txt" 2>/dev/null)"
done
