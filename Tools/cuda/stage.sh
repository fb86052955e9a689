#!/usr/bin/env bash
# Builds cuda-check (static Swift runtime, stripped, xz) from this checkout and stages it with the
# device scripts and the diffusers wheels into /work/main/.device for the device tool's carry.
# PRODUCTS="cuda-check majicflux" also stages the CLI (for device_e2e.sh).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
dest=${1:-/work/main/.device}
cd "$root"
mkdir -p "$dest"
for product in ${PRODUCTS:-cuda-check}; do
  swift build -c release --static-swift-stdlib --product "$product"
  bin=$(swift build -c release --static-swift-stdlib --show-bin-path)/$product
  cp "$bin" "/tmp/$product" && strip "/tmp/$product"
  xz -9 -T2 -c "/tmp/$product" > "$dest/$product.xz"
done
cp Tools/cuda/device_run.sh Tools/cuda/device_calls.sh Tools/torch_flux_bench.py Tools/bench_flux_dit_torch.py Tools/bench_lora_torch.py Tools/bench_conditioning_torch.py "$dest/"
# libjpeg-turbo is linked dynamically (Debian ships no PIC static archive); the GPU machine may lack it.
mkdir -p "$dest/lib" && cp -L "$(ldconfig -p | awk '/libjpeg.so.62 .*x86-64/ {print $NF; exit}')" "$dest/lib/"
du -sh "$dest" "$dest"/*
