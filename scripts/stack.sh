#!/usr/bin/env bash
# `npm run stack -- up|down|status`: the production shape on one machine, each process on
# its own (a 3-node NATS cluster with R3 streams, N gateways, the history, fanout and push
# consumers) under a supervisor, over the Cassandra of scripts/services.sh with a keyspace
# of its own. This script gets the toolchain (Node, nats-server and the nats CLI, the npm
# dependencies, the web client) and, for `up`, Cassandra; scripts/stack.ts does the rest.
# State, secrets and logs: NATTER_STACK_DIR (default .data/stack). Ports: from
# NATTER_STACK_BASE_PORT (default 14200; README "Production mode on one machine").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
PATH="$(bash scripts/ensure-node.sh):$PATH"
NATS_BIN_DIR=$(bash scripts/ensure-nats.sh)
export PATH NATS_BIN_DIR
export NATTER_STACK_DIR="${NATTER_STACK_DIR:-$NATTER_DATA/stack}"
if [ "${1:-}" = up ]; then
  [ -d node_modules/@natter/gateway ] || npm install --no-audit --no-fund
  node packages/web/build.ts --if-missing # the web client each gateway serves at /
  # The dev Cassandra, started when down (a no-op when it runs); NATTER_STACK_CASSANDRA
  # (host:port) points the stack at another one instead.
  [ -n "${NATTER_STACK_CASSANDRA:-}" ] || bash scripts/services.sh up cassandra >/dev/null
fi
exec node scripts/stack.ts "$@"
