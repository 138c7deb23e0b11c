"""`tb-callbacks export`: DuckDB reads the datasets back with the counts of our readers."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from tensorboard.compat.proto import summary_pb2

from tb_callbacks_plugin import EventWriter, read_events, scalars_dataframe
from tb_callbacks_plugin.cli import main as cli
from tb_callbacks_plugin.cli.export import partition_name

duckdb = pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")
EXE = os.path.join(os.path.dirname(sys.executable), "tb-callbacks")
T0 = 1_700_000_000.0
ODD = 'stopped "early", at 1,2\nsecond line — ünïcødé 🚀 </script>'


def _simple(tag: str, value: float) -> summary_pb2.Summary:
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """A real fit that stops early, plus a sweep of hand-written experiments (nested names too)."""
    from keras_helpers import classifier, digits, seed

    from tb_callbacks_plugin import callbacks

    root = tmp_path_factory.mktemp("export")
    seed(0)
    x, y = digits()
    classifier(lr=0.05).fit(
        x,
        y,
        validation_split=0.25,
        epochs=30,
        batch_size=64,
        verbose=0,
        callbacks=[
            callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=0.05),
            callbacks.TensorBoard(str(root / "fit")),
        ],
    )
    for i, name in enumerate(["sweep/lr=0.1", "sweep/lr 0.01", "other"]):
        for run in ("train", "validation"):
            with EventWriter(str(root / name / run)) as writer:
                for step in range(50):
                    loss = float("nan") if (i, step) == (2, 49) else 1.0 / (step + 1) + i
                    writer.write_summary(_simple("epoch_loss", loss), step, wall_time=T0 + step)
                if run == "train":
                    writer.write("lr_change", 10, "halved", epoch=1, old=0.1, new=0.05, wall_time=T0)
                    writer.write(
                        "early_stop", 49, ODD, epoch=49, monitor="val_loss", best=math.inf, patience=3
                    )
                    writer.write("my.kind", 20, "user data", value="not a number", wait=True, wall_time=T0)
    return str(root)


def _query(sql: str):
    return duckdb.sql(sql).fetchall()


def test_parquet_counts_match_the_readers(logdir, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert cli.main(["export", logdir, "-o", out]) == 0
    assert "events.parquet" in capsys.readouterr().out
    events = read_events(logdir)
    scalars = scalars_dataframe(logdir, progress=False)
    ev = f"read_parquet('{out}/events.parquet/*/*.parquet')"
    sc = f"read_parquet('{out}/scalars.parquet/*/*.parquet')"
    assert _query(f"SELECT count(*) FROM {ev}") == [(len(events),)]
    assert _query(f"SELECT count(*) FROM {sc}") == [(len(scalars),)]
    # Per run and kind, and per run and tag.
    by_kind = {}
    for e in events:
        by_kind[(e.run, e.kind)] = by_kind.get((e.run, e.kind), 0) + 1
    assert (
        dict(((r, k), n) for r, k, n in _query(f"SELECT run, kind, count(*) FROM {ev} GROUP BY ALL"))
        == by_kind
    )
    expected_tags = scalars.groupby(["run", "tag"], observed=True).size().to_dict()
    got_tags = {(r, t): n for r, t, n in _query(f"SELECT run, tag, count(*) FROM {sc} GROUP BY ALL")}
    assert got_tags == {(str(r), str(t)): n for (r, t), n in expected_tags.items()}
    # Partitioned by experiment, with exact names in the column (and short, safe folder names).
    experiments = sorted(os.listdir(f"{out}/scalars.parquet"))
    assert experiments == sorted(partition_name(e) for e in ["fit", "other", "sweep/lr 0.01", "sweep/lr=0.1"])
    assert _query(f"SELECT DISTINCT experiment FROM {sc} ORDER BY 1") == [
        ("fit",),
        ("other",),
        ("sweep/lr 0.01",),
        ("sweep/lr=0.1",),
    ]
    # Values and text exact; data as strict JSON; flattened fields typed, null when not of the type.
    stop = _query(
        f"SELECT message, data, data_best, data_patience, data_monitor FROM {ev} WHERE run = 'other/train' "
        "AND kind = 'early_stop'"
    )
    assert stop[0][0] == ODD
    assert json.loads(stop[0][1])["best"] == "Infinity" and stop[0][2] == math.inf and stop[0][3] == 3
    assert stop[0][4] == "val_loss"
    mine = _query(
        f"SELECT data_value, data_wait, json_extract_string(data, '$.value') FROM {ev} WHERE kind = 'my.kind'"
    )
    assert set(mine) == {(None, None, "not a number")}
    nan = _query(f"SELECT value FROM {sc} WHERE run = 'other/validation' AND step = 49")
    assert len(nan) == 1 and math.isnan(nan[0][0])


def test_scalars_are_written_a_run_at_a_time_as_the_frame_has_them(logdir, tmp_path):
    """Each experiment's Parquet file holds a row group per run (each appended as its run is
    read, so only one run's rows are in memory), and its rows are `scalars_dataframe`'s, in
    its order (NaN included)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from tb_callbacks_plugin.conventions import experiment_of

    out = str(tmp_path / "out")
    assert cli.main(["export", logdir, "-o", out, "--no-progress"]) == 0
    frame = scalars_dataframe(logdir, progress=False)
    frame["run"], frame["tag"] = frame["run"].astype(str), frame["tag"].astype(str)
    for experiment in ("fit", "sweep/lr=0.1", "other"):
        runs = sorted({run for run in frame["run"] if experiment_of(run) == experiment})
        assert len(runs) == 2
        parquet = pq.ParquetFile(f"{out}/scalars.parquet/{partition_name(experiment)}/part-0.parquet")
        assert parquet.num_row_groups == len(runs)
        got = parquet.read().to_pandas()
        assert set(got["experiment"].astype(str)) == {experiment}
        got["run"], got["tag"] = got["run"].astype(str), got["tag"].astype(str)
        columns = ["run", "tag", "step", "wall_time", "value"]
        expected = frame[frame["run"].isin(runs)][columns].reset_index(drop=True)
        pd.testing.assert_frame_equal(got[columns], expected)


def test_the_readme_query_finds_the_run_that_stopped_early(logdir, tmp_path):
    out = str(tmp_path / "out")
    assert cli.main(["export", logdir, "-o", out, "--run", "^fit/"]) == 0
    rows = duckdb.sql(
        f"""
        SELECT e.experiment, e.epoch AS stopped_at, min(s.value) AS best_val_loss
        FROM read_parquet('{out}/events.parquet/*/*.parquet') e
        JOIN read_parquet('{out}/scalars.parquet/*/*.parquet') s
          ON s.experiment = e.experiment AND s.run LIKE '%/validation' AND s.tag = 'epoch_loss'
        WHERE e.kind = 'early_stop'
        GROUP BY ALL
        """
    ).fetchall()
    (early,) = [e for e in read_events(logdir) if e.kind == "early_stop" and e.run == "fit/train"]
    frame = scalars_dataframe(logdir, runs="fit/validation", tags="epoch_loss", progress=False)
    assert rows == [("fit", early.epoch, float(frame["value"].min()))]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_read_back_with_the_same_counts(logdir, tmp_path, fmt):
    out = str(tmp_path / "out")
    result = subprocess.run(
        [EXE, "export", logdir, "-o", out, "--format", fmt], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    reader = "read_csv" if fmt == "csv" else "read_json"
    assert _query(f"SELECT count(*) FROM {reader}('{out}/events.{fmt}/*/*.{fmt}')") == [
        (len(read_events(logdir)),)
    ]
    assert _query(f"SELECT count(*) FROM {reader}('{out}/scalars.{fmt}/*/*.{fmt}')") == [
        (len(scalars_dataframe(logdir, progress=False)),)
    ]
    messages = [m for (m,) in _query(f"SELECT message FROM {reader}('{out}/events.{fmt}/*/*.{fmt}')")]
    assert ODD in messages


def test_a_second_export_replaces_the_first(logdir, tmp_path):
    out = str(tmp_path / "out")
    assert cli.main(["export", logdir, "-o", out]) == 0
    assert cli.main(["export", logdir, "-o", out, "--run", "^other/"]) == 0
    assert os.listdir(f"{out}/scalars.parquet") == [partition_name("other")]


def test_nothing_to_export_and_bad_output(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["export", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 1
    (tmp_path / "file").write_text("x")
    assert cli.main(["export", str(tmp_path / "empty"), "-o", str(tmp_path / "file")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_fit_column_tells_repeated_fits_apart(tmp_path):
    """Two fits into one directory: the export's fit column is events_dataframe's."""
    from tb_callbacks_plugin import events_dataframe

    run = tmp_path / "logs" / "exp" / "train"
    for attempt in range(2):
        with EventWriter(str(run)) as writer:
            writer.write("train_begin", 0, "fit begins", epoch=0, wall_time=T0 + 100 * attempt, epochs=2)
            writer.write(
                "train_end", 10, "fit ends", epoch=1, wall_time=T0 + 100 * attempt + 5, reason="completed"
            )
    out = str(tmp_path / "out")
    assert cli.main(["export", str(tmp_path / "logs"), "-o", out, "--no-progress"]) == 0
    got = _query(f"SELECT kind, fit FROM read_parquet('{out}/events.parquet/*/*.parquet') ORDER BY wall_time")
    frame = events_dataframe(str(tmp_path / "logs")).sort_values("wall_time")
    assert got == list(zip(frame["kind"], frame["fit"].tolist(), strict=True))
    assert [fit for _, fit in got] == [0, 0, 1, 1]


def _tree(folder: str) -> dict[str, bytes]:
    found = {}
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def test_a_failing_export_leaves_the_previous_one(tmp_path):
    """The second export runs out of room (a file-size limit: writes fail with
    EFBIG, as on a full disk) after writing part of its files: the first
    export stays whole and no staging folder is left behind."""
    import resource

    logs, out = tmp_path / "logs", str(tmp_path / "out")
    with EventWriter(str(logs / "small" / "train")) as writer:
        writer.write("custom", 1, "small", wall_time=T0)
        writer.write_summary(_simple("epoch_loss", 1.0), 0, wall_time=T0)
    assert cli.main(["export", str(logs), "-o", out, "--format", "csv", "--no-progress"]) == 0
    before = _tree(out)
    assert sorted(os.listdir(out)) == ["events.csv", "scalars.csv"]
    with EventWriter(str(logs / "big" / "train")) as writer:
        for step in range(20_000):
            writer.write_summary(_simple("epoch_loss", 1.0 / (step + 1)), step, wall_time=T0 + step)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    argv = [EXE, "export", str(logs), "-o", out, "--format", "csv", "--no-progress"]
    failed = subprocess.run(argv, capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert failed.returncode == 2 and "cannot write" in failed.stderr, failed.stderr
    assert _tree(out) == before
    assert sorted(os.listdir(out)) == ["events.csv", "scalars.csv"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(out)) == ["events.csv", "scalars.csv"]
    assert sorted(os.listdir(f"{out}/scalars.csv")) == sorted(map(partition_name, ["big", "small"]))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_deep_run_paths_export_with_exact_experiments(tmp_path, fmt):
    """Five nested folders of 60 characters (an ordinary sweep's path), twice
    with only the last folder different: each experiment gets its own short
    partition folder and DuckDB and pyarrow read back the exact names."""
    import pyarrow.dataset as ds

    deep = "/".join(f"{i}-" + "n" * 58 for i in range(4))
    experiments = [f"{deep}/{'a' * 60}", f"{deep}/{'a' * 59}b", "plain"]
    logs, out = tmp_path / "logs", str(tmp_path / "out")
    for n, experiment in enumerate(experiments):
        with EventWriter(str(logs / experiment / "train")) as writer:
            writer.write("custom", 1, f"event {n}", wall_time=T0 + n)
            writer.write_summary(_simple("epoch_loss", float(n)), 0, wall_time=T0 + n)
    assert cli.main(["export", str(logs), "-o", out, "--format", fmt, "--no-progress"]) == 0
    for dataset in ("events", "scalars"):
        folders = os.listdir(f"{out}/{dataset}.{fmt}")
        assert len(folders) == len(experiments) and all(len(f.encode()) <= 80 for f in folders), folders
        reader = "read_parquet" if fmt == "parquet" else "read_csv"
        got = _query(f"SELECT experiment, run FROM {reader}('{out}/{dataset}.{fmt}/*/*.{fmt}') ORDER BY 1")
        assert got == sorted((e, f"{e}/train") for e in experiments)
        if fmt == "parquet":
            table = ds.dataset(f"{out}/{dataset}.{fmt}", partitioning="hive").to_table()
            assert sorted(map(str, table.column("experiment").to_pylist())) == sorted(experiments)
