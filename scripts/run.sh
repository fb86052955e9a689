#!/usr/bin/env bash
# Sets up a fresh machine, builds the release binary and runs the main job.
# Without arguments: the web console on the default model (Models/default) at http://127.0.0.1:6006/.
# With arguments: `majicflux ARGS...` (e.g. scripts/run.sh generate --prompt "a red circle" --seed 1).
# It builds in the repository but runs where it was called from: relative paths in ARGS (an --image,
# an --output) and the console's outputs/ folder are the caller's, not the repository's.
set -euo pipefail
here=$(pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh --no-browser
swift build -c release --product majicflux
bin="$root/.build/release/majicflux"
cd "$here"
if [ $# -eq 0 ]; then
  exec "$bin" serve
fi
# Not exec: the process would inherit this script's start time, and `generate` would report the
# build as its start-up time.
"$bin" "$@"
