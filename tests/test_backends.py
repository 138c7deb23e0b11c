"""The event tests on every Keras this package serves, each in its own environment.

This process runs Keras 3 on TensorFlow. The other Keras set-ups cannot share
it (a process holds one Keras and one backend), so each runs the event test
files in a pytest subprocess:

- `jax`, `torch`: Keras 3 (newest) on that backend, in a venv where
  TensorFlow is not installed at all (scripts/backend_env.sh);
- `floor`, `floor-tf-keras`: the oldest supported Keras 3, and tf-keras 2,
  on TensorFlow 2.16 (one venv);
- `tf-keras`: tf-keras 2 (TF_USE_LEGACY_KERAS=1) in this very venv.

Each venv is cached under .venvs/, keyed by the set-up files: a warm run
builds nothing. A test passes only when its subprocess passed, and the tests
that exist for that set-up ran instead of skipping.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest
from backend_envs import backend_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Real fits of every built-in kind, their order and positions, the drop-ins,
# log_event, histograms and images.
EVENT_FILES = (
    "tests/test_callbacks_events.py",
    "tests/test_callbacks_dropins.py",
    "tests/test_decision_data.py",
)
# Keras's own tests of the drop-ins' classes, those that need no TensorFlow.
KERAS_OWN_ON_JAX = "tests/test_keras_own.py::test_keras_callback_tests_pass_with_our_drop_ins_on_jax"


@dataclass(frozen=True)
class Setup:
    venv: str | None  # a scripts/backend_env.sh name; None: this venv
    backend: str
    files: tuple[str, ...]
    # Test-id prefixes that must have run and passed (not skipped) there.
    must_pass: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


SETUPS = {
    "jax": Setup(
        "jax",
        "jax",
        (*EVENT_FILES, "tests/test_without_tensorflow.py", KERAS_OWN_ON_JAX),
        (
            "tests/test_without_tensorflow.py::",
            "tests/test_callbacks_events.py::test_stock",
            KERAS_OWN_ON_JAX,
        ),
        {"JAX_PLATFORMS": "cpu"},
    ),
    "torch": Setup(
        "torch",
        "torch",
        (*EVENT_FILES, "tests/test_without_tensorflow.py"),
        ("tests/test_without_tensorflow.py::", "tests/test_callbacks_events.py::test_stock"),
    ),
    "tf-keras": Setup(
        None,
        "tensorflow",
        ("tests/test_tf_keras.py",),
        ("tests/test_tf_keras.py::",),
        {"TF_USE_LEGACY_KERAS": "1"},
    ),
    "floor": Setup(
        "floor",
        "tensorflow",
        (*EVENT_FILES, "tests/test_callbacks_tensorboard.py"),
        ("tests/test_callbacks_tensorboard.py::test_same_tags", "tests/test_callbacks_events.py::test_stock"),
    ),
    "floor-tf-keras": Setup(
        "floor",
        "tensorflow",
        ("tests/test_tf_keras.py",),
        ("tests/test_tf_keras.py::",),
        {"TF_USE_LEGACY_KERAS": "1"},
    ),
}


def _python(setup: Setup) -> str:
    return sys.executable if setup.venv is None else backend_python(setup.venv)


def _outcomes(junit: str) -> dict[str, str]:
    """test id -> passed / failed / skipped, from pytest's JUnit XML."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        path = "tests/" + module[1] + ".py" if len(module) > 1 and module[0] == "tests" else ".".join(module)
        name = f"{path}::{case.get('name')}"
        states = {child.tag for child in case}
        if states & {"failure", "error"}:
            out[name] = "failed"
        elif "skipped" in states:
            out[name] = "skipped"
        else:
            out[name] = "passed"
    return out


def run_setup(name: str, tmp_path) -> dict[str, str]:
    setup = SETUPS[name]
    python = _python(setup)
    junit = str(tmp_path / "junit.xml")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KERAS_", "TF_USE_LEGACY"))},
        "KERAS_BACKEND": setup.backend,
        "CUDA_VISIBLE_DEVICES": "",
        **setup.env,
    }
    done = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", f"--junitxml={junit}", *setup.files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    report = done.stdout[-8000:] + done.stderr[-3000:]
    assert done.returncode == 0, f"{name}: pytest exited {done.returncode}\n{report}"
    outcomes = _outcomes(junit)
    assert outcomes and "failed" not in outcomes.values(), report
    for prefix in setup.must_pass:
        ran = {k: v for k, v in outcomes.items() if k.startswith(prefix)}
        assert ran and set(ran.values()) == {"passed"}, (prefix, ran, report)
    print(
        f"{name}: {sum(v == 'passed' for v in outcomes.values())} passed, "
        f"{sum(v == 'skipped' for v in outcomes.values())} skipped"
    )
    return outcomes


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("name", list(SETUPS))
def test_event_tests_pass(name, tmp_path):
    """Over 60 s: a pytest subprocess in that Keras set-up (its own Keras
    import, its own real fits). tests/conftest.py makes each set-up a unit of
    work of its own, so the two workers share them."""
    run_setup(name, tmp_path)
