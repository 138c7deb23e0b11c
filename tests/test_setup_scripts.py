"""The set-up scripts stop on a failed install with the installer's own error, and stamp nothing."""

from __future__ import annotations

import ensurepip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MISSING = "tb-callbacks-no-such-distribution"


PROBE_BACKEND = f"""
import os

def get_requires_for_build_editable(config_settings=None):
    return []

def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    name = "probe-0.dist-info"
    os.makedirs(os.path.join(metadata_directory, name))
    with open(os.path.join(metadata_directory, name, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: probe\\nVersion: 0\\nRequires-Dist: {MISSING}==1.0\\n")
    return name

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("the requirement cannot be met: never built")
"""


@pytest.fixture
def project(tmp_path):
    """A project with our scripts whose one requirement no index has."""
    (tmp_path / "scripts").mkdir()
    for name in ("demo.sh", "setup_env.sh", "pip_install.sh", "backend_env.sh"):
        shutil.copy2(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    (tmp_path / "setup.py").write_text("raise SystemExit('not used: pyproject.toml names the backend')\n")
    # An in-tree build backend that needs nothing to install: pip reads the
    # metadata, then fails resolving the requirement (offline, at once).
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "probe_backend"\nbackend-path = ["."]\n'
    )
    (tmp_path / "probe_backend.py").write_text(PROBE_BACKEND)
    return tmp_path


def _uv() -> str:
    """The uv the suite's own set-up installed (the copied scripts would fetch theirs, offline)."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        made = sorted(ROOT.glob(".venvs/uv-*/bin/uv"))
        found = str(made[-1]) if made else None
    if not found:
        pytest.fail("no uv: run scripts/test.sh, which sets it up")
    return found


def _offline_env(**extra: str) -> dict[str, str]:
    # No index; the only wheels are those Python bundles (pip, and setuptools
    # for the build): the requirement cannot be found, at once and offline.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    bundled = os.path.join(os.path.dirname(ensurepip.__file__), "_bundled")
    offline = {"UV": _uv(), "UV_OFFLINE": "1", "UV_NO_CONFIG": "1", "UV_FIND_LINKS": bundled}
    return {**env, **offline, **extra}


@pytest.mark.timeout(180)
def test_demo_stops_on_a_failed_install(project):
    venv = project / "venv"
    done = subprocess.run(
        ["bash", "scripts/demo.sh", "--quick"],
        cwd=project,
        env=_offline_env(VENV=str(venv)),
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode != 0
    assert "No solution found when resolving dependencies" in done.stderr  # the installer's own error
    assert f"{MISSING} was not found" in done.stderr
    assert not list(venv.glob(".installed-*"))  # the next run installs again
    # Stopped there: neither the import check nor the demo ran.
    assert "ModuleNotFoundError" not in done.stderr and "demo/train.py" not in done.stderr


@pytest.mark.timeout(180)
def test_backend_env_stops_on_a_failed_install(project):
    done = subprocess.run(
        ["bash", "scripts/backend_env.sh", "torch"],
        cwd=project,
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode != 0
    assert "No solution found when resolving dependencies" in done.stderr
    assert done.stdout == ""  # no python printed for a caller to use
    (made,) = (project / ".venvs").glob("torch-*")
    assert not (made / ".ready").exists()
