#!/usr/bin/env bash
# The main job: train the demo runs into logs/ and serve TensorBoard with the
# Callback Events tab on http://127.0.0.1:6006.
# Usage: scripts/demo.sh [demo/train.py options, e.g. --quick]
# Environment: VENV (default .venv), LOGDIR (default logs), PORT (default 6006).
# The last line printed is the tab's address; TensorBoard's own output goes to
# a log file (named above it), and is printed only if TensorBoard fails.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
logdir="${LOGDIR:-logs}"
VENV="$venv" scripts/setup_env.sh demo

# TensorFlow 2.21 writes its C++ start-up notes (oneDNN, CUDA, CPU features)
# to stderr before any log level applies: drop those lines, keep the rest.
quiet() {
  grep -v -E '^(WARNING: All log messages before absl::InitializeLog|[IWE][0-9]{4} [0-9:.]+ +[0-9]+ [a-z_]+\.cc:[0-9]+\]|To enable the following instructions: )' || true
}
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"

{ "$venv/bin/python" demo/train.py --logdir "$logdir" --served "$@" 2>&1 1>&3 | quiet >&2; } 3>&1

tb_log="$(mktemp "${TMPDIR:-/tmp}/tensorboard.XXXXXX")"
"$venv/bin/tensorboard" --logdir "$logdir" --host 127.0.0.1 --port "${PORT:-6006}" >"$tb_log" 2>&1 &
tensorboard=$!
trap 'kill "$tensorboard" 2>/dev/null || true' EXIT INT TERM
echo "starting TensorBoard (its output: $tb_log) ..."
url=""
while [ -z "$url" ] && kill -0 "$tensorboard" 2>/dev/null; do
  sleep 0.5
  # TensorBoard says "TensorBoard 2.x at http://127.0.0.1:6006/ (Press CTRL+C to quit)".
  url="$(grep -o -m 1 -E 'http://[^ ]+/' "$tb_log" || true)"
done
if [ -z "$url" ]; then
  quiet <"$tb_log" >&2
  echo "TensorBoard stopped before serving (its output is above)" >&2
  exit 1
fi
echo "TensorBoard serves $logdir until Ctrl+C; from the command line: $venv/bin/tb-callbacks summary $logdir"
echo
echo "  Open ${url}#callback_events"
status=0
wait "$tensorboard" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -lt 128 ]; then
  quiet <"$tb_log" >&2
fi
exit "$status"
