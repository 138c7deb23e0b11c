"""The README's first command, `scripts/demo.sh`, in a venv that only its own set-up made.

It installs the `demo` extra, trains the demo runs (`--quick`) and serves
TensorBoard; the test asks that TensorBoard for the tab's runs. The venv is
kept under .venvs/ (keyed by the set-up files) so that a warm run reuses it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from tb_server import TensorBoardProcess

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ("baseline", "lr_schedule", "diverging", "resumed", "custom")
_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/")


def _demo_venv() -> Path:
    files = ("setup.py", "scripts/pip_install.sh", "scripts/setup_env.sh")
    key = hashlib.sha256(b"".join((ROOT / name).read_bytes() for name in files)).hexdigest()[:12]
    venv = ROOT / ".venvs" / f"demo-{key}"
    for old in (ROOT / ".venvs").glob("demo-*"):
        if old != venv:
            shutil.rmtree(old, ignore_errors=True)
    return venv


class _Served(TensorBoardProcess):
    """The TensorBoard that demo.sh started (the helper's request methods, its process)."""

    def __init__(self, port: int) -> None:  # noqa: D107 - nothing of the parent's start-up
        self.base = f"http://127.0.0.1:{port}"
        self.output = []


@pytest.mark.timeout(3000)
def test_demo_script_trains_and_serves_the_tab(tmp_path):
    """Over 60 s: the README's first command end to end, in a venv of its own
    (built once per change of the set-up files), with its real fits and its
    real TensorBoard."""
    venv = _demo_venv()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "KERAS_BACKEND")}
    env.update(VENV=str(venv), LOGDIR=str(tmp_path / "logs"), PORT="0", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--quick"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # demo.sh execs tensorboard: stop the whole group
    )
    lines: list[str] = []
    port: list[int] = []

    def pump() -> None:
        for line in proc.stdout:
            lines.append(line)
            match = _URL.search(line)
            if match and not port:
                port.append(int(match.group(1)))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 2900
        while not port and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert port, f"demo.sh ended ({proc.poll()}) before serving:\n" + "".join(lines[-60:])
        assert sum(line.startswith("[") for line in lines) == len(EXPERIMENTS), "".join(lines)
        server = _Served(port[0])

        def every_run():
            runs = {r["run"]: r for r in server.plugin_json("runs")["runs"]}
            return runs if {f"{e}/train" for e in EXPERIMENTS} <= set(runs) else None

        runs = server.wait_for(every_run, timeout=120)
        kinds = {kind for run in runs.values() for kind in run["kinds"]}
        assert {"lr_change", "early_stop", "nan_terminated", "backup_restored", "milestone"} <= kinds
        assert server.get("/")[0] == 200
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        reader.join(5)
    # What the venv holds is what the demo's set-up installed: its own extra.
    assert list(venv.glob(".installed-*-demo"))
