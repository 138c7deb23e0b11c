"""mypy over callbacks/ and tb_callbacks_plugin/ (its settings are in pyproject.toml).

Keras, TensorBoard and protobuf ship no type information, so what they
return is `Any`; everything of this project is checked, including the
bodies of functions without annotations.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from needs import need

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_is_clean():
    need(importlib.util.find_spec("mypy") is not None, "mypy is not installed (it is in the `test` extra)")
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "Success" in result.stdout
