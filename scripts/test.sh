#!/usr/bin/env bash
# The whole test suite, with everything it needs installed first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh "test"
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
# The extra Keras environments tests/test_backends.py runs the event tests in
# (cached under .venvs/; a warm run only checks their stamps).
for env in jax torch floor; do
  scripts/backend_env.sh "$env" >/dev/null
done
exec .venv/bin/python -m pytest "$@"
