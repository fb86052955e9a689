#!/bin/bash
# usage: run.sh OUTDIR [train.py args...]  -- installs the carried diffusers wheel (whl/ next to this
# script, unless /tmp/site already has diffusers from an earlier call on the same machine), trains with
# the tokenizers of ../../Models/default unless TOK is set, packs results into OUTDIR.
# BENCH=1 runs bench_step.py (the step-speed probe) instead of train.py.
set -o pipefail
OUTD=$1; shift
cd "$(dirname "$0")"
if [ ! -d /tmp/site/diffusers ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
TOK=${TOK:-$(pwd)/../Models/default}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [ -n "$BENCH" ]; then
  cd code && python3 bench_step.py --tok "$TOK" "$@" 2>&1 | grep --line-buffered -v -i "warn\|Loading \|accelerate\|deprecat" | tee $OUTD/bench.txt
  exit $?
fi
cd code && python3 train.py --tok "$TOK" --out /tmp/model --work /tmp/work --samples /tmp/results "$@" 2>&1 | grep --line-buffered -v -i "warn\|Loading \|accelerate\|deprecat\|Writing model" | tee $OUTD/log.txt
rc=$?
tar -C /tmp -cf $OUTD/results.tar results 2>/dev/null
if [ -d /tmp/model ] && [ -n "$PACK_MODEL" ]; then tar -C /tmp -cf /tmp/model.tar model && split -b 15M /tmp/model.tar $OUTD/model.tar.; fi
exit $rc
