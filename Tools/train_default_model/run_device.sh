#!/bin/bash
# usage: run.sh OUTDIR [train.py args...]  -- installs the carried wheels, trains, packs results into OUTDIR
set -o pipefail
OUTD=$1; shift
cd "$(dirname "$0")"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
cd code && python3 train.py --tok ../tok --out /tmp/model --work /tmp/work --samples /tmp/results "$@" 2>&1 | grep --line-buffered -v -i "warn\|Loading \|accelerate\|deprecat\|Writing model" | tee $OUTD/log.txt
rc=$?
tar -C /tmp -cf $OUTD/results.tar results 2>/dev/null
if [ -d /tmp/model ] && [ -n "$PACK_MODEL" ]; then tar -C /tmp -cf /tmp/model.tar model && split -b 15M /tmp/model.tar $OUTD/model.tar.; fi
exit $rc
