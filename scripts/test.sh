#!/usr/bin/env bash
# The whole test suite, with everything it needs installed first.
#   scripts/test.sh [PYTEST ARGS]            the whole suite (or the files named)
#   scripts/test.sh --quick [PYTEST ARGS]    the quick tier (`-m quick`, tests/conftest.py)
# Two pytest-xdist workers run it (tests/conftest.py says how the files are
# split); `-n 0` runs it in this one process.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pip_install.sh
quick=0
if [ "${1:-}" = "--quick" ]; then
  quick=1
  shift
fi

# Every environment the suite uses, set up at once (their downloads and
# unpacking overlap): .venv with the `test` extra; the JAX, torch and
# Keras-floor venvs tests/test_backends.py runs the event tests in; the venv
# with TensorFlow and JAX that Keras's own tests and KerasTuner on JAX run in
# (.venv has no JAX); the venv that only the demo's own set-up makes
# (tests/test_demo_script.py). Each is
# reused while the files that decide it are unchanged.
# The quick tier needs .venv only.
logs="$(mktemp -d)"
names=(test jax torch floor tf-jax demo)
scripts/setup_env.sh test >"$logs/test.log" 2>&1 &
pids=($!)
if [ "$quick" = 0 ]; then
  for env in jax torch floor tf-jax; do
    scripts/backend_env.sh "$env" >"$logs/$env.log" 2>&1 &
    pids+=($!)
  done
  mkdir -p .venvs
  VENV=".venvs/demo-$(setup_key scripts/setup_env.sh)" scripts/setup_env.sh demo >"$logs/demo.log" 2>&1 &
  pids+=($!)
fi
failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "setting up '${names[$i]}' failed:" >&2
    cat "$logs/${names[$i]}.log" >&2
    failed=1
  fi
done
rm -rf "$logs"
[ "$failed" = 0 ] || exit 1

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  else
    echo "note: /usr/bin/chromium missing and not root; browser tests will be skipped" >&2
  fi
fi
if command -v npm >/dev/null && [ -f frontend/package-lock.json ] && [ ! -d frontend/node_modules ]; then
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
fi
workers=(-n 2 --dist loadfile)
if [ "$quick" = 1 ]; then
  exec .venv/bin/python -m pytest "${workers[@]}" -m quick "$@"
fi
exec .venv/bin/python -m pytest "${workers[@]}" "$@"
