#!/usr/bin/env bash
# Creates (or reuses) one of the extra test environments and prints its python.
# Usage: scripts/backend_env.sh jax|torch|floor|tf-jax
#   jax     Keras 3 (newest) on JAX, CPU; no TensorFlow installed
#   torch   Keras 3 (newest) on torch, CPU wheel; no TensorFlow installed
#   floor   the oldest supported Keras 3 and tf-keras, on TensorFlow 2.16
#   tf-jax  Keras 3 (newest) on JAX with TensorFlow beside it, for what needs
#           both: Keras's own TensorBoard test on JAX (tests/test_keras_own.py)
#           and KerasTuner on JAX (tests/test_sweeps_keras_tuner.py). .venv has
#           no JAX: TensorFlow's tf.lite imports JAX whenever it is installed,
#           0.8 s of CPU in every process of the suite that imports TensorFlow.
# Each lives in .venvs/NAME-KEY, KEY a hash of the files that decide its
# content, so a warm run reuses it and a change of set-up builds a new one.
# A failed install stops here with pip's error and leaves nothing reusable.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pip_install.sh
name="${1:?usage: scripts/backend_env.sh jax|torch|floor|tf-jax}"
extras="test-events"
no_tensorflow=1
case "$name" in
  jax) pins=("jax[cpu]") ;;
  # The CPU build (a plain torch requirement takes a CUDA build of several GB).
  torch)
    pins=("torch==2.13.0+cpu")
    # Where the machine has no local wheels, the CPU build comes from PyTorch's own index.
    if [ -z "${PIP_FIND_LINKS:-}${UV_FIND_LINKS:-}" ]; then
      pins+=(--extra-index-url https://download.pytorch.org/whl/cpu)
    fi
    ;;
  floor)
    extras="test-events,tf-keras"
    pins=("tensorflow==2.16.2" "tf_keras==2.16.0" "keras==$(sed -n 's/^KERAS_FLOOR = "\(.*\)"$/\1/p' setup.py)")
    no_tensorflow=0
    ;;
  # Not named jax-*: a new jax environment removes .venvs/jax-* (below).
  tf-jax)
    extras="test-events,tensorflow,pandas"
    pins=("jax[cpu]" "keras-tuner>=1.4")
    no_tensorflow=0
    ;;
  *) echo "unknown environment: $name" >&2; exit 2 ;;
esac
mkdir -p .venvs
dir=".venvs/$name-$(setup_key scripts/backend_env.sh)"
exec 9>".venvs/$name.lock"
flock 9  # one builder at a time
if [ ! -f "$dir/.ready" ]; then
  rm -rf "$dir" ".venvs/$name-"*
  python3 -m venv "$dir"
  echo "setting up $dir (once per change of the set-up files)" >&2
  pip_install "$dir/bin/python" --upgrade pip
  pip_install "$dir/bin/python" -e ".[$extras]" "${pins[@]}"
  if [ "$no_tensorflow" = 1 ]; then
    "$dir/bin/python" - <<'PY'
import importlib.util, sys
if importlib.util.find_spec("tensorflow") is not None:
    sys.exit("tensorflow got installed into an environment that must not have it")
PY
  fi
  touch "$dir/.ready"
fi
echo "$dir/bin/python"
