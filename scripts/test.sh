#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole test suite, then builds and runs the library example.
# Release mode: numeric tests are 10-100x slower in debug builds, and tests use public API only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# -enable-testing: some AppTests (the PostgreSQL store's) reach the app's internal types with
# @testable import, which a release build allows only when its modules are compiled for testing.
swift build -c release --build-tests --disable-swift-testing -Xswiftc -enable-testing
# The test process has no `main` to call OpenBLASSetup.prepareProcess() from, so the launcher sets what
# it would: OpenBLAS's kernels for this CPU (its own detection falls back to generic SSE3 kernels on
# CPUs newer than it, 3-4x slower GEMMs; Sources/Tensor/CPU/OpenBLASSetup.swift) and a short spin of
# its idle threads. A value the caller set wins.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo)
  has() { [[ " $flags " == *" $1 "* ]]; }
  if has avx512f && has avx512bw && has avx512vl; then
    if has avx512_bf16; then export OPENBLAS_CORETYPE=Cooperlake; else export OPENBLAS_CORETYPE=SkylakeX; fi
  elif has avx2 && has fma; then export OPENBLAS_CORETYPE=Haswell
  fi
fi
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-4}
# Tests make and hash many temporary model files: their Model-hash cache goes to a temporary folder,
# not the user's ~/.cache/majicflux (nor a MAJICFLUX_CACHE_DIR, which would come first).
XDG_CACHE_HOME=$(mktemp -d)
export XDG_CACHE_HOME
unset MAJICFLUX_CACHE_DIR
trap 'rm -rf "$XDG_CACHE_HOME"' EXIT
swift test -c release --skip-build --disable-swift-testing "$@"
# Skipped when the run is narrowed to some tests (arguments given).
if [ $# -eq 0 ]; then scripts/hello-example.sh; fi
