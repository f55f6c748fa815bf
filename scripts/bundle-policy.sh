#!/bin/sh
# Builds the policy bundles from rego/ (no tests, no golden cases), stamped with a revision that
# is a digest of their sources. POSIX sh on purpose: `make policy` runs it here, and
# docker-compose runs the very same script in the official OPA image (its -debug variant has a
# busybox shell).
#   bundle-policy.sh <rego dir> <output dir>
# Writes <output dir>/bundle.tar.gz (WASM, what the gateway loads) and bundle-rego.tar.gz (plain
# Rego for an `opa run --server` sidecar, leaving zyx/state to the gateway).
set -eu
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
  --revision "$revision" --output "$out_dir/bundle.tar.gz")

rego_stage="$work/rego-stage"
cp -r "$stage" "$rego_stage"
rm -rf "$rego_stage/zyx/state"
printf '{"revision": "%s", "roots": ["zyx/gateway", "zyx/config", "zyx/bundle"]}\n' "$revision" >"$rego_stage/.manifest"
(cd "$rego_stage" && opa build --bundle . --revision "$revision" --output "$out_dir/bundle-rego.tar.gz")
echo "policy: built $out_dir/bundle.tar.gz and bundle-rego.tar.gz (revision $revision)"
