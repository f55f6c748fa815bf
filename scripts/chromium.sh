#!/usr/bin/env bash
# `make setup`: makes sure Debian's Chromium is on this machine, for the approver console's
# browser test (test/e2e/console-browser.test.ts drives it with playwright-core). Nothing is
# downloaded at test time, and Playwright's own browser downloads are never used.
#   - found ($CHROMIUM_PATH when set, else chromium on the PATH): exit 0;
#   - missing, as root: apt-get update && apt-get install -y chromium (Debian's package);
#   - missing, not root: exit 1 with the command to run.
set -euo pipefail

say() { echo "chromium: $*"; }

find_chromium() {
  if [[ -n "${CHROMIUM_PATH:-}" ]]; then
    [[ -x "$CHROMIUM_PATH" ]] || return 1
    echo "$CHROMIUM_PATH"
    return 0
  fi
  command -v chromium
}

if path=$(find_chromium); then
  say "$path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

if [[ -n "${CHROMIUM_PATH:-}" ]]; then
  say "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable" >&2
  exit 1
fi

install='apt-get update && apt-get install -y chromium'
if [[ "$(id -u)" -ne 0 ]]; then
  say "not found; install Debian's package as root, then rerun: sudo sh -c '$install'" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "not found and there is no apt-get here; install Chromium and set CHROMIUM_PATH" >&2
  exit 1
fi

say "not found; running: $install"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium

if path=$(find_chromium); then
  say "$path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
say "installed the chromium package but found no chromium executable" >&2
exit 1
