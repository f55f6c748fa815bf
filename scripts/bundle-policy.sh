#!/bin/sh
# Builds the policy bundles from rego/ (no tests, no golden cases), stamped with a revision that
# is a digest of their sources. POSIX sh on purpose: `make policy` runs it here, and
# docker-compose runs the very same script in the official OPA image (its -debug variant has a
# busybox shell).
#   bundle-policy.sh <rego dir> <output dir>
# Writes <output dir>/bundle.tar.gz (WASM, what the gateway loads) and bundle-rego.tar.gz (plain
# Rego for an `opa run --server` sidecar, leaving zyx/state to the gateway).
# The WASM bundle is signed the OPA way (.signatures.json: an ES256 JWS over every file's SHA-256) with the
# PEM private key at $POLICY_SIGNING_KEY, default the checkout's .state/keys/policy-bundle.private.pem
# (generated there when absent and Node.js is at hand; in the OPA image, mount it as a secret).
# No key, no bundle: the gateway refuses unsigned bundles anyway. (The sidecar's Rego bundle stays
# unsigned: `opa run` would need --verification-key, which its launchers do not pass yet.)
# Anti-rollback: the WASM bundle's data.json carries zyx.bundle.serial, a build serial covered by
# the signature, and the gateway refuses a bundle whose serial is below the highest it accepted
# (gateway/src/policy/rollback.ts). The serial is $POLICY_BUNDLE_SERIAL when set (a positive
# integer, e.g. a CI build number that only grows; use one scheme per deployment), else the build
# time in ms since the epoch, raised past the last serial this checkout stamped
# ($POLICY_BUNDLE_SERIAL_FILE, default .state/policy-bundle.serial, kept when writable), so
# builds one after the other always get increasing serials. Rolling policy back = rebuilding the
# old Rego: it gets a new, higher serial.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
signing_key="${POLICY_SIGNING_KEY:-$root/.state/keys/policy-bundle.private.pem}"
if [ ! -f "$signing_key" ] && [ -z "${POLICY_SIGNING_KEY:-}" ] && command -v node >/dev/null 2>&1 && [ -f "$root/common/keys.ts" ]; then
  (cd "$root" && node --input-type=module -e 'await (await import("./common/keys.ts")).ensurePolicySigningKey();')
  echo "policy: generated the development signing key $signing_key"
fi
if [ ! -r "$signing_key" ]; then
  echo "policy: no signing key at $signing_key (set POLICY_SIGNING_KEY to a PEM private key)" >&2
  exit 1
fi
sign="--signing-key $signing_key --signing-alg ES256"
rego_dir=$(cd "${1:?rego dir}" && pwd)
mkdir -p "${2:?output dir}"
out_dir=$(cd "$2" && pwd)
entrypoint="zyx/gateway/decision"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/stage"
mkdir -p "$stage"
(cd "$rego_dir" && tar --exclude='*_test.rego' --exclude='./zyx/golden' -cf - .) | (cd "$stage" && tar -xf -)
revision=$(cd "$stage" && find . -type f | LC_ALL=C sort | while read -r f; do sha256sum "$f"; done | sha256sum | cut -c1-16)
mkdir -p "$stage/zyx/bundle"
serial_file="${POLICY_BUNDLE_SERIAL_FILE:-$root/.state/policy-bundle.serial}"
last=$(cat "$serial_file" 2>/dev/null || echo 0)
case "$last" in '' | *[!0-9]*) last=0 ;; esac
if [ -n "${POLICY_BUNDLE_SERIAL:-}" ]; then
  serial="$POLICY_BUNDLE_SERIAL"
else
  if command -v node >/dev/null 2>&1; then
    serial=$(node -e 'process.stdout.write(String(Date.now()))')
  else
    serial="$(date -u +%s)000"
  fi
  if [ "$serial" -le "$last" ]; then serial=$((last + 1)); fi
fi
case "$serial" in
  '' | 0* | *[!0-9]*)
    echo "policy: POLICY_BUNDLE_SERIAL must be a positive integer without leading zeros, not '$serial'" >&2
    exit 1
    ;;
esac
if [ "${#serial}" -gt 15 ]; then
  echo "policy: serial $serial is too large (at most 15 digits, a safe JSON integer)" >&2
  exit 1
fi
[ "$serial" -le "$last" ] || (mkdir -p "$(dirname "$serial_file")" && printf '%s\n' "$serial" >"$serial_file.$$" && mv "$serial_file.$$" "$serial_file") 2>/dev/null ||
  echo "policy: cannot record serial $serial in $serial_file (later builds rely on the clock alone)" >&2
printf '{"revision": "%s", "serial": %s}\n' "$revision" "$serial" >"$stage/zyx/bundle/data.json"
(cd "$stage" && opa build --bundle . --target wasm --entrypoint "$entrypoint" \
  --revision "$revision" $sign --output "$out_dir/bundle.tar.gz")

rego_stage="$work/rego-stage"
cp -r "$stage" "$rego_stage"
rm -rf "$rego_stage/zyx/state"
printf '{"revision": "%s", "roots": ["zyx/gateway", "zyx/config", "zyx/bundle"]}\n' "$revision" >"$rego_stage/.manifest"
(cd "$rego_stage" && opa build --bundle . --revision "$revision" --output "$out_dir/bundle-rego.tar.gz")
echo "policy: built $out_dir/bundle.tar.gz (signed) and bundle-rego.tar.gz (revision $revision, serial $serial)"
