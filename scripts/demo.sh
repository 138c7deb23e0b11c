#!/usr/bin/env bash
# The main job: train the demo runs into logs/ and serve TensorBoard with the
# Callback Events tab on http://127.0.0.1:6006.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh "pandas,plot,cli"
.venv/bin/python demo/train.py --logdir logs
exec .venv/bin/tensorboard --logdir logs --host 127.0.0.1 --port "${PORT:-6006}"
