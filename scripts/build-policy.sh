#!/usr/bin/env bash
# `make policy`: check, lint and test rego/, then build policy-bundle/bundle.tar.gz (WASM).
# Fails on any formatting diff, strict-check error, lint finding, failing test, no test at all,
# or coverage under the threshold.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly COVERAGE_MIN="${POLICY_COVERAGE_MIN:-90}"

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
scripts/bundle-policy.sh rego policy-bundle
