#!/usr/bin/env bash
# Prints a directory holding `promtool` of Prometheus 3.16.0 (the version docker-compose.yml
# runs), which checks ops/prometheus (tests/src/dashboard.test.ts). Order: promtool 3.16.0
# on PATH; else one built earlier into the cache; else, only with --build, `go install` of
# its Go module (v0.316.0 is Prometheus 3.16.0) into the cache: several minutes on two cores,
# so the tests never start it themselves. Exits 3 when there is none (callers skip).
# Usage: PATH="$(bash scripts/ensure-promtool.sh --build):$PATH"
set -euo pipefail
source "$(dirname "$0")/lib.sh"

VERSION=3.16.0
MODULE_PIN=v0.316.0
cache_bin="$NATTER_CACHE/promtool-$VERSION/bin"

# A release build says its version; one built by `go install` says none, so the cache's
# (built here from the pinned module) is taken by its folder's name.
released() { "$1" --version 2>/dev/null | grep -q "version $VERSION"; }

if command -v promtool >/dev/null && released "$(command -v promtool)"; then
  dirname "$(command -v promtool)"
  exit 0
fi
if [ -x "$cache_bin/promtool" ]; then
  echo "$cache_bin"
  exit 0
fi
if [ "${1:-}" != "--build" ]; then
  log "promtool $VERSION not found (bash scripts/ensure-promtool.sh --build makes it with go install)"
  exit 3
fi
command -v go >/dev/null || { log "promtool $VERSION not found and Go is missing to build it"; exit 3; }
mkdir -p "$cache_bin"
log "building promtool $VERSION ($MODULE_PIN) with go install into $cache_bin"
GOBIN="$cache_bin" go install "github.com/prometheus/prometheus/cmd/promtool@$MODULE_PIN" >&2 \
  || { log "go install of promtool failed (see above)"; exit 3; }
echo "$cache_bin"
