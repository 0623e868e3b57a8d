#!/usr/bin/env bash
# Makes sure a Python venv with chdb (an in-process current ClickHouse) exists under
# .data/venv-chdb and prints its python path. Idempotent: does nothing when the pinned package is
# already installed. chdb-core is the package that ships the `chdb` module and the engine
# (`chdb` on PyPI is a wrapper that pulls chdb-core plus extras we do not need).
# Progress goes to stderr; stdout is only the python path.
set -euo pipefail

CHDB_PACKAGE="chdb-core==26.9.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CHDB_VENV:-$ROOT/.data/venv-chdb}"
PY="$VENV/bin/python"

installed() {
  [[ -x "$PY" ]] && "$PY" - "$CHDB_PACKAGE" <<'PYEOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
name, want = sys.argv[1].split("==")
sys.exit(0 if version(name) == want else 1)
PYEOF
}

if installed; then
  echo "$PY"
  exit 0
fi

command -v python3 >/dev/null || { echo "ensure-chdb: python3 is not installed" >&2; exit 1; }

if [[ ! -x "$PY" ]] || ! "$PY" -m pip --version >/dev/null 2>&1; then
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  if ! python3 -m venv "$VENV" >&2; then
    # Debian/Ubuntu split venv (ensurepip) into python3-venv.
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
      echo "ensure-chdb: python3 -m venv failed; installing python3-venv" >&2
      rm -rf "$VENV"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update >&2
      apt-get install -y --no-install-recommends python3-venv >&2 ||
        apt-get install -y --no-install-recommends "python3.$(python3 -c 'import sys; print(sys.version_info[1])')-venv" >&2
      python3 -m venv "$VENV" >&2
    else
      echo "ensure-chdb: python3 -m venv failed (install python3-venv)" >&2
      exit 1
    fi
  fi
fi

echo "ensure-chdb: installing $CHDB_PACKAGE into $VENV" >&2
started=$SECONDS
"$PY" -m pip install --disable-pip-version-check --quiet "$CHDB_PACKAGE" >&2
"$PY" -c 'from chdb import session' >&2
echo "ensure-chdb: installed in $((SECONDS - started)) s" >&2
echo "$PY"
