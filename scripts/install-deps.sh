#!/usr/bin/env bash
# Installs the system packages MajicFlux builds against (Debian/Ubuntu), only when missing.
set -euo pipefail
need=()
for pkg in libopenblas-dev libpng-dev zlib1g-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
command -v swift >/dev/null || { echo "error: the Swift toolchain (6.0 or newer) is not on PATH" >&2; exit 1; }
