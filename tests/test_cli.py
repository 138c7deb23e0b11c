"""`tb-callbacks events|summary|plot` on logdirs the tests write.

Golden outputs (tests/golden/) come from a logdir with fixed wall times;
regenerate them with `UPDATE_GOLDEN=1 pytest tests/test_cli.py` and review
the diff.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.scalar import metadata as scalar_metadata

from tb_callbacks_plugin import EventWriter, read_events
from tb_callbacks_plugin.cli import loading
from tb_callbacks_plugin.cli import main as cli
from tb_callbacks_plugin.eventfiles import event_reader as reader
from tb_callbacks_plugin.eventfiles.event_reader import find_runs
from tb_callbacks_plugin.eventfiles.scalar_reader import read_run_metrics

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
ODD_MESSAGE = 'saved "best", at 1,2\nsecond line\tend — ünïcødé 日本語 🚀 \x1b[31mred'
EXE = os.path.join(os.path.dirname(sys.executable), "tb-callbacks")


def keras_scalar(tag: str, value: float) -> summary_pb2.Summary:
    """A scalar as Keras writes it: a 0-d float32 tensor with the scalars plugin's metadata."""
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        tensor_content=np.float32(value).tobytes(),
    )
    meta = scalar_metadata.create_summary_metadata(display_name=tag, description="")
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)])


def simple_scalar(tag: str, value: float) -> summary_pb2.Summary:
    """A scalar as tf.compat.v1 / PyTorch write it."""
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])


def write_experiment(logdir, name, losses, val_losses, lrs, steps_per_epoch=10):
    """Scalars of a Keras-like run pair; epoch ends recorded like callbacks.TensorBoard does."""
    train = EventWriter(os.path.join(logdir, name, "train"))
    val = EventWriter(os.path.join(logdir, name, "validation"))
    for epoch, (loss, val_loss, lr) in enumerate(zip(losses, val_losses, lrs, strict=True)):
        t = T0 + epoch
        train.write_summary(keras_scalar("epoch_loss", loss), epoch, wall_time=t)
        train.write_summary(keras_scalar("epoch_learning_rate", lr), epoch, wall_time=t)
        train.write_epoch(epoch, (epoch + 1) * steps_per_epoch)
        val.write_summary(keras_scalar("epoch_loss", val_loss), epoch, wall_time=t)
    return train, val


def make_logdir(logdir) -> str:
    """Three experiments with every built-in kind, odd text and NaN data; fixed wall times."""
    logdir = str(logdir)
    train, val = write_experiment(
        logdir,
        "baseline",
        [1.0, 0.6, 0.45, 0.4, 0.41],
        [1.1, 0.7, 0.5, 0.55, 0.6],
        [0.01, 0.01, 0.01, 0.001, 0.001],
    )
    w = train
    w.write(
        "train_begin",
        0,
        "training started: 5 epochs",
        epoch=0,
        source="TensorBoard",
        wall_time=T0,
        epochs=5,
        steps=10,
    )
    w.write(
        "checkpoint_saved",
        30,
        "saved ckpt/model_03.keras (val_loss 0.5)",
        epoch=2,
        source="ModelCheckpoint",
        wall_time=T0 + 2.5,
        filepath="ckpt/model_03.keras",
        monitor="val_loss",
        value=0.5,
        best=0.5,
    )
    w.write(
        "lr_change",
        40,
        "learning rate 0.01 -> 0.001",
        epoch=3,
        source="ReduceLROnPlateau",
        wall_time=T0 + 3.5,
        old=0.01,
        new=0.001,
        monitor="val_loss",
    )
    w.write(
        "early_stop",
        50,
        "val_loss did not improve for 2 epochs",
        epoch=4,
        source="EarlyStopping",
        wall_time=T0 + 4.5,
        monitor="val_loss",
        best=0.5,
        best_epoch=2,
        patience=2,
        wait=2,
    )
    w.write(
        "weights_restored",
        50,
        "restored weights of epoch 2",
        epoch=4,
        source="EarlyStopping",
        wall_time=T0 + 4.6,
        best_epoch=2,
    )
    w.write(
        "train_end",
        50,
        "training ended: early_stop",
        epoch=4,
        source="TensorBoard",
        wall_time=T0 + 4.7,
        reason="early_stop",
    )
    train.close()
    val.close()

    train, val = write_experiment(
        logdir, "diverge", [2.0, 40.0, float("nan")], [2.5, 80.0, float("nan")], [0.5] * 3
    )
    train.write(
        "train_begin",
        0,
        "training started",
        epoch=0,
        source="TensorBoard",
        wall_time=T0 + 10,
        epochs=20,
        steps=10,
    )
    train.write(
        "nan_terminated",
        23,
        "loss became NaN at batch 3",
        epoch=2,
        source="TerminateOnNaN",
        wall_time=T0 + 12.3,
        batch=3,
        loss=float("nan"),
        history=[float("inf"), float("-inf"), 1.5],
    )
    train.write(
        "train_end",
        23,
        "training ended: nan",
        epoch=2,
        source="TensorBoard",
        wall_time=T0 + 12.4,
        reason="nan",
    )
    train.close()
    val.close()

    # A run that is not Keras-shaped: events only, plus a simple_value scalar.
    with EventWriter(os.path.join(logdir, "odd")) as w:
        w.write_summary(simple_scalar("custom/score", 0.25), 5, wall_time=T0 + 20)
        w.write(
            "my.custom-kind_1",
            5,
            ODD_MESSAGE,
            epoch=None,
            source="MyCallback",
            wall_time=T0 + 20.5,
            note='a,"b"\nc',
            nan=float("nan"),
            inf=float("inf"),
            nested={"日本": [1, None, True]},
        )
        w.write("my.custom-kind_1", 5, "", epoch=1, source=None, wall_time=T0 + 21)
    return logdir


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    return make_logdir(tmp_path_factory.mktemp("cli") / "logs")


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_golden(name: str, text: str) -> None:
    path = os.path.join(GOLDEN, name)
    if os.environ.get("UPDATE_GOLDEN"):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    with open(path, encoding="utf-8", newline="") as f:
        expected = f.read()
    assert text == expected, f"output differs from {path} (UPDATE_GOLDEN=1 to regenerate, then review)"


def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# ---------------------------------------------------------------- events


@pytest.mark.parametrize(
    ("fmt", "golden"),
    [("table", "events.txt"), ("csv", "events.csv"), ("json", "events.json"), ("jsonl", "events.jsonl")],
)
def test_events_golden(logdir, capsys, fmt, golden):
    code, out, err = run_cli(capsys, "events", logdir, "--format", fmt)
    assert code == 0, err
    assert err == ""
    check_golden(golden, out)


def test_events_table_alignment_with_odd_text(logdir, capsys):
    from rich.cells import cell_len

    code, out, _ = run_cli(capsys, "events", logdir, "--max-width", "0")
    assert code == 0
    lines = out.rstrip("\n").split("\n")
    assert len(lines) == 1 + len(read_events(logdir)), "a newline in a message broke a row"
    header = lines[0]
    odd = next(line for line in lines if "ünïcødé" in line)
    # The DATA column starts at the same display column in every row that has
    # data, also after the wide (CJK, emoji) characters of the odd message.
    data_col = cell_len(header[: header.index("DATA")])
    starts = {cell_len(line[: line.index("{")]) for line in lines[1:] if "{" in line}
    assert starts == {data_col}, "wide characters broke the alignment"
    assert "日本語 🚀" in odd
    # Control characters are shown as escapes, never sent to the terminal.
    assert "\x1b" not in out and "\t" not in out
    assert "\\n" in odd and "\\x1b[31mred" in odd and "\\t" in odd
    assert "NaN" in odd and "Infinity" in odd


def test_events_csv_round_trips_exact_text(logdir, capsys):
    code, out, _ = run_cli(capsys, "events", logdir, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    events = read_events(logdir)
    assert [r["kind"] for r in rows] == [e.kind for e in events]
    assert [r["message"] for r in rows] == [e.message for e in events]
    assert ODD_MESSAGE in [r["message"] for r in rows]
    odd = next(r for r in rows if r["message"] == ODD_MESSAGE)
    data = strict_json(odd["data"])
    assert data["nan"] == "NaN" and data["inf"] == "Infinity" and data["note"] == 'a,"b"\nc'
    assert odd["epoch"] == "" and odd["step"] == "5"
    assert float(odd["wall_time"]) == T0 + 20.5
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == list(reader.COLUMNS) and reader.COLUMNS[-1] == "fit"
    assert ODD_MESSAGE in frame["message"].tolist()


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_events_json_is_strict_and_exact(logdir, capsys, fmt):
    code, out, _ = run_cli(capsys, "events", logdir, "--format", fmt)
    assert code == 0
    items = strict_json(out) if fmt == "json" else [strict_json(line) for line in out.splitlines()]
    events = read_events(logdir)
    assert len(items) == len(events)
    for item, event in zip(items, events, strict=True):
        assert item["message"] == event.message
        assert (item["run"], item["kind"], item["step"], item["epoch"]) == (
            event.run,
            event.kind,
            event.step,
            event.epoch,
        )
    nan_event = next(i for i in items if i["kind"] == "nan_terminated")
    assert nan_event["data"]["loss"] == "NaN"
    assert nan_event["data"]["history"] == ["Infinity", "-Infinity", 1.5]


def test_events_filters(logdir, capsys):
    code, out, _ = run_cli(
        capsys,
        "events",
        logdir,
        "--run",
        "^baseline/",
        "--kind",
        "lr_change",
        "--kind",
        "early_stop",
        "--format",
        "jsonl",
    )
    assert code == 0
    items = [json.loads(line) for line in out.splitlines()]
    assert [(i["run"], i["kind"]) for i in items] == [
        ("baseline/train", "lr_change"),
        ("baseline/train", "early_stop"),
    ]


def test_events_none_found_exits_1(logdir, capsys, tmp_path):
    code, out, err = run_cli(capsys, "events", logdir, "--kind", "backup_restored")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "no callback events" in err
    code, out, _ = run_cli(capsys, "events", logdir, "--run", "nothing-matches", "--format", "json")
    assert code == 1 and json.loads(out) == []
    code, out, _ = run_cli(capsys, "events", logdir, "--run", "nothing-matches", "--format", "csv")
    assert code == 1 and out == "run,kind,step,epoch,wall_time,source,message,data,fit\r\n"
    code, out, _ = run_cli(capsys, "events", tmp_path)  # an empty directory
    assert code == 1 and out == ""


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["events", "{missing}"], "logdir not found"),
        (["events", "{file}"], "not a directory"),
        (["events", "{logdir}", "--format", "xml"], "invalid choice"),
        (["events", "{logdir}", "--run", "(unclosed"], "invalid regular expression"),
        (["events", "{logdir}", "--kind", "Bad Kind"], "not a valid event kind"),
        (["events", "{logdir}", "--max-width", "-3"], "invalid width"),
        (["events"], "required"),
        ([], "required"),
        (["frobnicate", "{logdir}"], "invalid choice"),
        (["events", "{logdir}", "--bogus"], "unrecognized arguments"),
        (["plot", "{logdir}"], "required"),
        (["plot", "{logdir}", "-o", "{tmp}/out.xyz"], "unsupported image type"),
        (["plot", "{logdir}", "-o", "{tmp}/no/such/dir/out.png"], "does not exist"),
        (["plot", "{logdir}", "-o", "{tmp}/out.png", "--metric", "no_such_tag"], "no such scalar tag"),
        # summary refuses it as plot does (it printed empty columns and exited 0), naming the tags.
        (["summary", "{logdir}", "--metric", "no_such_tag"], "no such scalar tag"),
        (["summary", "{logdir}", "--metric", "epoch_los", "--format", "json"], "epoch_loss"),
    ],
)
def test_bad_input_exits_2_with_one_line(logdir, capsys, tmp_path, argv, needle):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    fill = {"missing": tmp_path / "missing", "file": a_file, "logdir": logdir, "tmp": tmp_path}
    code, out, err = run_cli(capsys, *[a.format(**fill) for a in argv])
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("tb-callbacks: "), err
    assert needle in err
    assert "Traceback" not in err


def test_console_script_exit_codes(logdir, tmp_path):
    """The installed entry point: real process, real exit codes, no traceback."""
    assert os.path.exists(EXE), "run .venv/bin/pip install -e . --no-deps"
    ok = subprocess.run(
        [EXE, "events", logdir, "--format", "jsonl"], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0 and len(ok.stdout.splitlines()) == len(read_events(logdir))
    missing = subprocess.run(
        [EXE, "events", str(tmp_path / "nope")], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    bad = subprocess.run([EXE, "events", logdir, "--format"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    empty = subprocess.run(
        [EXE, "events", logdir, "--kind", "backup_restored"], capture_output=True, text=True, timeout=60
    )
    assert empty.returncode == 1 and empty.stdout == ""
    # `| head` closing the pipe early is not an error.
    head = subprocess.run(
        f"'{EXE}' events '{logdir}' --format jsonl | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert head.returncode == 0 and "Traceback" not in head.stderr and len(head.stdout.splitlines()) == 1


def test_version():
    """`tb-callbacks --version`: the version setup.py gives and the event format version."""
    from tb_callbacks_plugin.metadata import FORMAT_VERSION

    with open(os.path.join(os.path.dirname(GOLDEN), os.pardir, "setup.py"), encoding="utf-8") as f:
        (version,) = re.findall(r'version="([^"]+)"', f.read())
    result = subprocess.run([EXE, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"tb-callbacks {version} (event format {FORMAT_VERSION})\n"


def test_progress_bar_only_when_slow(logdir, capsys, monkeypatch):
    code, _, err = run_cli(capsys, "events", logdir)
    assert code == 0 and err == ""  # fast read: no bar
    monkeypatch.setenv(loading.PROGRESS_DELAY_ENV, "0")  # as if every read were slow
    code, out, err = run_cli(capsys, "events", logdir, "--format", "jsonl")
    assert code == 0
    assert "reading event files" in err and "%" in err
    assert len(out.splitlines()) == len(read_events(logdir)), "the bar must not go to stdout"
    code, _, err = run_cli(capsys, "events", logdir, "--no-progress")
    assert code == 0 and err == ""


def test_corrupt_file_warns_in_one_line_and_keeps_the_rest(logdir, capsys, tmp_path):
    copy = tmp_path / "logs"
    shutil.copytree(logdir, copy)
    (path,) = find_runs(copy)["odd"]
    with open(path, "r+b") as f:
        f.seek(f.read().index(b"my.custom-kind_1"))
        f.write(b"\xff" * 8)  # damage the odd run's first event record
    code, out, err = run_cli(capsys, "events", copy, "--format", "jsonl")
    assert code == 0
    assert "warning:" in err and "corrupt" in err
    assert all(line.startswith("tb-callbacks: warning:") for line in err.splitlines())
    kinds = [json.loads(line)["kind"] for line in out.splitlines()]
    assert "early_stop" in kinds and "nan_terminated" in kinds
    assert len(kinds) == len(read_events(logdir)) - 2  # both odd events were one bundle record


@pytest.mark.parametrize(
    "argv",
    [
        ["events"],
        ["summary"],
        ["report", "-o", "{tmp}/r.html"],
        ["export", "-o", "{tmp}/out", "--format", "csv"],
        ["plot", "-o", "{tmp}/p.png"],
    ],
)
def test_each_damaged_record_is_told_once(capsys, tmp_path, argv):
    # summary, report, export and plot once read each file twice (events, then scalars):
    # both readers warned about the same record, and each warning was printed twice.
    run_dir = tmp_path / "logs" / "exp" / "train"
    with EventWriter(str(run_dir)) as writer:
        for i in range(6):
            writer.write("custom", i, f"message number {i}")
            writer.write_summary(keras_scalar("epoch_loss", 1.0 / (i + 1)), i, wall_time=T0 + i)
            writer.flush()
    (path,) = find_runs(tmp_path / "logs")["exp/train"]
    with open(path, "r+b") as f:
        buf = bytearray(f.read())
        buf[buf.index(b"message number 3") + 2] ^= 0xFF  # the record's CRC no longer matches
        f.seek(0)
        f.write(buf)
    command, *rest = argv
    code, _, err = run_cli(
        capsys, command, tmp_path / "logs", "--no-progress", *[a.format(tmp=tmp_path) for a in rest]
    )
    assert code == 0, err
    assert err.count("corrupt bytes") == 1, err


@pytest.mark.parametrize(
    "argv",
    [
        ["summary"],
        ["report", "-o", "{tmp}/r.html"],
        ["export", "-o", "{tmp}/out"],
        ["export", "-o", "{tmp}/out", "--format", "csv"],
        ["plot", "-o", "{tmp}/p.png"],
    ],
)
def test_commands_read_each_file_once(capsys, tmp_path, monkeypatch, argv):
    """Events and scalars come from one read of each file (issue 22: report and export read
    every file twice, once for events and once for scalars), with the same output."""
    from tb_callbacks_plugin.eventfiles import scalar_layout, storage

    logdir = tmp_path / "logs"
    for name in ("a/train", "a/validation", "b/train"):
        with EventWriter(str(logdir / name)) as writer:
            for i in range(4):
                writer.write("custom", i, f"event {i}")
                writer.write_summary(keras_scalar("epoch_loss", 1.0 / (i + 1)), i, wall_time=T0 + i)
    command, *rest = argv
    args = [command, logdir, "--no-progress", *[a.format(tmp=tmp_path) for a in rest]]
    code, before, _ = run_cli(capsys, *args)
    assert code == 0
    reads: dict[str, int] = {}
    original_bytes, original_path = storage.read_bytes, scalar_layout.FileReader.read_path

    def read_bytes(path, *more, **options):
        reads[path] = reads.get(path, 0) + 1
        return original_bytes(path, *more, **options)

    def read_path(self, path):
        reads[path] = reads.get(path, 0) + 1
        return original_path(self, path)

    monkeypatch.setattr(storage, "read_bytes", read_bytes)
    monkeypatch.setattr(scalar_layout.FileReader, "read_path", read_path)
    code, after, _ = run_cli(capsys, *args)
    assert code == 0
    files = [path for paths in find_runs(logdir).values() for path in paths]
    assert sorted(reads) == sorted(files) and set(reads.values()) == {1}, reads
    assert after == before


# ---------------------------------------------------------------- metrics, summary


def test_metrics_reader_decodes_keras_and_simple_scalars(logdir):
    runs = find_runs(logdir)
    train = read_run_metrics("baseline/train", runs["baseline/train"])
    assert train.scalars["epoch_loss"].steps == [0, 1, 2, 3, 4]
    assert train.scalars["epoch_loss"].values == pytest.approx([1.0, 0.6, 0.45, 0.4, 0.41])
    assert train.scalars["epoch_learning_rate"].values == pytest.approx([0.01, 0.01, 0.01, 0.001, 0.001])
    assert train.epoch_steps == {0: 10, 1: 20, 2: 30, 3: 40, 4: 50}
    assert not any(tag.startswith("callback_events") for tag in train.scalars)
    odd = read_run_metrics("odd", runs["odd"])
    assert odd.scalars["custom/score"].values == [0.25]
    diverge = read_run_metrics("diverge/train", runs["diverge/train"])
    assert math.isnan(diverge.scalars["epoch_loss"].values[-1])


def _bulk_and_record_by_record(logdir) -> None:
    """The commands' metrics (`loading.load`, the bulk reader) equal `read_run_metrics`'s
    (a protobuf parse per record) for every run."""
    runs, _, metrics = loading.load(str(logdir), None, progress=False, scalars=True)
    assert set(metrics) == set(runs)
    for run, paths in runs.items():
        bulk = dataclasses.replace(metrics[run], plugins={})  # (what the bulk reader keeps besides)
        # (compared as text: NaN equals NaN there)
        assert repr(bulk) == repr(read_run_metrics(run, paths)), run


def test_commands_read_metrics_in_bulk_as_record_by_record(logdir):
    _bulk_and_record_by_record(logdir)


@pytest.mark.parametrize("path", ["numpy", "compiled"])
def test_bulk_metrics_of_large_files_with_several_fits(tmp_path, monkeypatch, path):
    """Files past the bulk reader's small-file cut (layouts decoded in bulk, by numpy or
    by the compiled sweep), two fits in one run dir, NaN and a repeated epoch."""
    from tb_callbacks_plugin.eventfiles import scalar_kernels, scalar_layout

    if path == "compiled":
        monkeypatch.setattr(scalar_kernels, "MIN_BYTES", 0)
    else:
        monkeypatch.setenv(scalar_kernels.PURE_ENV, "1")
    for fit in range(2):
        with EventWriter(str(tmp_path / "exp" / "train"), filename_suffix=f".{fit}") as writer:
            writer.write("train_begin", 0, "begin", wall_time=T0 + 10_000 * fit)
            for epoch in [*range(400), 399]:
                t = T0 + 10_000 * fit + epoch
                loss = math.nan if epoch == 250 else 1.0 / (epoch + 1) + fit
                writer.write_summary(keras_scalar("epoch_loss", loss), epoch, wall_time=t)
                writer.write_summary(simple_scalar("custom/score", epoch * 0.5), epoch, wall_time=t)
                writer.write_epoch(epoch, (epoch + 1) * 10, wall_time=t)
    (first, _) = find_runs(tmp_path)["exp/train"]
    assert os.path.getsize(first) > scalar_layout.SMALL_FILE_BYTES
    _bulk_and_record_by_record(tmp_path)


def test_summary_golden_and_content(logdir, capsys):
    code, out, err = run_cli(capsys, "summary", logdir)
    assert code == 0, err
    check_golden("summary.txt", out)
    code, out, _ = run_cli(capsys, "summary", logdir, "--format", "json")
    rows = {row["experiment"]: row for row in strict_json(out)}
    assert set(rows) == {"baseline", "diverge", "odd"}
    base = rows["baseline"]
    # EarlyStopping monitored val_loss: the validation run's epoch_loss.
    assert base["metric"] == "validation/epoch_loss" and base["mode"] == "min"
    assert base["best"] == pytest.approx(0.5) and base["best_epoch"] == 2
    assert base["final"] == pytest.approx(0.6) and base["epochs"] == 5
    assert base["lr_changes"] == 1 and base["lr"] == "0.01 -> 0.001"
    # Text for people counts epochs as Keras's console does; best_epoch (a field) stays 0-based.
    assert base["ended"] == "early_stop at epoch 5, restored epoch 3"
    div = rows["diverge"]
    assert div["final"] == "NaN" and div["best"] == pytest.approx(2.5) and div["ended"] == "nan at epoch 3"
    assert rows["odd"]["metric"] is None and rows["odd"]["ended"] == "no train_begin/train_end events"
    code, out, _ = run_cli(capsys, "summary", logdir, "--metric", "epoch_learning_rate", "--format", "jsonl")
    base = json.loads(out.splitlines()[0])
    assert base["metric"] == "train/epoch_learning_rate" and base["final"] == pytest.approx(0.001)


def test_summary_of_empty_logdir_exits_1(capsys, tmp_path):
    code, out, err = run_cli(capsys, "summary", tmp_path)
    assert code == 1 and out == "" and "no runs" in err


# ---------------------------------------------------------------- plot


def test_plot_draws_curves_and_markers(logdir, capsys, tmp_path):
    from matplotlib.image import imread

    out_png = tmp_path / "report.png"
    code, out, err = run_cli(capsys, "plot", logdir, "-o", out_png, "--title", "Report")
    assert code == 0, err
    assert "epoch_loss" in out and "epoch_learning_rate" in out
    image = imread(out_png)
    # 3 experiments x 2 metrics at 100 dpi: 5.5 in per column, 2.8 in per row.
    assert image.shape[1] == 1100 and image.shape[0] >= 3 * 280
    assert image[..., :3].std() > 0.05, "the figure is blank"

    # The markers are really there: the same figure without events differs.
    no_events = tmp_path / "no_events.png"
    assert (
        cli.main(["plot", logdir, "-o", str(no_events), "--title", "Report", "--kind", "no-such-kind"]) == 0
    )
    assert (imread(no_events) != image).any()
    one = tmp_path / "one.png"
    assert cli.main(["plot", logdir, "-o", str(one), "--run", "^baseline/", "--metric", "epoch_loss"]) == 0
    assert imread(one).shape[1] == 550
    capsys.readouterr()


def test_plot_figure_content(logdir, tmp_path, monkeypatch):
    """Inspect the Figure itself: lines per run, a vertical line per event, a legend of kinds."""
    import matplotlib.figure

    from tb_callbacks_plugin.cli import plotting

    saved = {}
    original = matplotlib.figure.Figure.savefig

    def spy(self, *args, **kwargs):
        saved["fig"] = self
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    assert (
        cli.main(
            ["plot", logdir, "-o", str(tmp_path / "x.png"), "--run", "^baseline/", "--metric", "epoch_loss"]
        )
        == 0
    )
    fig = saved["fig"]
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert set(lines) == {"train", "validation"}
    # Epoch-indexed metrics moved to the global step where each epoch ended.
    assert list(lines["train"].get_xdata()) == [10, 20, 30, 40, 50]
    marker_xs = sorted(float(seg[0][0]) for coll in ax.collections for seg in coll.get_segments())
    assert marker_xs == sorted(float(e.step) for e in read_events(logdir) if e.run.startswith("baseline/"))
    lane_markers = sorted(
        x for line in ax.get_lines() if line.get_label().startswith("_event_") for x in line.get_xdata()
    )
    assert lane_markers == marker_xs
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "train_begin",
        "train_end",
        "lr_change",
        "early_stop",
        "checkpoint_saved",
        "weights_restored",
    ]
    assert plotting.default_metrics({}) == []


def test_plot_nothing_exits_1(capsys, tmp_path):
    code, _, err = run_cli(capsys, "plot", tmp_path, "-o", tmp_path / "x.png")
    assert code == 1 and "nothing to plot" in err
    assert not (tmp_path / "x.png").exists()


def test_url_logdir_reads_like_a_directory(logdir, capsys):
    """A logdir URL (fsspec's in-process memory:// file system) gives the same output."""
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    for run, paths in find_runs(logdir).items():
        for path in paths:
            with open(path, "rb") as f:
                memory.pipe(f"/cli-logs/{run}/{os.path.basename(path)}", f.read())
    try:
        for argv in (["events", "--format", "jsonl"], ["summary", "--format", "json"]):
            local = run_cli(capsys, argv[0], logdir, *argv[1:])
            remote = run_cli(capsys, argv[0], "memory://cli-logs", *argv[1:])
            assert remote == local and local[0] == 0
        code, _, err = run_cli(capsys, "events", "memory://no-such-logs")
        assert code == 2 and "logdir not found" in err and err.count("\n") == 1
    finally:
        memory.rm("/cli-logs", recursive=True)
