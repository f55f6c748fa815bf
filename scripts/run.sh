#!/usr/bin/env bash
# `make run`: the embedded default on this machine, every process on loopback:
#   the development identity provider (token exchange)  127.0.0.1:8090
#   the gateway                                          127.0.0.1:8080
#   the agent worker (fixture connectors)                127.0.0.1:8081
#   the change-review agent runtime                      127.0.0.1:8070
# Development keys, client secrets, audit log and state under .state/ (git-ignored). Ctrl-C stops
# them all; the gateway drains calls in flight and flushes the audit log.
set -euo pipefail
cd "$(dirname "$0")/.."

export ZYX_STATE_DIR="${ZYX_STATE_DIR:-$PWD/.state}"
export IDP_PORT="${IDP_PORT:-8090}"
export GATEWAY_PORT="${GATEWAY_PORT:-8080}"
export AGENT_PORT="${AGENT_PORT:-8070}"
export IDP_URL="${IDP_URL:-http://127.0.0.1:${IDP_PORT}}"
export GATEWAY_URL="${GATEWAY_URL:-http://127.0.0.1:${GATEWAY_PORT}}"
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

# The identity provider creates the development keys and the agents' client secrets first.
node idp/src/main.ts &
pids+=($!)
wait_for "http://127.0.0.1:${IDP_PORT}/.well-known/jwks.json" "identity provider"

node gateway/src/main.ts &
pids+=($!)
wait_for "http://127.0.0.1:${GATEWAY_PORT}/healthz" gateway

node agent/src/main.ts &
pids+=($!)
wait_for "http://127.0.0.1:${WORKER_PORT}/healthz" worker

node examples/change-review/src/main.ts &
pids+=($!)
wait_for "http://127.0.0.1:${AGENT_PORT}/healthz" "agent runtime"

echo "run: idp ${IDP_URL}  gateway ${GATEWAY_URL}  worker http://127.0.0.1:${WORKER_PORT}  agent runtime http://127.0.0.1:${AGENT_PORT}  state ${ZYX_STATE_DIR}"
echo "run: mint tokens with 'npm run -s token -- access|posture ...' (see README); Ctrl-C to stop"
wait -n "${pids[@]}"
