#!/usr/bin/env bash
# The console under a VRAM budget, before and after a change, on the same card in one call (carry
# .device with majicflux.xz = after, majicflux-old.xz = before, site.tar.xz): the FLUX.1-dev-size random
# folder, then `serve_check.py --runs ${RUNS:-fp8-budget6}` alternating old, new, old, new.
set -u
. Tools/cuda/device_setup.sh
[ -d /tmp/flux-random/transformer ] || timeout 240 python3 Tools/cuda/e2e_generate.py make /tmp/flux-random 2>&1 \
  | grep -v -i "warn\|Writing model shards\|kept in float32" | tee "$OUT/make.log"
for round in 1 2; do
  for side in majicflux-old majicflux; do
    echo "=== $side round $round $(date +%T)"
    timeout 240 python3 Tools/cuda/serve_check.py --bin /tmp/bin/$side --model /tmp/flux-random --out "$OUT/$side-$round" \
      --runs "${RUNS:-fp8-budget6}" 2>&1 | grep '^{' | python3 -c 'import sys, json
for l in sys.stdin:
    d = json.loads(l); print(json.dumps({k: d[k] for k in ("run", "ready_s", "first_job_s", "warm_job_s", "problems") if k in d}))'
    rm -rf "$OUT/$side-$round"/serve-*/
  done
done
tar -czf /tmp/logs.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/logs.tgz "$OUT/"
