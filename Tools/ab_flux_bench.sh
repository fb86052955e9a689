#!/usr/bin/env bash
# A/B of two flux-bench builds (before and after a change) on the same machine in one run: the cases
# alternate old/new, each measurement a fresh process; one JSON line per measurement.
#   OLD=path/to/old/flux-bench NEW=.build/release/flux-bench DIR=/tmp/fluxbench-model \
#   ROUNDS=3 CASES="dit generate" Tools/ab_flux_bench.sh
# DIR comes from `Tools/bench_cpu_reference.py make`; build the old one in a worktree of the old commit.
set -u
: "${OLD:?OLD=path to the old flux-bench}" "${NEW:=.build/release/flux-bench}" "${DIR:=/tmp/fluxbench-model}"
export OPENBLAS_NUM_THREADS=${THREADS:-2}
for round in $(seq 1 "${ROUNDS:-3}"); do
  for c in ${CASES:-dit generate}; do
    for side in old new; do
      bin=$OLD; [ "$side" = new ] && bin=$NEW
      echo "{\"round\":$round,\"case\":\"$c\",\"side\":\"$side\",\"out\":$("$bin" --dir "$DIR" --case "$c" --threads "${THREADS:-2}" --repeats "${REPEATS:-2}" 2>/dev/null | tail -1)}"
    done
  done
done
