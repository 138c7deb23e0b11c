"""The demo (`demo/train.py --quick`): real Keras fits on scikit-learn's digits.

One real process trains every run; the test checks each planned event kind
appears where it should, then runs the CLI on what real training wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tb_callbacks_plugin import BUILTIN_KINDS, read_events
from tb_callbacks_plugin.cli import main as cli
from tb_callbacks_plugin.eventfiles.event_reader import find_runs
from tb_callbacks_plugin.eventfiles.scalar_reader import read_run_metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = ("baseline", "lr_schedule", "diverging", "resumed", "custom")


@pytest.fixture(scope="module")
def demo_logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("demo") / "logs"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "demo", "train.py"), "--logdir", str(logdir), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=str(tmp_path_factory.mktemp("cwd")),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return str(logdir), proc.stdout


def kinds_of(events, experiment):
    return [e.kind for e in events if e.run.split("/")[0] == experiment]


@pytest.mark.timeout(300)
def test_demo_writes_every_planned_event(demo_logdir):
    logdir, stdout = demo_logdir
    progress = [line for line in stdout.splitlines() if line.startswith("[")]
    assert len(progress) == len(RUNS), stdout
    assert all("MISSING" not in line for line in progress), stdout

    events = read_events(logdir)
    assert {e.kind for e in events} >= {*BUILTIN_KINDS, "milestone"}
    for experiment in RUNS:
        kinds = kinds_of(events, experiment)
        assert "train_begin" in kinds and "train_end" in kinds, (experiment, kinds)

    def ends(experiment):
        return [
            e.data.get("reason")
            for e in events
            if e.kind == "train_end" and e.run.startswith(experiment + "/")
        ]

    baseline = kinds_of(events, "baseline")
    for kind in ("lr_change", "checkpoint_saved", "early_stop", "weights_restored"):
        assert kind in baseline, baseline
    assert ends("baseline")[-1] == "early_stop"

    schedule = [e for e in events if e.run.startswith("lr_schedule/") and e.kind == "lr_change"]
    # The epoch table's changes, at the epochs the table names.
    assert [e.epoch for e in schedule] == [4, 8]
    assert [v for e in schedule for v in (e.data["old"], e.data["new"])] == pytest.approx(
        [3e-3, 1e-3, 1e-3, 3e-4]
    )

    nan = [e for e in events if e.run.startswith("diverging/") and e.kind == "nan_terminated"]
    assert len(nan) == 1 and ends("diverging")[-1] == "nan"

    restored = [e for e in events if e.run.startswith("resumed/") and e.kind == "backup_restored"]
    assert len(restored) == 1 and restored[0].data["initial_epoch"] == 5
    assert ends("resumed")[-1] == "completed"

    milestones = [e for e in events if e.kind == "milestone"]
    assert milestones and all(e.run.startswith("custom/") for e in milestones)
    assert all(
        e.source == "Milestones" and 0.8 <= e.data["threshold"] <= e.data["val_accuracy"] for e in milestones
    )


@pytest.mark.timeout(300)
def test_cli_on_real_training_logs(demo_logdir, capsys, tmp_path):
    logdir, _ = demo_logdir
    runs = find_runs(logdir)
    # The TensorBoard drop-in wrote Keras's scalars where our metric reader finds them.
    train = read_run_metrics("baseline/train", runs["baseline/train"])
    assert len(train.scalars["epoch_loss"].steps) >= 5 and train.epoch_steps

    assert cli.main(["summary", logdir, "--format", "json"]) == 0
    rows = {row["experiment"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(RUNS)
    assert rows["baseline"]["metric"] == "validation/epoch_loss"
    assert (
        rows["baseline"]["ended"].startswith("early_stop at epoch")
        and "restored epoch" in rows["baseline"]["ended"]
    )
    assert rows["diverging"]["ended"].startswith("nan at epoch")
    assert rows["lr_schedule"]["lr_changes"] == 2 and rows["lr_schedule"]["lr"] == "0.003 -> 0.0003"
    assert "resumed at epoch 6" in rows["resumed"]["ended"] and rows["resumed"]["ended"].endswith("completed")

    assert cli.main(["events", logdir, "--kind", "nan_terminated", "--format", "jsonl"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["run"] == "diverging/train"

    png = tmp_path / "demo.png"
    assert cli.main(["plot", logdir, "-o", str(png)]) == 0
    assert png.stat().st_size > 10_000


def test_report_and_export_of_the_demo(demo_logdir, capsys, tmp_path):
    pytest.importorskip("pyarrow")
    logdir, _ = demo_logdir
    page = tmp_path / "demo.html"
    assert cli.main(["report", logdir, "-o", str(page), "--no-progress"]) == 0
    assert 100_000 < page.stat().st_size < 5 * 2**20  # the bundle and every run, reduced
    assert cli.main(["export", logdir, "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    import pyarrow.parquet as pq

    # One folder per experiment (NAME-HASH), the experiment itself a column.
    dataset = tmp_path / "out" / "events.parquet"
    assert len(os.listdir(dataset)) == len(RUNS)
    experiments = pq.read_table(dataset, columns=["experiment"]).column("experiment").to_pylist()
    assert sorted(set(experiments)) == sorted(RUNS)
