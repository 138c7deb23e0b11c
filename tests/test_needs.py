"""`needs.need`: a missing tool skips a check on a developer's machine and fails it under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

PROBE = """
from needs import need

def test_missing_tool():
    need(False, "frobnicator is not installed")

def test_present_tool():
    need(True, "never said")
"""


def run_probe(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(probe)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("ci", [None, "false"])
def test_missing_tool_skips_off_ci(tmp_path, ci):
    result = run_probe(tmp_path, ci)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
    assert "frobnicator is not installed" in result.stdout


@pytest.mark.parametrize("ci", ["true"])
def test_missing_tool_fails_on_ci(tmp_path, ci):
    result = run_probe(tmp_path, ci)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    assert "frobnicator is not installed (CI=true" in result.stdout


def test_ci_run_sets_ci():
    # .ci/run is what CI runs; without CI=true there, nothing above applies.
    script = (TESTS.parent / ".ci" / "run").read_text()
    assert "export CI=true" in script.splitlines()
