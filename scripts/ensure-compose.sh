#!/usr/bin/env bash
# Prints a command that runs Docker Compose v2 (`docker compose` or a `docker-compose`
# binary). Only the compose client is needed to validate docker-compose.yml (`config`);
# no Docker engine runs here. If neither is installed, builds Compose v2 from its Go
# module (the module's go.mod has exclude directives, so `go install` refuses it; it is
# downloaded with `go mod download` and built in place) into the cache. Exits 3 when it
# cannot provide one (no Go), so callers can print a notice and skip.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PIN=v2.40.3
bin="$NATTER_CACHE/compose-$PIN/docker-compose"
if docker compose version >/dev/null 2>&1; then echo "docker compose"; exit 0; fi
if command -v docker-compose >/dev/null && docker-compose version 2>/dev/null | grep -q "v2\|version 2\|dev"; then echo "docker-compose"; exit 0; fi
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { log "no docker compose and no Go to build it"; exit 3; }
  log "building Docker Compose $PIN from its Go module into $(dirname "$bin") (once per machine)"
  mkdir -p "$(dirname "$bin")"
  go mod download github.com/docker/compose/v2@"$PIN" >&2 || exit 3
  src="$(go env GOMODCACHE)/github.com/docker/compose/v2@$PIN"
  (cd "$src" && GOFLAGS=-mod=mod go build -o "$bin.tmp" ./cmd) >&2 || { log "building compose failed"; exit 3; }
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
