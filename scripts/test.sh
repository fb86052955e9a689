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
# A test that hangs must not hold the run (and CI) until an outside time limit with no word of where
# (the project's CI once did): the tests run line-buffered under a watchdog that stops them when
# nothing was printed for MAJICFLUX_TEST_SILENCE seconds (default 600; no test is silent for more than
# about two minutes) and says which test hangs and what it had started.
log=$(mktemp)
trap 'rm -rf "$XDG_CACHE_HOME" "$log"' EXIT
# setsid: the run gets a process group of its own (the test runner and the servers it starts),
# which the watchdog can stop as a whole.
setsid stdbuf -oL swift test -c release --skip-build --disable-swift-testing "$@" > >(tee -a "$log") 2>&1 &
pid=$!
# Ctrl-C reaches this script, not the run's own group: pass it on.
trap 'kill -TERM -- -"$pid" 2>/dev/null; exit 130' INT TERM
limit=${MAJICFLUX_TEST_SILENCE:-600}
started=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  sleep 5
  silent=$(( $(date +%s) - $(stat -c %Y "$log") ))
  if [ "$silent" -gt "$limit" ]; then
    echo "test.sh: no output for $silent s; stopping the tests. The last test started: $(grep -a "' started at" "$log" | tail -n 1)" >&2
    echo "test.sh: its processes:" >&2
    ps -o pid,etimes,stat,args -s "$pid" >&2 || true
    kill -TERM -- -"$pid" 2>/dev/null || true
    sleep 10
    kill -KILL -- -"$pid" 2>/dev/null || true
    break
  fi
done
status=0
wait "$pid" || status=$?
echo "test.sh: the tests ran $(( $(date +%s) - started )) s, exit status $status"
[ "$status" -eq 0 ] || exit "$status"
# Skipped when the run is narrowed to some tests (arguments given).
if [ $# -eq 0 ]; then scripts/hello-example.sh; fi
