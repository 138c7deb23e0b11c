"""The distribution `pip install` builds: the frontend bundle, both entry
points and no Node needed (the wheel is built here from a clean copy)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    src = tmp_path_factory.mktemp("src")
    # Only what git tracks (no node_modules, no .venv): as from a fresh clone.
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        path = Path(name.decode())
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, src / path)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},  # no node on PATH
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = out.glob("*.whl")
    return zipfile.ZipFile(path)


def test_wheel_ships_the_built_frontend(wheel):
    names = set(wheel.namelist())
    for asset in ("index.js", "index.css"):
        name = f"tb_callbacks_plugin/server/static/{asset}"
        assert name in names
        assert wheel.read(name) == (ROOT / name).read_bytes()
    assert not any(n.startswith(("frontend/", "tests/", "node_modules/")) for n in names)


def test_wheel_declares_the_plugin_and_the_cli(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    loader = "callback_events = tb_callbacks_plugin.server.loader:CallbackEventsLoader"
    assert f"[tensorboard_plugins]\n{loader}" in text
    assert "tb-callbacks = tb_callbacks_plugin.cli.main:main" in text


def _requires(wheel: zipfile.ZipFile) -> list[str]:
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    lines = wheel.read(metadata).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]


def test_tensorflow_is_only_an_extra(wheel):
    requires = _requires(wheel)
    base = [r for r in requires if "extra ==" not in r]
    assert {r.split(">")[0].split("<")[0].split("=")[0].strip() for r in base} == {
        "keras",
        "tensorboard",
        "protobuf",
        "werkzeug",
        "numpy",
        "google-crc32c",
    }
    assert any(r.startswith("tensorflow>=") and 'extra == "tensorflow"' in r for r in requires)


@pytest.mark.timeout(300)
def test_installs_next_to_tensorflow_cpu_without_a_second_tensorflow(wheel, tmp_path):
    report = tmp_path / "report.json"
    # What pip would install into an empty environment asked for both.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "-q",
            "--report",
            str(report),
            "tensorflow-cpu",
            wheel.filename,
        ],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    names = {
        item["metadata"]["name"].lower().replace("_", "-")
        for item in json.loads(report.read_text())["install"]
    }
    assert {"tensorflow-cpu", "tb-callbacks-plugin", "keras"} <= names
    assert "tensorflow" not in names


def test_wheel_holds_only_tb_callbacks_plugin(wheel):
    tops = {n.split("/")[0] for n in wheel.namelist() if ".dist-info/" not in n}
    assert tops == {"tb_callbacks_plugin"}
    # callbacks/ of the repository is installed under the one import package.
    assert "tb_callbacks_plugin/callbacks/__init__.py" in wheel.namelist()
    assert "tb_callbacks_plugin/callbacks/tensorboard.py" in wheel.namelist()
    (top_level,) = [n for n in wheel.namelist() if n.endswith(".dist-info/top_level.txt")] or [None]
    if top_level:
        assert wheel.read(top_level).decode().split() == ["tb_callbacks_plugin"]


@pytest.mark.timeout(300)
def test_readme_import_works_beside_a_users_own_callbacks_py(wheel, tmp_path):
    """The wheel installed (its files unpacked onto a path) and run from a project
    folder that has its own callbacks.py: both import, neither shadows the other."""
    site = tmp_path / "site"
    wheel.extractall(site)
    project = tmp_path / "project"
    project.mkdir()
    (project / "callbacks.py").write_text("MINE = 'the user callbacks.py'\n")
    script = (
        "import callbacks as mine\n"
        "from tb_callbacks_plugin import callbacks\n"
        "import keras\n"
        "assert mine.MINE == 'the user callbacks.py', mine\n"
        "assert issubclass(callbacks.TensorBoard, keras.callbacks.Callback)\n"
        "assert callbacks.TensorBoard(log_dir='logs').log_dir == 'logs'\n"
        "assert callbacks.__name__ == 'tb_callbacks_plugin.callbacks'\n"
        "print('ok', callbacks.__file__)\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        # The wheel's files first, then this interpreter's site-packages (Keras, TensorBoard).
        "PYTHONPATH": str(site),
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=280, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok " + str(site))


def test_importing_tb_callbacks_plugin_loads_no_keras():
    unwanted = ("keras", "tensorflow", "callbacks", "tb_callbacks_plugin.callbacks")
    probe = f"import sys, tb_callbacks_plugin; print(sorted(m for m in {unwanted!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"
