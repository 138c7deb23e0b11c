"""The code base stays `ruff` clean (pyproject.toml holds the rule set)."""

import shutil
import subprocess
import sys
from pathlib import Path

from needs import need

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    need(ruff is not None, "ruff is not installed (it is in the `test` extra)")
    result = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
