#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole test suite, then builds and runs the library example.
# Release mode: numeric tests are 10-100x slower in debug builds, and tests use public API only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --build-tests --disable-swift-testing
swift test -c release --skip-build --disable-swift-testing "$@"
# Skipped when the run is narrowed to some tests (arguments given).
if [ $# -eq 0 ]; then scripts/hello-example.sh; fi
