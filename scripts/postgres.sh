#!/usr/bin/env bash
# `make setup`: makes sure PostgreSQL's server binaries (initdb, postgres) are on this machine,
# for the tests that start a private cluster (test/support/postgres.ts). Nothing is started here
# and the machine's own cluster is never used.
#   - found (in $POSTGRES_BIN_DIR when set, else /usr/lib/postgresql/<version>/bin): exit 0;
#   - missing, as root: apt-get update && apt-get install -y postgresql (Debian's packages);
#   - missing, not root: exit 1 with the command to run.
set -euo pipefail

say() { echo "postgres: $*"; }

# Prints the folder holding initdb and postgres; fails when there is none.
find_bin() {
  local dir
  if [[ -n "${POSTGRES_BIN_DIR:-}" ]]; then
    [[ -x "$POSTGRES_BIN_DIR/initdb" && -x "$POSTGRES_BIN_DIR/postgres" ]] || return 1
    echo "$POSTGRES_BIN_DIR"
    return 0
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
    if [[ -x "$dir/initdb" && -x "$dir/postgres" ]]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

report() { # bin dir
  say "server binaries in $1 ($("$1/postgres" --version))"
  if [[ "$(id -u)" -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
    say "running as root but there is no 'postgres' system user to run the test clusters as" >&2
    say "reinstall the package: apt-get install -y --reinstall postgresql-common" >&2
    exit 1
  fi
}

if bin=$(find_bin); then
  report "$bin"
  exit 0
fi

if [[ -n "${POSTGRES_BIN_DIR:-}" ]]; then
  say "POSTGRES_BIN_DIR=$POSTGRES_BIN_DIR has no initdb and postgres executables" >&2
  exit 1
fi

install='apt-get update && apt-get install -y postgresql'
if [[ "$(id -u)" -ne 0 ]]; then
  say "server binaries not found (no /usr/lib/postgresql/<version>/bin/initdb)" >&2
  say "install Debian's packages as root, then rerun: sudo sh -c '$install'" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  say "server binaries not found and there is no apt-get here; install PostgreSQL's server" >&2
  say "binaries and set POSTGRES_BIN_DIR to the folder holding initdb and postgres" >&2
  exit 1
fi

say "server binaries not found; running: $install"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y postgresql

if bin=$(find_bin); then
  report "$bin"
  exit 0
fi
say "installed the postgresql package but still found no server binaries under /usr/lib/postgresql" >&2
exit 1
