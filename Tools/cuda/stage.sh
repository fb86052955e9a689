#!/usr/bin/env bash
# Builds cuda-check (static Swift runtime, stripped, xz) from this checkout and stages it with the
# device scripts and the diffusers wheels into /work/main/.device for the device tool's carry.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
dest=${1:-/work/main/.device}
cd "$root"
swift build -c release --static-swift-stdlib --product cuda-check
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)/cuda-check
mkdir -p "$dest"
cp "$bin" /tmp/cuda-check && strip /tmp/cuda-check
xz -9 -T2 -c /tmp/cuda-check > "$dest/cuda-check.xz"
cp Tools/cuda/device_run.sh Tools/bench_flux_dit_torch.py "$dest/"
du -sh "$dest" "$dest"/*
