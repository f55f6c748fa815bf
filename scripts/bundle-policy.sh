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
printf '{"revision": "%s"}\n' "$revision" >"$stage/zyx/bundle/data.json"
(cd "$stage" && opa build --bundle . --target wasm --entrypoint "$entrypoint" \
  --revision "$revision" $sign --output "$out_dir/bundle.tar.gz")

rego_stage="$work/rego-stage"
cp -r "$stage" "$rego_stage"
rm -rf "$rego_stage/zyx/state"
printf '{"revision": "%s", "roots": ["zyx/gateway", "zyx/config", "zyx/bundle"]}\n' "$revision" >"$rego_stage/.manifest"
(cd "$rego_stage" && opa build --bundle . --revision "$revision" --output "$out_dir/bundle-rego.tar.gz")
echo "policy: built $out_dir/bundle.tar.gz (signed) and bundle-rego.tar.gz (revision $revision)"
