# Sourced by the set-up scripts: `pip_install PYTHON ARGS...` runs that
# interpreter's pip and fails (with pip's own error on stderr) when pip fails.
# The one line filtered out is this machine's warning about its local package
# indexes lacking a name, printed for every package they do not hold.

pip_install() {
  local python="$1"
  shift
  # An editable install rewrites the one tb_callbacks_plugin.egg-info of the
  # source tree, so test.sh's environments, set up side by side, take turns
  # at it rather than read each other's half-written metadata.
  mkdir -p .venvs
  (
    set -o pipefail
    case " $* " in *" -e "*) flock 8 ;; esac
    # pipefail: the status is pip's, not the filter's.
    "$python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
      | { grep -v "is ignored: it is neither a file nor a directory" || true; } >&2
  ) 8>.venvs/.source-tree.lock
}

# The key of an environment: a hash of the files that decide what it holds.
setup_key() {
  cat setup.py scripts/pip_install.sh "$@" | sha256sum | cut -c1-12
}
