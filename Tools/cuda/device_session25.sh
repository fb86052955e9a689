#!/usr/bin/env bash
# Issue 21 (GPU speed II) on the GPU machine, session 2026-12-03 (6). Carry .device (cuda-check.xz,
# majicflux.xz, site.tar.xz for the PyTorch stages). Stages (STAGES, in order):
#   kernels   how long NVRTC takes to compile our kernel module (paid at every process start today)
#   dit       cuda-check dit / dit-fp8 at 1024 and 512: step (GPU time, host queueing time, 10 steps
#             back to back), profile by kernel, flash attention alone
#   torch     PyTorch eager and torch.compile(fullgraph, fused QKV) steps at 1024 and 512 in the same call
#   checks    cuda-check upload (several reader threads into pinned slots: bytes identical, GB/s), kernel-cache
#             (the NVRTC image cached on disk, corrupt files), threads
#   ops       cuda-check ops (every op vs the CPU) and pipeline (the tiny model on the GPU vs the CPU)
#   tiny      on the tiny FLUX fixture: generate fp8 (times line), serve fp8 through serve_check (previews
#             read back without waiting, cancel mid-run, A1111 batch)
#   make      the FLUX.1-dev-size random folder in /tmp/flux-random and its model hash (hashlib, seed_model_hash.py)
#   cold      `generate --precision fp8` 1024x1024 20 steps twice on it (the first fills the kernel cache):
#             wall time, the `times:` line
#   t5        cuda-check t5 on it: the T5-XXL encode of 512 tokens, time and profile
#   serve     (the next call, same machine) serve_check fp8 and bf16 on the full-size folder, then diffusers'
#             warm FluxPipeline call on it
# Everything lands in $OUT/logs.tgz.
set -u
. Tools/cuda/device_setup.sh
for s in ${STAGES:-kernels dit torch}; do
  echo "=== $s $(date +%T)"
  case $s in
    kernels) /usr/bin/time -f "cuda-check kernels: %e s wall, %U s user" timeout 120 /tmp/bin/cuda-check kernels 2>&1 | tail -3 | tee "$OUT/kernels.log" ;;
    dit) for k in dit dit-fp8; do timeout 200 /tmp/bin/cuda-check $k ${SIZES:-1024 512} 2>&1 | tee "$OUT/$k.log"; done ;;
    checks) for k in upload kernel-cache threads; do timeout 150 /tmp/bin/cuda-check $k 2>&1 | tee "$OUT/$k.log" | tail -25; done ;;
    ops) timeout 150 /tmp/bin/cuda-check ops 2>&1 | tee "$OUT/ops.log" | grep -E "FAIL|attention d64|passed|of " | tail -8
      timeout 120 /tmp/bin/cuda-check pipeline Tests/ModelsTests/Fixtures/tiny-flux 2>&1 | tee "$OUT/pipeline.log" | tail -6 ;;
    tiny)
      M=Tests/ModelsTests/Fixtures/tiny-flux
      timeout 60 /tmp/bin/majicflux generate --model $M --device cuda --precision fp8 --prompt "a red circle" --seed 7 --steps 20 \
        --width 512 --height 512 --output "$OUT/tiny.png" > "$OUT/tiny.log" 2>&1; echo "generate tiny: exit $? $(grep -E 'times:' "$OUT/tiny.log")"
      timeout 150 python3 Tools/cuda/serve_check.py --bin /tmp/bin/majicflux --model $M --out "$OUT" --runs fp8 --size 512 --steps 20 2>&1 \
        | tee "$OUT/serve_tiny.log" | tail -2 ;;
    make)
      [ -d /tmp/flux-random/transformer ] || timeout 300 python3 Tools/cuda/e2e_generate.py make /tmp/flux-random 2>&1 \
        | grep -v -i "warn\|Writing model shards\|kept in float32" | tee "$OUT/make.log"
      python3 Tools/cuda/seed_model_hash.py /tmp/flux-random 2>&1 | tee -a "$OUT/make.log" ;;
    cold)
      for run in 1 2; do
        /usr/bin/time -f "wall %e s, user %U s, sys %S s, max RSS %M KB" timeout 120 /tmp/bin/majicflux generate --model /tmp/flux-random \
          --device cuda --precision fp8 --width 1024 --height 1024 --steps 20 --seed 1 --prompt "a red circle on the left on a white background" \
          --output "$OUT/cold$run.png" > "$OUT/cold$run.log" 2>&1
        echo "cold generate $run: exit $? $(grep -E 'times:|wall ' "$OUT/cold$run.log" | tr '\n' ' ')"
      done ;;
    t5) timeout 120 /tmp/bin/cuda-check t5 /tmp/flux-random 2>&1 | tee "$OUT/t5.log" | head -30 ;;
    serve)
      timeout 400 python3 Tools/cuda/serve_check.py --bin /tmp/bin/majicflux --model /tmp/flux-random --out "$OUT" \
        --runs "${RUNS:-fp8,bf16}" 2>&1 | tee "$OUT/serve_check.log" | tail -4
      grep -h "times:" "$OUT"/serve-*.log 2>/dev/null | tail -8
      timeout 200 python3 Tools/cuda/e2e_generate.py torch /tmp/flux-random --size 1024 --steps 20 2>&1 | grep -v -i warn | tee "$OUT/diffusers.log" ;;
    torch) timeout 400 python3 .device/bench_flux_dit_torch.py --compile ${SIZES:-1024 512} 2>&1 | grep -v Warning | tee "$OUT/torch.log" ;;
  esac
done
rm -rf "$OUT"/serve-*/
tar -czf /tmp/logs.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/logs.tgz "$OUT/"
echo "=== done $(date +%T)"
