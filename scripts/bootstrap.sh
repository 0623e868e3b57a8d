#!/usr/bin/env bash
# Installs the project's npm dependencies (including the Node 24 runtime that every npm script
# then runs on) when they are missing or older than package-lock.json. Safe to run every time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stamp=node_modules/.tradewatch-installed
if [[ ! -f $stamp || package-lock.json -nt $stamp ]] || ! node_modules/.bin/node --version >/dev/null 2>&1; then
  command -v npm >/dev/null || { echo "bootstrap: npm is missing; install Node.js (any version >= 18) and npm" >&2; exit 1; }
  echo "bootstrap: installing npm dependencies (npm ci)..."
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

# The fraud desk's web UI is built, never committed: again whenever its sources or the
# dependencies are newer than the build.
ui=services/dashboard
if [[ ! -f $ui/dist/index.html ]] || [[ -n $(find $ui/web package-lock.json -newer $ui/dist/index.html -print -quit) ]]; then
  echo "bootstrap: building the fraud desk UI (vite)..."
  (root=$PWD && cd $ui && PATH="$root/node_modules/.bin:$PATH" vite build --config web/vite.config.ts --logLevel warn) ||
    { echo "bootstrap: the fraud desk UI did not build (see above)" >&2; exit 1; }
fi
