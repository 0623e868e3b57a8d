#!/usr/bin/env bash
# `npm test`: installs what is missing, starts the infrastructure, then runs the format check,
# the linter, the type check and every test (unit, integration, end to end) on Node 24.
# Runs every step even when one fails, and exits non-zero if any did.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh || exit 1
export PATH="$PWD/node_modules/.bin:$PATH"
echo "tradewatch tests on node $(node --version)"
bash infra/infra.sh up || { echo "test: the infrastructure did not start (see above)" >&2; exit 1; }
# Debian's Chromium drives the fraud desk's browser tests.
bash infra/infra.sh tools browser || { echo "test: chromium could not be installed (see above)" >&2; exit 1; }

failed=()
step() {
  local name=$1
  shift
  echo "== $name"
  "$@" || failed+=("$name")
}
step format prettier --check --log-level warn .
step lint eslint --max-warnings 0 .
step types tsc -p tsconfig.json --noEmit
step types-web tsc -p services/dashboard/web/tsconfig.json
# Test files run one at a time: integration tests share the 2-core machine with the broker.
# test/chaos.e2e.test.ts (about four minutes) starts a private three-broker cluster of its own.
mapfile -t tests < <(find shared/test services/*/test packages/*/test test -name '*.test.ts' \
  -not -path '*/node_modules/*' | sort)
# A file whose handles keep it from exiting after its tests would hold the run forever: the whole
# step is bounded (it takes about 12 minutes).
step tests timeout --signal=TERM 3000 node --test --test-concurrency=1 --test-timeout=600000 "${tests[@]}"

# On success the test runner's own summary stays the last thing printed.
if ((${#failed[@]} > 0)); then
  echo "npm test: FAILED steps: ${failed[*]}" >&2
  exit 1
fi
