# Sourced by the set-up scripts: `pip_install PYTHON ARGS...` installs ARGS
# into that interpreter's environment with uv's pip interface and fails (with
# the installer's own error on stderr) when the install fails.
#
# Why uv, not the venv's pip: the suite sets up five environments (.venv, the
# demo's, JAX, torch, the Keras floor). With pip each holds its own copy of
# every file: three TensorFlows and a JAX twice, 11 GB, more than a CI
# machine's disk once had free. uv downloads each wheel once into one cache
# under the repo and hard-links its files into every environment that wants
# it (6 GB in all, measured), and installs in seconds instead of minutes.
# UV (a path to a uv binary) overrides the one set up here.

UV_VERSION="0.13.9"

_uv() {
  if [ -z "${UV:-}" ]; then
    local tools=".venvs/uv-$UV_VERSION"
    if [ ! -x "$tools/bin/uv" ]; then
      mkdir -p .venvs
      (
        flock 7  # test.sh's environments start side by side: one bootstrap
        if [ ! -x "$tools/bin/uv" ]; then
          python3 -m venv "$tools.part" && "$tools.part/bin/python" -m pip install -q \
            --disable-pip-version-check "uv==$UV_VERSION" && mv "$tools.part" "$tools"
          rc=$?
          rm -rf "$tools.part"
          exit "$rc"
        fi
      ) 7>.venvs/.uv.lock || return 1
    fi
    UV="$PWD/$tools/bin/uv"
  fi
  # One cache for every environment, on the same file system (hard links).
  UV_CACHE_DIR="${UV_CACHE_DIR:-$PWD/.venvs/uv-cache}" UV_LINK_MODE="${UV_LINK_MODE:-hardlink}" "$UV" "$@"
}

pip_install() {
  local python="$1"
  shift
  # The machine's local wheels (pip's find-links: the CPU build of torch
  # here) are uv's too.
  local links=() link
  if [ -n "${PIP_FIND_LINKS:-}" ] && [ -z "${UV_FIND_LINKS:-}" ]; then
    for link in $PIP_FIND_LINKS; do links+=(--find-links "$link"); done
  fi
  # An editable install rewrites the one tb_callbacks_plugin.egg-info of the
  # source tree, so test.sh's environments, set up side by side, take turns
  # at it rather than read each other's half-written metadata.
  mkdir -p .venvs
  (
    case " $* " in *" -e "*) flock 8 ;; esac
    _uv pip install -q --python "$python" "${links[@]}" "$@"
  ) 8>.venvs/.source-tree.lock || return
  # Every module's .pyc, written once here (uv writes none by default, nor for
  # what an earlier install put there). Python writes a missing .pyc at first
  # import, except where PYTHONDONTWRITEBYTECODE is set (as in some CI and
  # agent shells): then every process compiles all it imports, TensorFlow
  # alone 7 s of CPU (12.4 s to import it instead of 5.5; `import numba` 1.35 s
  # instead of 0.64, `import pandas` 1.71 instead of 0.66). Files that are not
  # Python 3 (a few packages ship some) are left as they are.
  "$python" -m compileall -q -j 0 "$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    >/dev/null 2>&1 || true
}

# The key of an environment: a hash of the files that decide what it holds.
setup_key() {
  cat setup.py scripts/pip_install.sh "$@" | sha256sum | cut -c1-12
}
