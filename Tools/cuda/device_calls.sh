#!/usr/bin/env bash
# The device session of 2026-12-01 (issues 7 and 9) as two back-to-back calls on one warm machine;
# the carry limit (64 MiB with the ~52 MiB tree) splits the 17 MB compressed CLI across them.
#   bench (carry .device .train): unpack the diffusers site (site.tar.xz), keep majicflux.xz.aa in
#         /tmp; flash kernels check; ops; DiT step ours vs PyTorch; training-step probe (issue 9);
#         write the FLUX.1-dev-size random folder for the end-to-end run.
#   e2e (carry .deviceB, within 30 s of bench): join the CLI's parts, `majicflux generate --device
#         cuda` at 1024x1024, 20 steps, then diffusers' FluxPipeline on the same folder.
# Staging: Tools/cuda/stage.sh (PRODUCTS="cuda-check majicflux"), then see Tools/cuda/README.md.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/site
case ${1:-} in
  bench)
    tar -xJf .device/site.tar.xz -C /tmp/site
    cp .device/majicflux.xz.aa /tmp/
    bash .device/device_run.sh flash
    if grep -q "flash: all passed" "$OUT/flash.log"; then bash .device/device_run.sh ops dit torch
    else bash .device/device_run.sh ops dit-mma torch; fi
    echo "=== probe $(date +%T)"
    BENCH=1 timeout 200 ./.train/run.sh "$OUT" --batches 256,1024 --compile-batches 1024 --vae-batches 64,256 --steps 60
    echo "=== make $(date +%T)"
    PYTHONPATH=/tmp/site timeout 240 python3 Tools/cuda/e2e_generate.py make /tmp/flux-random 2>&1 | grep -v -i warn | tee "$OUT/make.log"
    echo "=== done $(date +%T)"
    ;;
  e2e)
    cat /tmp/majicflux.xz.aa .deviceB/majicflux.xz.a[b-z] > /tmp/majicflux.xz
    MAJICFLUX_XZ=/tmp/majicflux.xz RUNS=1 bash Tools/cuda/device_e2e.sh
    ;;
  *) echo "usage: device_calls.sh bench|e2e"; exit 2 ;;
esac
