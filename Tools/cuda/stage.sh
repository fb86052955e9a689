#!/usr/bin/env bash
# Builds cuda-check (static Swift runtime, stripped, xz) from this checkout and stages it with the
# device scripts and the diffusers wheels into /work/main/.device for the device tool's carry.
# PRODUCTS="cuda-check majicflux" also stages the CLI (for device_e2e.sh).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
dest=${1:-/work/main/.device}
cd "$root"
mkdir -p "$dest"
# A scratch path of its own: the static flags would otherwise rebuild .build/release (the tests' build).
scratch=(--scratch-path .build/static)
for product in ${PRODUCTS:-cuda-check}; do
  swift build "${scratch[@]}" -c release --static-swift-stdlib --product "$product"
  bin=$(swift build "${scratch[@]}" -c release --static-swift-stdlib --show-bin-path)/$product
  cp "$bin" "/tmp/$product" && strip "/tmp/$product"
  xz -9 -T2 -c "/tmp/$product" > "$dest/$product.xz"
done
cp Tools/cuda/device_run.sh Tools/cuda/device_calls.sh Tools/torch_flux_bench.py Tools/bench_flux_dit_torch.py Tools/bench_lora_torch.py Tools/bench_conditioning_torch.py "$dest/"
# libjpeg-turbo and libwebp are linked dynamically (Debian ships no PIC static archives); the GPU
# machine lacks them (a CLI without libwebp.so.7 does not start: session 12's first call).
mkdir -p "$dest/lib"
for lib in libjpeg.so.62 libwebp.so.7; do cp -L "$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')" "$dest/lib/"; done
du -sh "$dest" "$dest"/*
