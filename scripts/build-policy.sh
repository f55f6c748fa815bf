#!/usr/bin/env bash
# `make policy`: check, lint and test rego/, then build policy-bundle/bundle.tar.gz (WASM).
# Fails on any formatting diff, strict-check error, lint finding, failing test, no test at all,
# or coverage under the threshold.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly ENTRYPOINT="zyx/gateway/decision"
readonly COVERAGE_MIN="${POLICY_COVERAGE_MIN:-90}"
readonly OUT="policy-bundle/bundle.tar.gz"
# The same policy as a plain Rego bundle, for an `opa run --server` sidecar (the benchmark's
# comparison and deployments that prefer it). It leaves zyx/state to the gateway, which pushes
# the kill-switch state through OPA's data API.
readonly OUT_REGO="policy-bundle/bundle-rego.tar.gz"

echo "policy: opa fmt"
opa fmt --list --fail rego

echo "policy: opa check --strict"
opa check --strict --bundle rego

echo "policy: regal lint"
regal lint rego

echo "policy: opa test"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
opa test rego --format json >"$work/results.json" || {
  opa test rego --verbose || true
  exit 1
}
node scripts/opa-test-report.ts results "$work/results.json"
opa test rego --format json --coverage >"$work/coverage.json" || true
node scripts/opa-test-report.ts coverage "$work/coverage.json" "$COVERAGE_MIN"

echo "policy: opa build -t wasm"
# Stage only what the gateway evaluates: no tests, no golden cases.
stage="$work/stage"
mkdir -p "$stage"
tar -C rego --exclude='*_test.rego' --exclude='./zyx/golden' -cf - . | tar -C "$stage" -xf -
revision=$(cd "$stage" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
mkdir -p "$stage/zyx/bundle"
printf '{"revision": "%s"}\n' "$revision" >"$stage/zyx/bundle/data.json"
mkdir -p policy-bundle
(cd "$stage" && opa build --bundle . --target wasm --entrypoint "$ENTRYPOINT" \
  --revision "$revision" --output "$OLDPWD/$OUT")
rego_stage="$work/rego-stage"
cp -r "$stage" "$rego_stage"
rm -rf "$rego_stage/zyx/state"
printf '{"revision": "%s", "roots": ["zyx/gateway", "zyx/config", "zyx/bundle"]}\n' "$revision" >"$rego_stage/.manifest"
(cd "$rego_stage" && opa build --bundle . --revision "$revision" --output "$OLDPWD/$OUT_REGO")
echo "policy: built $OUT and $OUT_REGO (revision $revision)"
