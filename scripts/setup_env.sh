#!/usr/bin/env bash
# Creates (or reuses) .venv and installs the project with the given extras.
# Usage: scripts/setup_env.sh EXTRAS   e.g. "pandas,plot" or "test"
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=".venv/.installed-$(cat setup.py | sha256sum | cut -c1-12)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" || true
  .venv/bin/pip install -q --disable-pip-version-check -e ".[${extras}]" 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import tb_callbacks_plugin, callbacks" 
  touch "$stamp"
fi
