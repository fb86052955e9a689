#!/usr/bin/env bash
# Issue 7's end-to-end run on the GPU machine (carry .device, staged by Tools/cuda/stage.sh majicflux):
# a FLUX.1-dev-size random bf16 folder, then `majicflux generate --device cuda` (1024x1024, 20 steps)
# and diffusers' FluxPipeline on the same folder; logs and peak device memory under $OUT.
set -u
DEVICE_BINARIES="majicflux" . Tools/cuda/device_setup.sh
[ -d /tmp/site/diffusers ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .device/whl/*.whl >/dev/null 2>&1
[ -d /tmp/flux-random/transformer ] || python3 Tools/cuda/e2e_generate.py make /tmp/flux-random 2>&1 | grep -v -i warn | tee "$OUT/make.log"
for run in ${RUNS:-1 2}; do  # run 1 reads the weights from disk, run 2 from the page cache
  poll_peak "$OUT/ours_peak_mib_$run.txt" & p=$!
  /usr/bin/time -v /tmp/bin/majicflux generate --model /tmp/flux-random --device cuda --width 1024 --height 1024 \
      --steps 20 --seed 1 --prompt "a red circle on the left on a white background" --output "$OUT/ours.png" \
      > "$OUT/ours_$run.log" 2>&1
  kill $p; echo "ours run $run: $(grep -E 'Elapsed|Maximum resident' "$OUT/ours_$run.log" | tr -s ' ' | tr '\n' ' ') peak device MiB $(cat "$OUT/ours_peak_mib_$run.txt")"
done
[ -n "${SKIP_TORCH:-}" ] && exit 0
poll_peak "$OUT/torch_peak_mib.txt" & p=$!
timeout 400 python3 Tools/cuda/e2e_generate.py torch /tmp/flux-random --size 1024 --steps 20 2>&1 | grep -v -i warn | tee "$OUT/torch.log"
kill $p; echo "diffusers peak device MiB (nvidia-smi) $(cat "$OUT/torch_peak_mib.txt")"
