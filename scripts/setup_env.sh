#!/usr/bin/env bash
# Creates (or reuses) a venv and installs the project with the given extras.
# Usage: scripts/setup_env.sh EXTRAS   e.g. "demo" or "test"
# The venv is .venv unless VENV names another directory. A failed install
# stops here with pip's error and leaves the venv unstamped, so the next run
# installs again.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pip_install.sh
extras="${1:-}"
venv="${VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.installed-$(setup_key scripts/setup_env.sh)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  pip_install "$venv/bin/python" --upgrade pip
  pip_install "$venv/bin/python" -e ".[${extras}]"
  # The import works, or its error is shown (not TensorFlow's start-up notes).
  if ! check="$("$venv/bin/python" -c "from tb_callbacks_plugin import callbacks" 2>&1)"; then
    echo "$check" >&2
    exit 1
  fi
  touch "$stamp"
fi
