"""The Python of one of the suite's extra environments (scripts/backend_env.sh)."""

from __future__ import annotations

import functools
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.cache
def backend_python(name: str) -> str:
    """Its interpreter's path, the environment set up first where it is not
    (a warm run finds it ready: scripts/test.sh sets them all up)."""
    done = subprocess.run(
        ["bash", os.path.join(ROOT, "scripts", "backend_env.sh"), name],
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert done.returncode == 0, f"setting up {name} failed:\n{done.stderr[-5000:]}"
    return os.path.join(ROOT, done.stdout.strip().splitlines()[-1])
