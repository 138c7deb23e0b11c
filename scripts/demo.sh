#!/usr/bin/env bash
# The main job: train the demo runs into logs/ and serve TensorBoard with the
# Callback Events tab on http://127.0.0.1:6006.
# Usage: scripts/demo.sh [demo/train.py options, e.g. --quick]
# Environment: VENV (default .venv), LOGDIR (default logs), PORT (default 6006).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
logdir="${LOGDIR:-logs}"
VENV="$venv" scripts/setup_env.sh demo
"$venv/bin/python" demo/train.py --logdir "$logdir" "$@"
exec "$venv/bin/tensorboard" --logdir "$logdir" --host 127.0.0.1 --port "${PORT:-6006}"
