#!/usr/bin/env bash
# Sets up a fresh machine, builds the release binary and runs the main job.
# Without arguments: the web console on the default model (Models/default) at http://127.0.0.1:6006/.
# With arguments: `majicflux ARGS...` (e.g. scripts/run.sh generate --prompt "a red circle" --seed 1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product majicflux
if [ $# -eq 0 ]; then
  exec .build/release/majicflux serve
fi
exec .build/release/majicflux "$@"
