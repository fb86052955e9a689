#!/usr/bin/env bash
# Sets up a fresh machine, builds the release binary and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product majicflux
exec .build/release/majicflux "$@"
