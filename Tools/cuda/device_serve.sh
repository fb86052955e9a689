#!/usr/bin/env bash
# Issue 24 on the GPU machine, one call (carry .device: majicflux.xz, cuda-check.xz, site.tar.xz):
#   1. cuda-check threads: the backend driven from 8 threads vs the main thread, a forced OOM as an error;
#   2. a FLUX.1-dev-size random bf16 folder (/tmp/flux-random);
#   3. Tools/cuda/serve_check.py: `majicflux serve --device cuda` in bf16, fp8 and fp8 --vram-budget 6,
#      driven through the HTTP API (warm jobs timed submit-to-done, a cancel mid-run, pictures checked);
#   4. diffusers' warm FluxPipeline call (bf16, 1024x1024, 20 steps) on the same folder, same card.
# Everything lands in $OUT/logs.tgz.
set -u
. Tools/cuda/device_setup.sh
echo "=== threads $(date +%T)"; timeout 60 /tmp/bin/cuda-check threads 2>&1 | tee "$OUT/threads.log"
echo "=== make $(date +%T)"
[ -d /tmp/flux-random/transformer ] || timeout 240 python3 Tools/cuda/e2e_generate.py make /tmp/flux-random 2>&1 \
  | grep -v -i "warn\|Writing model shards\|kept in float32" | tee "$OUT/make.log"
echo "=== serve $(date +%T)"
timeout 420 python3 Tools/cuda/serve_check.py --bin /tmp/bin/majicflux --model /tmp/flux-random --out "$OUT" \
  --runs "${RUNS:-bf16,fp8,fp8-budget6}" 2>&1 | tee "$OUT/serve_check.log"
echo "=== diffusers $(date +%T)"
[ -n "${SKIP_TORCH:-}" ] || timeout 200 python3 Tools/cuda/e2e_generate.py torch /tmp/flux-random --size 1024 --steps 20 2>&1 \
  | grep -v -i warn | tee "$OUT/torch.log"
echo "=== done $(date +%T)"
rm -rf "$OUT"/serve-*/  # the pictures were checked on the machine; keep the logs
[ -n "${SKIP_TAR:-}" ] || { tar -czf /tmp/logs.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/logs.tgz "$OUT/"; }
