#!/usr/bin/env bash
# The NATS identities and certificates of docker-compose.yml, made on the host before
# `docker compose up` (the images have no openssl): .data/compose/nats/{auth.conf,
# secrets/<identity>.nk, tls/}, mode 600 in mode-700 folders, git-ignored. The nats
# containers mount the folder at /etc/nats/secrets, the Natter containers at
# /run/natter/nats (each reads its own seed). Idempotent: existing seeds and the CA are
# kept (SECURITY.md says how to rotate them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
dir="$NATTER_DATA/compose/nats"
mkdir -p "$dir"
bash scripts/nats-certs.sh "$dir/tls"
scripts/node scripts/nats-auth.ts "$dir"
log "compose NATS identities and certificates in $dir"
log "tail the cluster from the host: nats --server tls://localhost:4222 --nkey $dir/secrets/tail.nk --tlsca $dir/tls/ca.pem sub --stream CHATS --new 'chat.*.msg'"
