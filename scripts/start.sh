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
# Web Push: the deployment's VAPID key pair, made once like the token secret (mode 600),
# so browsers' subscriptions stay valid across restarts. The push consumer runs beside the
# others; it pushes to browsers that subscribed (the web client's "notifications on").
if [ -z "${NATTER_PUSH_VAPID_PUBLIC_KEY:-}" ]; then
  vapid_file="$NATTER_DATA/vapid.json"
  [ -s "$vapid_file" ] || { node -e 'const k=require("node:crypto").generateKeyPairSync("ec",{namedCurve:"P-256"}).privateKey.export({format:"jwk"});const b=(s)=>Buffer.from(s,"base64url");process.stdout.write(JSON.stringify({publicKey:Buffer.concat([Buffer.of(4),b(k.x),b(k.y)]).toString("base64url"),privateKey:k.d}))' > "$vapid_file"; chmod 600 "$vapid_file"; }
  NATTER_PUSH_VAPID_PUBLIC_KEY=$(node -p 'JSON.parse(require("node:fs").readFileSync(process.argv[1],"utf8")).publicKey' "$vapid_file")
  NATTER_PUSH_VAPID_PRIVATE_KEY=$(node -p 'JSON.parse(require("node:fs").readFileSync(process.argv[1],"utf8")).privateKey' "$vapid_file")
  export NATTER_PUSH_VAPID_PUBLIC_KEY NATTER_PUSH_VAPID_PRIVATE_KEY
  export NATTER_CONSUMERS="${NATTER_CONSUMERS:-history,fanout,push}"
fi
export NATTER_SQLITE_PATH="${NATTER_SQLITE_PATH:-$NATTER_DATA/natter.db}"
exec node scripts/start-all.ts
