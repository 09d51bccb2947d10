# Shared shell helpers for Natter's scripts: where things are cached, logging, waiting.
# Sourced, never run. Only POSIX tools, bash, curl-free (no network beyond package registries).

NATTER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Tools are built once per machine into a cache folder outside the checkout, so fresh
# clones on the same machine reuse them; a new machine rebuilds them from the registries.
NATTER_CACHE="${NATTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/natter}"
# Runtime data (server stores, logs, pid files) lives in the checkout, git-ignored.
NATTER_DATA="${NATTER_DATA:-$NATTER_ROOT/.data}"
mkdir -p "$NATTER_CACHE" "$NATTER_DATA"

log() { printf '[natter] %s\n' "$*" >&2; }
die() { printf '[natter] error: %s\n' "$*" >&2; exit 1; }

# version_ge A B: true when dotted version A >= B.
version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND once a second.
wait_for() {
  local what=$1 secs=$2; shift 2
  local i
  for ((i = 0; i < secs; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  return 1
}

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
