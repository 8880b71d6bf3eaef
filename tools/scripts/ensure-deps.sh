#!/usr/bin/env bash
# Prepares a fresh clone for `npm start` and `npm test`:
# - starts building the local stack's servers in the background when the cache lacks any of them, so a cold machine
#   builds them while npm installs and (in `npm test`) while the static checks and the unit tier run; `stack up`
#   waits for that build under the same lock and prints its progress;
# - installs npm dependencies when they are missing or older than the lockfile. npm's own Node may be old; the
#   project runs on the Node 24 that the `node` devDependency installs (npm run-scripts put node_modules/.bin first on
#   PATH).
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${KEEL_CACHE_DIR:-$HOME/.cache/keel}"
provision=(make --no-print-directory -f deploy/local/provision.mk "CACHE=$cache")
if command -v make >/dev/null && command -v flock >/dev/null && ! "${provision[@]}" -q all 2>/dev/null; then
  mkdir -p "$cache/provision-logs"
  echo "[deps] building the local stack's servers in the background (log $cache/provision-logs/background.log)" >&2
  nohup flock "$cache/provision.lock" "${provision[@]}" -j4 all >"$cache/provision-logs/background.log" 2>&1 </dev/null &
fi
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[deps] installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund
fi
