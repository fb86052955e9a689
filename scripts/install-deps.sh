#!/usr/bin/env bash
# Installs the system packages MajicFlux builds against (Debian/Ubuntu), only when missing.
set -euo pipefail
need=()
for pkg in libopenblas-dev libpng-dev zlib1g-dev libsqlite3-dev libwebp-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# libjpeg-turbo's headers (ImageFile's JPEG decoding): Debian calls them libjpeg62-turbo-dev, Ubuntu libjpeg-turbo8-dev.
if ! dpkg -s libjpeg62-turbo-dev >/dev/null 2>&1 && ! dpkg -s libjpeg-turbo8-dev >/dev/null 2>&1; then
  if grep -qi '^ID=ubuntu' /etc/os-release 2>/dev/null; then need+=(libjpeg-turbo8-dev); else need+=(libjpeg62-turbo-dev); fi
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
# Headless Chromium (and a CJK font for the page's Chinese labels) for the web console's browser test.
# Not needed to build or run majicflux (scripts/run.sh passes --no-browser): if it cannot be installed,
# that one test skips with a note.
if [ "${1:-}" != --no-browser ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  echo "installing: chromium fonts-wqy-microhei (for the browser test)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-wqy-microhei; } \
    || echo "warning: chromium could not be installed; the browser test will skip" >&2
fi
command -v swift >/dev/null || { echo "error: the Swift toolchain (6.0 or newer) is not on PATH" >&2; exit 1; }
