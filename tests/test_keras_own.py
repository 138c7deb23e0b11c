"""Keras's own callback tests, run against our drop-ins.

The installed Keras's sdist (from PyPI, cached in `.keras-sdist/` at the top
of the repository, git-ignored) ships `keras/src/callbacks/*_test.py`. The
test files of the classes we replace are extracted next to
tests/keras_own_conftest.py (as their `conftest.py`, which rebinds
`keras.src.callbacks.<X>` and `keras.callbacks.<X>` to ours) and run by
pytest in a subprocess. Every test must pass (or be skipped by Keras itself),
also with `-W error::UserWarning`, where stock Keras passes too: a drop-in
that warns where Keras does not is not a drop-in.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import keras
import pytest
from backend_envs import backend_python

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".keras-sdist"
CONFTEST = Path(__file__).with_name("keras_own_conftest.py")
# The test files of the classes we replace (keras/src/callbacks/<name>_test.py).
TEST_FILES = (
    "backup_and_restore_test.py",
    "early_stopping_test.py",
    "learning_rate_scheduler_test.py",
    "model_checkpoint_test.py",
    "reduce_lr_on_plateau_test.py",
    "tensorboard_test.py",
    "terminate_on_nan_test.py",
)
RUN_TIMEOUT = 1500
# Keras's TensorBoard needs TensorFlow on every backend, and so does its test
# file; the others run where TensorFlow is not installed (the JAX venv of
# tests/test_backends.py).
HAVE_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
APPLICABLE = tuple(n for n in TEST_FILES if HAVE_TENSORFLOW or n != "tensorboard_test.py")
# Where JAX is not installed here (.venv: scripts/backend_env.sh says why),
# Keras on JAX runs in the environment with TensorFlow and JAX, all seven files.
HAVE_JAX = importlib.util.find_spec("jax") is not None


def _sdist(version: str) -> Path:
    """That Keras's sdist, downloaded once into the cache.

    The tests of this file run on both pytest-xdist workers (tests/conftest.py):
    one downloads while the other waits on the lock, then finds the file."""
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _sdist_locked(version)


def _sdist_locked(version: str) -> Path:
    found = sorted(CACHE.glob(f"keras-{version}.tar.gz"))
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-binary", ":all:"]
    cmd += ["--no-deps", f"keras=={version}", "-d", str(CACHE)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    found = sorted(CACHE.glob(f"keras-{version}.tar.gz"))
    assert found, f"could not download the keras=={version} sdist:\n{result.stdout}\n{result.stderr}"
    return found[0]


@pytest.fixture(scope="module")
def keras_tests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with Keras's callback test files of the replaced classes and our conftest."""
    return _extract(tmp_path_factory.mktemp("keras_own"), keras.__version__)


def _extract(out: Path, version: str) -> Path:
    wanted = {f"keras/src/callbacks/{name}" for name in TEST_FILES}
    with tarfile.open(_sdist(version)) as tar:
        for member in tar.getmembers():
            relative = member.name.split("/", 1)[-1]
            if relative in wanted and member.isfile():
                source = tar.extractfile(member)
                assert source is not None
                (out / os.path.basename(relative)).write_bytes(source.read())
    missing = sorted(set(TEST_FILES) - {p.name for p in out.iterdir()})
    assert not missing, f"not in the keras {version} sdist: {missing}"
    shutil.copy(CONFTEST, out / "conftest.py")
    # An empty ini makes this directory pytest's rootdir: none of our settings apply.
    (out / "pytest.ini").write_text("[pytest]\n")
    return out


# pytest once per argument list, all in one process: Keras and TensorFlow
# are imported once for both warning settings (a process start is some 20 s
# of CPU). Each list's exit code goes to the file named second.
_PASSES = """
import json, sys
import pytest
codes = [int(pytest.main(args)) for args in json.loads(sys.argv[1])]
with open(sys.argv[2], "w") as f:
    json.dump(codes, f)
"""
STRICT = ("-W", "error::UserWarning")


@dataclass(frozen=True)
class Pass:
    """One pytest run of Keras's tests: its exit code, its JUnit report, the process's output's end."""

    returncode: int
    root: ET.Element
    tail: str


def _run(
    directory: Path,
    backend: str,
    settings: list[tuple[str, ...]],
    files: list[str],
    stock: bool = False,
    python: str = sys.executable,
) -> list[Pass]:
    """Keras's tests (those files or test ids) once per warning setting (extra
    pytest arguments), in one subprocess."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    env["TB_CALLBACKS_KERAS_STOCK"] = "1" if stock else "0"
    common = ["-q", "-p", "no:cacheprovider", "-c", str(directory / "pytest.ini")]
    common += ["--rootdir", str(directory)]
    reports, runs = [], []
    for extra in settings:
        reports.append(directory / f"report-{backend}-{'-'.join(extra) or 'default'}-{int(stock)}.xml")
        runs.append([*common, f"--junitxml={reports[-1]}", *extra, *files])
    codes = directory / f"codes-{backend}-{int(stock)}.json"
    cmd = [python, "-c", _PASSES, json.dumps(runs), str(codes)]
    result = subprocess.run(cmd, cwd=directory, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    tail = result.stdout[-8000:] + result.stderr[-3000:]
    assert result.returncode == 0 and codes.exists(), tail
    return [
        Pass(code, ET.parse(report).getroot(), tail)
        for code, report in zip(json.loads(codes.read_text()), reports, strict=True)
    ]


def _outcomes(root: ET.Element) -> dict[str, list[str]]:
    """Test ids (file.py::Class::test) by outcome; skipped ones with Keras's reason."""
    out: dict[str, list[str]] = {"passed": [], "failed": [], "skipped": []}
    for case in root.iter("testcase"):
        module, _, cls = (case.get("classname") or "").partition(".")
        name = f"{module}.py::{cls}::{case.get('name')}" if cls else f"{module}.py::{case.get('name')}"
        skipped = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            out["failed"].append(name)
        elif skipped is not None:
            out["skipped"].append(f"{name}: {skipped.get('message')}")
        else:
            out["passed"].append(name)
    return out


def _check(
    directory: Path,
    backend: str,
    run: Pass,
    strict: bool,
    python: str = sys.executable,
    applicable: tuple[str, ...] = APPLICABLE,
) -> dict[str, list[str]]:
    """Fails on any of Keras's tests that failed in that run for our classes only."""
    outcomes = _outcomes(run.root)
    failed = outcomes["failed"]
    if failed and strict:
        # A warning Keras itself gives fails its own test under -W error too
        # (e.g. "The model does not have any trainable weights" on TensorFlow):
        # only what fails with ours and passes with Keras's classes counts.
        (stock,) = _run(directory, backend, [STRICT], failed, stock=True, python=python)
        stock_failed = set(_outcomes(stock.root)["failed"])
        assert stock_failed, stock.tail
        failed = [name for name in failed if name not in stock_failed]
    assert not failed, f"Keras's own tests failed with our drop-ins only: {failed}\n{run.tail}"
    if not strict:
        assert run.returncode == 0, run.tail
    # Every file contributed passing tests: none was silently not collected.
    files = {name.split("::")[0] for name in outcomes["passed"]}
    assert files == set(applicable), (files, run.tail)
    return outcomes


@pytest.fixture(scope="module")
def tensorflow_runs(keras_tests: Path) -> dict[bool, Pass]:
    """Keras's tests on TensorFlow under -W error::UserWarning, then as they
    are, in one subprocess (strict first, in a process that has run nothing
    yet, as it would alone). tests/conftest.py keeps both tests that read it
    on one worker."""
    files = [str(keras_tests / n) for n in APPLICABLE]
    strict, default = _run(keras_tests, "tensorflow", [STRICT, ()], files)
    return {True: strict, False: default}


@pytest.mark.timeout(3 * RUN_TIMEOUT)
@pytest.mark.parametrize("strict", [False, True], ids=["default", "error-UserWarning"])
def test_keras_callback_tests_pass_with_our_drop_ins_on_tensorflow(
    keras_tests: Path, tensorflow_runs: dict[bool, Pass], strict: bool
) -> None:
    """Over 60 s: Keras's own test files of the seven replaced classes, in a
    pytest subprocess whose keras.callbacks are ours (their real fits)."""
    outcomes = _check(keras_tests, "tensorflow", tensorflow_runs[strict], strict)
    # On TensorFlow Keras skips none of these (profiling included).
    assert not outcomes["skipped"], outcomes["skipped"]


@pytest.mark.timeout(3 * RUN_TIMEOUT)
def test_keras_callback_tests_pass_with_our_drop_ins_on_jax(tmp_path: Path) -> None:
    """Over 60 s: as on TensorFlow, with Keras on JAX in the subprocess: here
    where JAX is installed (the JAX venv of tests/test_backends.py, without
    TensorFlow), else in the environment with TensorFlow and JAX."""
    if HAVE_JAX:
        python, applicable = sys.executable, APPLICABLE
    else:
        python, applicable = backend_python("tf-jax"), TEST_FILES
    version = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('keras'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    directory = _extract(tmp_path, version)
    (run,) = _run(directory, "jax", [STRICT], [str(directory / n) for n in applicable], python=python)
    outcomes = _check(directory, "jax", run, True, python, applicable)
    # Only Keras's own skips (profiling on Python < 3.12), never a failure.
    for skipped in outcomes["skipped"]:
        assert "python" in skipped.lower() or "backend" in skipped.lower(), skipped
