#!/usr/bin/env bash
# Makes a Python virtual environment OUTSIDE the repository (under $TMPDIR, or /tmp) holding the
# third-party A1111 client the A1111 API is checked with (Tools/a1111_client_check.py), and prints
# its python's path on the last line. Reuses an existing one. Fails (status 1) when Python or the
# package index cannot be reached; .ci/run then runs the suite without that check (it says it skips).
set -euo pipefail
WEBUIAPI_VERSION=0.9.17   # the version the check passes with
dir="${TMPDIR:-/tmp}/majicflux-python-client-$WEBUIAPI_VERSION"
py="$dir/bin/python"
if ! "$py" -c "import webuiapi, PIL" >/dev/null 2>&1; then
  python3 -m venv "$dir" >&2 || { apt-get install -y python3-venv >&2 && python3 -m venv "$dir" >&2; }
  "$dir/bin/pip" install --quiet --disable-pip-version-check "webuiapi==$WEBUIAPI_VERSION" >&2
fi
"$py" -c "import webuiapi, PIL" >&2
echo "$py"
