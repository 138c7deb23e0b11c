"""The quick tier (tests/conftest.py, QUICK) selects what it says: no entry has
gone stale with a renamed test, and it still goes through every part for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import QUICK

ROOT = Path(__file__).resolve().parent.parent
# A node-id piece for each part the tier must touch.
PARTS = {
    "lint": "tests/test_lint.py::",
    "types": "tests/test_types.py::",
    "a real fit": "tests/test_callbacks_events.py::",
    "TensorBoard, Rust loader": "tests/test_plugin_integration.py::",
    "TensorBoard, Python loader": "[python_loader]",
    "a browser page": "tests/test_frontend.py::",
}


def test_every_entry_selects_tests_and_every_part_is_there():
    files = sorted({entry.split("::")[0] for entry in QUICK})
    cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", "quick"]
    done = subprocess.run(
        [*cmd, *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    assert [entry for entry in QUICK if not any(i.startswith(entry) for i in ids)] == []
    assert [part for part, piece in PARTS.items() if not any(piece in i for i in ids)] == []
    # Only what QUICK lists: the marker comes from the list alone.
    assert all(i.startswith(QUICK) for i in ids)
    assert any(i.endswith("[load_fast]") for i in ids)
