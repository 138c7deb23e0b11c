"""The README's first command, `scripts/demo.sh`, in a venv that only its own set-up made.

It installs the `demo` extra, trains the demo runs (`--quick`) and serves
TensorBoard; the test asks that TensorBoard for the tab's runs, checks that
the tab's address is the last thing said, and then runs every example of the
README (its `python` and `console` blocks, in order) in that venv on those
runs. The `bash` blocks are set-up commands: demo.sh is this test, the others
install from an index, run the whole suite or build the frontend. The venv is
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
# TensorFlow's C++ start-up notes, which demo.sh keeps out of its output.
_CHATTER = re.compile(r"absl::InitializeLog|^[IWE]\d{4} |oneDNN|cuda|cpu_feature_guard")
# What the README's fragments take as given: a compiled model and its data.
_GIVEN = """
import keras
from sklearn.datasets import load_digits

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
"""


def readme_examples() -> list[tuple[str, str]]:
    """(language, code) of every python and console block of the README, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        (lang, code)
        for lang, code in re.findall(r"^```(\w+)\n(.*?)^```", text, re.S | re.M)
        if lang in ("python", "console")
    ]


def run_readme_examples(venv: Path, cwd: Path, env: dict[str, str]) -> list[str]:
    """Runs each example in `cwd` (where `logs` is the demo's logdir); what each ran, in order."""
    env = {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"}
    ran = []
    for lang, code in readme_examples():
        if lang == "python":
            source = (_GIVEN if "model.fit(x, y" in code else "") + code
            commands = [[str(venv / "bin" / "python"), "-c", source]]
        else:  # a console session: the `$ ` lines are commands, the others their output
            commands = [["bash", "-c", line[2:]] for line in code.splitlines() if line.startswith("$ ")]
        for argv in commands:
            done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, f"README example failed:\n{argv[-1]}\n{done.stdout}\n{done.stderr}"
            ran.append(argv[-1])
    return ran


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
        # The tab's address is said last and plainly, after no TensorFlow start-up notes.
        said = [line.rstrip() for line in lines if line.strip()]
        assert said[-1] == f"  Open http://127.0.0.1:{port[0]}/#callback_events", "".join(lines[-20:])
        assert [line for line in said if _CHATTER.search(line)] == [], "".join(lines)
        assert not any("next: tensorboard" in line for line in said)
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
    # Every README example runs there, on the demo's runs (export needs pyarrow, the query DuckDB).
    ran = run_readme_examples(venv, tmp_path, env)
    assert any(command.startswith("tb-callbacks export logs") for command in ran)
    assert any("duckdb.sql(" in command for command in ran)
    assert (tmp_path / "out" / "events.parquet").is_dir() and (tmp_path / "report.html").is_file()
