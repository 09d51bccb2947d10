#!/usr/bin/env bash
# Prints a directory holding `nats-server` (>= 2.11) and the `nats` CLI.
# Order: a good-enough nats-server on PATH; else one built earlier into the cache; else
# `go install` builds both into the cache (versions pinned below); else a clear error.
# Usage: PATH="$(scripts/ensure-nats.sh):$PATH"
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SERVER_MIN=2.11.0
SERVER_PIN=v2.15.2
CLI_PIN=v0.5.1
cache_bin="$NATTER_CACHE/nats-$SERVER_PIN-cli-$CLI_PIN/bin"

server_version() { "$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p' | head -n1; }

good_server() {
  local v
  v=$(server_version "$1")
  [ -n "$v" ] && version_ge "$v" "$SERVER_MIN"
}

if command -v nats-server >/dev/null && command -v nats >/dev/null && good_server "$(command -v nats-server)"; then
  onpath=$(dirname "$(command -v nats-server)")
  if [ -x "$onpath/nats" ]; then echo "$onpath"; exit 0; fi
fi

if [ ! -x "$cache_bin/nats-server" ] || [ ! -x "$cache_bin/nats" ]; then
  command -v go >/dev/null || die "nats-server >= $SERVER_MIN not found and Go is missing to build it.
  Install Go (https://go.dev/doc/install) and run this script again, or install
  nats-server >= $SERVER_MIN and the nats CLI on PATH yourself."
  mkdir -p "$cache_bin"
  log "building nats-server $SERVER_PIN and nats CLI $CLI_PIN with go install into $cache_bin"
  GOBIN="$cache_bin" go install "github.com/nats-io/nats-server/v2@$SERVER_PIN" >&2 \
    || die "go install of nats-server failed (see above); install nats-server >= $SERVER_MIN yourself"
  GOBIN="$cache_bin" go install "github.com/nats-io/natscli/nats@$CLI_PIN" >&2 \
    || die "go install of the nats CLI failed (see above)"
fi
good_server "$cache_bin/nats-server" || die "$cache_bin/nats-server is older than $SERVER_MIN"
echo "$cache_bin"
