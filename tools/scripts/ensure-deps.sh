#!/usr/bin/env bash
# Installs npm dependencies when they are missing or older than the lockfile, so `npm start` and `npm test` work
# on a fresh clone. npm's own Node may be old; the project runs on the Node 24 that the `node` devDependency installs
# (npm run-scripts put node_modules/.bin first on PATH).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[deps] installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund
fi
