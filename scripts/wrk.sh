#!/usr/bin/env bash
# `make bench`: makes sure the load generator `wrk` (C, LuaJIT scripts) is on this machine, so
# the bench's load does not compete in Node with what it measures. Prints the path to use.
#   - found ($WRK when set, else on PATH): exit 0;
#   - missing, as root with apt-get: apt-get update && apt-get install -y wrk (Debian's package);
#   - missing otherwise: exit 1 with the command to run.
set -euo pipefail

say() { echo "wrk: $*" >&2; }

if [[ -n "${WRK:-}" ]]; then
  [[ -x "$WRK" ]] || { say "WRK=$WRK is not an executable"; exit 1; }
  echo "$WRK"
  exit 0
fi
if command -v wrk >/dev/null 2>&1; then
  command -v wrk
  exit 0
fi

install='apt-get update && apt-get install -y wrk'
if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  say "not found; install Debian's package as root, then rerun: sudo sh -c '$install'"
  say "(or set WRK to the path of a wrk 4.x executable)"
  exit 1
fi
say "not found; running: $install"
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y wrk >&2
command -v wrk
