#!/usr/bin/env bash
# `npm start`: a local nats-server (scripts/services.sh: identities, TLS, the natter-tail
# context), then the gateway and consumers in one process on the embedded SQLite store
# (.data/natter.db). Any NATTER_* variable
# overrides the defaults (see the README's configuration table).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
PATH="$(bash scripts/ensure-node.sh):$PATH"
export PATH
[ -d node_modules/@natter/gateway ] || npm install --no-audit --no-fund
node packages/web/build.ts --if-missing # the web client at / (npm run build:web rebuilds it)
if [ -z "${NATTER_NATS_URL:-}" ]; then
  bash scripts/services.sh up nats
  export NATTER_NATS_URL="tls://127.0.0.1:${NATS_PORT:-4222}"
  # The local node's identity for the all-in-one process (`natter`: gateway and consumers)
  # and the CA of its TLS certificate, both made by services.sh under .data/nats.
  export NATTER_NATS_NKEY_SEED="${NATTER_NATS_NKEY_SEED:-$NATTER_DATA/nats/secrets/natter.nk}"
  export NATTER_NATS_TLS_CA="${NATTER_NATS_TLS_CA:-$NATTER_DATA/nats/tls/ca.pem}"
fi
# A per-checkout secret, made once, so tokens survive restarts without any setup.
if [ -z "${NATTER_TOKEN_SECRET:-}" ]; then
  secret_file="$NATTER_DATA/token-secret"
  [ -s "$secret_file" ] || { node -e 'process.stdout.write(require("node:crypto").randomBytes(32).toString("hex"))' > "$secret_file"; chmod 600 "$secret_file"; }
  NATTER_TOKEN_SECRET=$(cat "$secret_file")
  export NATTER_TOKEN_SECRET
fi
export NATTER_SQLITE_PATH="${NATTER_SQLITE_PATH:-$NATTER_DATA/natter.db}"
exec node scripts/start-all.ts
