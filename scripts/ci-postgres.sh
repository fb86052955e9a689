#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the tests that need one (the PostgreSQL job store,
# `majicflux worker`). Debian's postgresql package is installed when missing; the cluster lives in a
# temporary folder (data, log, unix socket) and listens on a free 127.0.0.1 port.
#
#   source scripts/ci-postgres.sh && ci_postgres_start   # exports MAJICFLUX_TEST_POSTGRES_URL
#   ci_postgres_stop                                     # stops it and removes the folder
#
# Run directly (`scripts/ci-postgres.sh`), it starts one, prints the `export` line and how to stop it,
# and leaves it running (`scripts/ci-postgres.sh stop DIR`).
# fsync is off: the cluster is thrown away after the run; CI_POSTGRES_FSYNC=on keeps it (benchmarks).

ci_postgres_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; fi
}

# Runs a PostgreSQL program as the `postgres` user when we are root (the server refuses to run as root).
ci_postgres_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ci_postgres_free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
  else
    echo $((20000 + RANDOM % 20000))
  fi
}

ci_postgres_start() {
  local bindir
  bindir=$(ci_postgres_bindir)
  if [ -z "$bindir" ]; then
    echo "ci-postgres: installing Debian's postgresql package" >&2
    if [ "$(id -u)" -ne 0 ]; then echo "ci-postgres: PostgreSQL is not installed and we are not root" >&2; return 1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >/dev/null 2>&1 \
      || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >/dev/null; } \
      || { echo "ci-postgres: apt-get install postgresql failed" >&2; return 1; }
    bindir=$(ci_postgres_bindir)
    [ -n "$bindir" ] || { echo "ci-postgres: no initdb under /usr/lib/postgresql after installing" >&2; return 1; }
  fi
  CI_POSTGRES_DIR=$(mktemp -d /tmp/majicflux-pg.XXXXXX)
  local password port
  password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$password" > "$CI_POSTGRES_DIR/pwfile"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$CI_POSTGRES_DIR"; fi
  # Password (SCRAM) over TCP, as a real deployment; trust on the socket for this script's own psql.
  ci_postgres_as "$bindir/initdb" -D "$CI_POSTGRES_DIR/data" -U postgres --pwfile="$CI_POSTGRES_DIR/pwfile" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C >"$CI_POSTGRES_DIR/initdb.log" 2>&1 \
    || { cat "$CI_POSTGRES_DIR/initdb.log" >&2; return 1; }
  local fsync=${CI_POSTGRES_FSYNC:-off}
  for _ in 1 2 3 4 5; do
    port=$(ci_postgres_free_port)
    if ci_postgres_as "$bindir/pg_ctl" -D "$CI_POSTGRES_DIR/data" -l "$CI_POSTGRES_DIR/server.log" -w -t 30 start \
         -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$CI_POSTGRES_DIR -c fsync=$fsync -c max_connections=200" \
         >/dev/null 2>&1; then
      break
    fi
    port=""
  done
  if [ -z "$port" ]; then echo "ci-postgres: the server did not start:" >&2; tail -n 20 "$CI_POSTGRES_DIR/server.log" >&2; return 1; fi
  ci_postgres_as "$bindir/psql" -h "$CI_POSTGRES_DIR" -p "$port" -U postgres -d postgres -q \
    -c "CREATE DATABASE majicflux_test" >/dev/null || { echo "ci-postgres: CREATE DATABASE failed" >&2; return 1; }
  CI_POSTGRES_BINDIR=$bindir
  MAJICFLUX_TEST_POSTGRES_URL="postgres://postgres:$password@127.0.0.1:$port/majicflux_test"
  export CI_POSTGRES_DIR CI_POSTGRES_BINDIR MAJICFLUX_TEST_POSTGRES_URL
  echo "ci-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (folder $CI_POSTGRES_DIR)" >&2
}

ci_postgres_stop() {
  local dir=${1:-${CI_POSTGRES_DIR:-}}
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  local bindir=${CI_POSTGRES_BINDIR:-$(ci_postgres_bindir)}
  ci_postgres_as "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  unset MAJICFLUX_TEST_POSTGRES_URL CI_POSTGRES_DIR
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ "${1:-}" = "stop" ]; then ci_postgres_stop "${2:?usage: scripts/ci-postgres.sh stop DIR}"; exit 0; fi
  ci_postgres_start
  echo "export MAJICFLUX_TEST_POSTGRES_URL='$MAJICFLUX_TEST_POSTGRES_URL'"
  echo "# stop it with: scripts/ci-postgres.sh stop $CI_POSTGRES_DIR"
fi
