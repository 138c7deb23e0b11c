"""`tb-callbacks summary` and `export` on a search: hyperparameters beside each trial's ending.

The logdir is written the way a search leaves it (per trial: Keras-like
scalars, callbacks' train_begin/train_end events, and the HParams session
record that `tensorboard.plugins.hparams.api.hparams_pb` builds), with fixed
values, so that the order and counts are known: 40 trials, lines sorted by
the best validation loss, ending counts first, `--top`, `--sort`, and the
hyperparameters in JSON and in the export, queried with DuckDB.
"""

from __future__ import annotations

import glob
import json
import os

import pytest
from test_cli import T0, keras_scalar, run_cli, strict_json

from tb_callbacks_plugin import EventWriter, events_dataframe

hp = pytest.importorskip("tensorboard.plugins.hparams.api")

# (reason, how many trials): "40 trials: 20 completed, 12 early stop, 5 pruned, 3 NaN"
ENDINGS = [("completed", 20), ("early_stop", 12), ("pruned", 5), ("nan", 3)]
RATES = [0.001, 0.003, 0.01, 0.03, 0.1]


def _trials():
    """(name, params, reason, best val_loss) of each trial; a trial's best loss is its index / 100 + 0.5."""
    out = []
    i = 0
    for reason, count in ENDINGS:
        for _ in range(count):
            params = {"learning_rate": RATES[i % len(RATES)], "units": 8 * (1 + i % 3), "opt": "adam"}
            out.append((f"trial_{i:02d}", params, reason, 0.5 + i / 100))
            i += 1
    return out


def write_trial(logdir: str, name: str, params: dict, reason: str, best: float) -> None:
    train = EventWriter(os.path.join(logdir, name, "train"))
    val = EventWriter(os.path.join(logdir, name, "validation"))
    session = EventWriter(os.path.join(logdir, name))  # where the hparams Keras callback writes
    session.write_summary(hp.hparams_pb(params, start_time_secs=T0), 0, wall_time=T0 + 0.5)
    epochs = 1 if reason in ("pruned", "nan") else 3
    train.write("train_begin", 0, "training started", epoch=0, source=None, wall_time=T0, epochs=3, steps=10)
    for epoch in range(epochs):
        t = T0 + 1 + epoch
        loss = float("nan") if reason == "nan" else best + 0.1 * (epochs - 1 - epoch)
        train.write_summary(keras_scalar("epoch_loss", loss), epoch, wall_time=t)
        val.write_summary(keras_scalar("epoch_loss", loss), epoch, wall_time=t)
        train.write_epoch(epoch, (epoch + 1) * 10)
    last = epochs - 1
    train.write(
        "train_end",
        epochs * 10,
        f"training {reason}",
        epoch=last,
        source=None,
        wall_time=T0 + 10,
        reason=reason,
        last_epoch=last,
    )
    for writer in (train, val, session):
        writer.close()


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("search") / "logs")
    for trial in _trials():
        write_trial(logdir, *trial)
    return logdir


def test_summary_counts_endings_and_shows_each_trials_hyperparameters(search, capsys):
    code, out, err = run_cli(capsys, "summary", search)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "40 trials: 20 completed, 12 early stop, 5 pruned, 3 NaN"
    header = lines[1].split()
    assert header[:4] == ["EXPERIMENT", "learning_rate", "opt", "units"]
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == 40
    assert [r[0] for r in rows[:3]] == ["trial_00", "trial_01", "trial_02"]
    # NaN trials have no finite best: listed last.
    assert [r[0] for r in rows[-3:]] == ["trial_37", "trial_38", "trial_39"]
    assert rows[0][1:4] == ["0.001", "adam", "8"]


def test_top_and_sort(search, capsys):
    code, out, _ = run_cli(capsys, "summary", search, "--top", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "40 trials: 20 completed, 12 early stop, 5 pruned, 3 NaN (the first 3 by best)"
    assert [line.split()[0] for line in lines[2:]] == ["trial_00", "trial_01", "trial_02"]
    code, out, _ = run_cli(
        capsys, "summary", search, "--sort", "learning_rate", "--top", "8", "--format", "json"
    )
    rows = strict_json(out)
    assert [r["hparams"]["learning_rate"] for r in rows] == [0.001] * 8
    assert [r["experiment"] for r in rows] == [f"trial_{i:02d}" for i in range(0, 40, 5)]
    code, out, _ = run_cli(capsys, "summary", search, "--sort", "ending", "--format", "jsonl")
    endings = [json.loads(line)["ending"] for line in out.splitlines()]
    assert endings == ["completed"] * 20 + ["early_stop"] * 12 + ["nan"] * 3 + ["pruned"] * 5
    code, _, err = run_cli(capsys, "summary", search, "--sort", "momentum")
    assert code == 2 and "learning_rate" in err and "best" in err


def test_summary_stays_readable_at_1000_trials(tmp_path, capsys):
    logdir = str(tmp_path / "logs")
    for i in range(1000):
        params = {"learning_rate": 10 ** -(1 + i % 4), "units": 8}
        write_trial(logdir, f"t{i:04d}", params, "early_stop" if i % 2 else "completed", 0.5 + i / 10000)
    code, out, err = run_cli(capsys, "summary", logdir, "--top", "10")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "1000 trials: 500 completed, 500 early stop (the first 10 by best)"
    assert len(lines) == 12 and max(len(line) for line in lines) < 200


def test_events_dataframe_answers_which_rates_ended_in_nan(search):
    frame = events_dataframe(search)
    ends = frame[frame.kind == "train_end"]
    nan_rates = sorted(ends[ends.data.str["reason"] == "nan"].hparams.str["learning_rate"])
    assert nan_rates == [0.01, 0.03, 0.1]  # trials 37, 38, 39


def test_export_carries_hyperparameters_for_duckdb(search, tmp_path, capsys):
    duckdb = pytest.importorskip("duckdb")
    out = str(tmp_path / "export")
    code, _, err = run_cli(capsys, "export", search, "-o", out)
    assert code == 0, err
    rows = duckdb.sql(
        f"""
        SELECT CAST(hparams->>'learning_rate' AS DOUBLE) AS lr, count(*) AS n
        FROM read_parquet('{out}/events.parquet/*/*.parquet')
        WHERE kind = 'train_end' AND data_reason = 'nan'
        GROUP BY lr ORDER BY lr
        """
    ).fetchall()
    assert rows == [(0.01, 1), (0.03, 1), (0.1, 1)]
    code, _, _ = run_cli(capsys, "export", search, "-o", str(tmp_path / "jsonl"), "--format", "jsonl")
    assert code == 0
    (part,) = glob.glob(str(tmp_path / "jsonl" / "events.jsonl" / "trial_00-*" / "part-0.jsonl"))
    with open(part, encoding="utf-8") as f:
        first = json.loads(f.readline())
    assert json.loads(first["hparams"]) == {"learning_rate": 0.001, "opt": "adam", "units": 8.0}
