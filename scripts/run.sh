#!/usr/bin/env bash
# `make run`: the embedded default on this machine. The gateway on 127.0.0.1:8080 and the agent
# worker on 127.0.0.1:8081, development keys, audit log and state under .state/ (git-ignored).
# Ctrl-C stops both; the gateway drains calls in flight and flushes the audit log.
set -euo pipefail
cd "$(dirname "$0")/.."

export ZYX_STATE_DIR="${ZYX_STATE_DIR:-$PWD/.state}"
export GATEWAY_PORT="${GATEWAY_PORT:-8080}"
export WORKER_PORT="${WORKER_PORT:-8081}"
export WORKER_URL="${WORKER_URL:-http://127.0.0.1:${WORKER_PORT}/}"
export GATEWAY_CALL_JWKS="${GATEWAY_CALL_JWKS:-$ZYX_STATE_DIR/keys/gateway.jwks.json}"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap stop INT TERM EXIT

wait_for() { # url, name
  for _ in $(seq 1 100); do
    if curl -fs -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  echo "run: $2 did not come up at $1" >&2
  return 1
}

# The gateway creates the development keys (idp, device-trust, gateway) on first start.
node gateway/src/main.ts &
pids+=($!)
wait_for "http://127.0.0.1:${GATEWAY_PORT}/healthz" gateway

node agent/src/main.ts &
pids+=($!)
wait_for "http://127.0.0.1:${WORKER_PORT}/healthz" worker

echo "run: gateway http://127.0.0.1:${GATEWAY_PORT}  worker http://127.0.0.1:${WORKER_PORT}  state ${ZYX_STATE_DIR}"
echo "run: mint tokens with 'npm run -s token -- access|posture ...' (see README); Ctrl-C to stop"
wait -n "${pids[@]}"
