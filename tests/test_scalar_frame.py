"""`scalars_dataframe` against tbparse, TensorBoard's own accumulator and damaged files.

The oracle for "which values are scalars" is TensorBoard itself: its
plugin_event_accumulator says which tags are of the scalars plugin; tbparse
gives the rows (its `.scalars` for `simple_value`s, its `.tensors` for TF 2
scalars).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import random
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from tb_callbacks_plugin import CorruptRecordWarning, EventWriter, conventions, scalars_dataframe
from tb_callbacks_plugin.eventfiles import records, scalar_kernels, scalar_layout
from tb_callbacks_plugin.eventfiles.event_reader import find_runs
from tb_callbacks_plugin.eventfiles.scalar_frame import read_scalar_columns

# The moto S3 server of the remote-storage tests, for the URL test (skipped
# there when s3fs or moto is not installed).
with contextlib.suppress(pytest.skip.Exception):
    from test_remote import s3  # noqa: F401

pytest.importorskip("pandas")
T0 = 1_700_000_000.0


def _tensor_scalar(tag, value, *, dtype=types_pb2.DT_FLOAT, content=True, metadata=True):
    numpy_type = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64}[dtype]
    tensor = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto())
    if content:
        tensor.tensor_content = numpy_type(value).tobytes()
    elif dtype == types_pb2.DT_FLOAT:
        tensor.float_val.append(value)
    else:
        tensor.double_val.append(value)
    value_proto = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if metadata:
        from tensorboard.plugins.scalar import metadata as scalar_metadata

        value_proto.metadata.CopyFrom(
            scalar_metadata.create_summary_metadata(display_name=tag, description="")
        )
    return summary_pb2.Summary(value=[value_proto])


def _simple(tag, value):
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])


def _key(value: float):
    return "nan" if math.isnan(value) else value


def ours(logdir, **kwargs) -> list[tuple]:
    frame = scalars_dataframe(logdir, progress=False, **kwargs)
    return sorted(
        (str(r), str(t), int(s), float(w), _key(float(v)))
        for r, t, s, w, v in zip(
            frame["run"], frame["tag"], frame["step"], frame["wall_time"], frame["value"], strict=True
        )
    )


def scalar_tags_by_tensorboard(logdir) -> dict[str, set[str]]:
    """Run -> its tensor tags of the scalars plugin, as TensorBoard's own loader classifies them."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea

    out = {}
    for run in find_runs(logdir):
        acc = pea.EventAccumulator(os.path.join(logdir, run), size_guidance={pea.TENSORS: 0})
        acc.Reload()
        out[run] = set(acc.PluginTagToContent("scalars"))
    return out


def by_tbparse(logdir) -> list[tuple]:
    from tbparse import SummaryReader

    reader = SummaryReader(logdir, extra_columns={"dir_name", "wall_time"})
    rows = []
    scalars = reader.scalars
    if len(scalars):
        for d, t, s, w, v in zip(
            scalars["dir_name"],
            scalars["tag"],
            scalars["step"],
            scalars["wall_time"],
            scalars["value"],
            strict=True,
        ):
            rows.append((d or ".", t, int(s), float(w), _key(float(v))))
    tensors = reader.tensors
    keep = scalar_tags_by_tensorboard(logdir)
    simple_tags = {(r[0], r[1]) for r in rows}
    if len(tensors):
        for d, t, s, w, v in zip(
            tensors["dir_name"],
            tensors["tag"],
            tensors["step"],
            tensors["wall_time"],
            tensors["value"],
            strict=True,
        ):
            run = d or "."
            if t in keep.get(run, ()) and (run, t) not in simple_tags:
                rows.append((run, t, int(s), float(w), _key(float(v))))
    return sorted(rows)


def by_tensorboard(logdir) -> list[tuple]:
    """Every scalar as TensorBoard's Python loader serves it (simple_values migrated to tensors)."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    rows = []
    for run in find_runs(logdir):
        acc = pea.EventAccumulator(os.path.join(logdir, run), size_guidance={pea.TENSORS: 0})
        acc.Reload()
        for tag in acc.PluginTagToContent("scalars"):
            for event in acc.Tensors(tag):
                value = float(tensor_util.make_ndarray(event.tensor_proto).item())
                rows.append((run, tag, int(event.step), float(event.wall_time), _key(value)))
    return sorted(rows)


@pytest.fixture(params=["numpy", "compiled"])
def reader_path(request, monkeypatch):
    """Each test using it runs on both decoding paths: the numpy one and the
    numba one (`scalar_kernels`), forced on for files of any size."""
    if request.param == "compiled":
        monkeypatch.setattr(scalar_kernels, "MIN_BYTES", 0)
        monkeypatch.delenv(scalar_kernels.PURE_ENV, raising=False)
        assert scalar_kernels.available(), "numba (the `fast` extra, in `test`) is not installed"
    else:
        monkeypatch.setenv(scalar_kernels.PURE_ENV, "1")
    return request.param


# ---------------------------------------------------------------- logdirs


@pytest.fixture(scope="module")
def keras_logdir(tmp_path_factory):
    """A real fit: keras.callbacks.TensorBoard (batch and epoch scalars) and ours side by side."""
    import keras
    from keras_helpers import classifier, digits, seed

    from tb_callbacks_plugin import callbacks

    logdir = tmp_path_factory.mktemp("keras")
    seed(0)
    x, y = digits()
    model = classifier()
    model.fit(
        x,
        y,
        validation_split=0.25,
        epochs=3,
        batch_size=64,
        verbose=0,
        callbacks=[
            keras.callbacks.TensorBoard(str(logdir / "stock"), update_freq=1),
            callbacks.TensorBoard(str(logdir / "ours"), update_freq=1),
            callbacks.ReduceLROnPlateau(patience=0, factor=0.5, monitor="loss", min_delta=10.0),
        ],
    )
    return str(logdir)


@pytest.fixture(scope="module")
def mixed_logdir(tmp_path_factory):
    """Every writer's scalar layout, NaN/Inf, repeated and backward steps, several files per run."""
    import tensorflow as tf

    logdir = tmp_path_factory.mktemp("mixed")
    # tf.summary (TF 2), two writers into one run dir: two files, steps repeated across them.
    for attempt in range(2):
        writer = tf.summary.create_file_writer(str(logdir / "tf2"), filename_suffix=f".{attempt}")
        with writer.as_default():
            for step in range(0, 300, 3):
                special = [float("nan"), float("inf"), -float("inf")][(step // 30) % 3]
                value = special if step % 30 == 0 else step * 0.5
                tf.summary.scalar("loss", value + attempt, step=step)
                tf.summary.scalar("big/step", 1.0, step=step * 1_000_003 + 2**40)
            tf.summary.histogram("weights", np.arange(10.0), step=0)
            tf.summary.text("note", "not a scalar", step=0)
        writer.close()
    # tensorboardX / PyTorch / tf.compat.v1: simple_value, at the logdir itself (run ".").
    with EventWriter(str(logdir)) as root:
        for step in [0, 1, 2, 2, 2, 5, 3, 300, 128, 16384, 2**35]:
            root.write_summary(_simple("simple/acc", step / 7.0), step, wall_time=T0 + step)
        root.write_summary(_simple("simple/nan", float("nan")), 4, wall_time=T0)
        root.write_summary(_simple("simple/neg_step", -1.5), -3, wall_time=T0)
        root.write_summary(_simple("simple/zero", 0.0), 0, wall_time=0.0)
    # Tensor scalars in every encoding; metadata on the first record of a tag only.
    with EventWriter(str(logdir / "encodings" / "train")) as writer:
        for step in range(40):
            first = step == 0
            writer.write_summary(_tensor_scalar("f32_content", step * 1.25, metadata=first), step, T0 + step)
            writer.write_summary(
                _tensor_scalar("f64_content", step / 3, dtype=types_pb2.DT_DOUBLE, metadata=first), step, T0
            )
            writer.write_summary(_tensor_scalar("f32_val", -step, content=False, metadata=first), step, T0)
            writer.write_summary(
                _tensor_scalar("f64_val", 1e300 * step, dtype=types_pb2.DT_DOUBLE, content=False), step, T0
            )
            # No scalars metadata at all: a tensor, not a scalar.
            writer.write_summary(_tensor_scalar("bare_tensor", step, metadata=False), step, T0)
            writer.write("custom", step, "an event beside the scalars")
        two = summary_pb2.Summary()
        two.value.extend(_simple("merged/a", 1.0).value)
        two.value.extend(_simple("merged/b", 2.0).value)
        writer.write_summary(two, 7, T0)
    return str(logdir)


# ---------------------------------------------------------------- against tbparse


def test_keras_fit_matches_tensorboard_and_tbparse(keras_logdir, reader_path):
    found = ours(keras_logdir)
    tags = {(r, t) for r, t, *_ in found}
    # Both TensorBoard callbacks: batch and epoch scalars, train and validation.
    for prefix in ("stock", "ours"):
        assert (f"{prefix}/train", "batch_loss") in tags
        assert (f"{prefix}/train", "epoch_loss") in tags
        assert (f"{prefix}/validation", "epoch_loss") in tags
        assert (f"{prefix}/train", "epoch_learning_rate") in tags
    # Keras's own runs carry no callback_events/ tags; ours add only each fit's
    # outcome scalars (for the HParams dashboard), in the train run.
    assert not any(t.startswith("callback_events/") for r, t in tags if r.startswith("stock/"))
    outcome = {t for r, t in tags if t.startswith("callback_events/")}
    assert outcome == {f"callback_events/{name}" for name in conventions.OUTCOME_TAGS}
    assert {r for r, t in tags if t in outcome} == {"ours/train"}
    # Our events and epoch ends are not scalars.
    assert not any(t.startswith(("callback_events/events/", "callback_events/epochs/")) for _, t in tags)
    assert found == by_tensorboard(keras_logdir)
    # tbparse cannot read our own int64 epoch records (its make_ndarray fails
    # on this TensorBoard's dtypes), so it is compared on the stock callback's runs.
    stock = os.path.join(keras_logdir, "stock")
    assert [(f"stock/{r}", *rest) for r, *rest in by_tbparse(stock)] == [
        r for r in found if r[0].startswith("stock/")
    ]


def test_every_layout_nan_inf_and_repeated_steps_match_tbparse(mixed_logdir, reader_path):
    found = ours(mixed_logdir)
    assert found == by_tbparse(mixed_logdir)
    assert found == by_tensorboard(mixed_logdir)
    runs = {r for r, *_ in found}
    assert runs == {".", "tf2", "encodings/train"}
    tags = {t for _, t, *_ in found}
    assert {"f32_content", "f64_content", "f32_val", "f64_val", "merged/a", "merged/b"} <= tags
    assert not tags & {"bare_tensor", "weights", "note"}
    loss = [r for r in found if r[:2] == ("tf2", "loss")]
    assert len(loss) == 200  # both files, every repeated step kept
    values = [v for *_, v in loss]
    assert "nan" in values and math.inf in values and -math.inf in values
    assert ("simple/neg_step", -3) in {(t, s) for _, t, s, *_ in found}
    assert [s for _, t, s, *_ in found if t == "simple/acc"].count(2) == 3


def test_rows_sorted_by_run_tag_step_keeping_file_order(mixed_logdir):
    frame = scalars_dataframe(mixed_logdir, progress=False)
    assert list(frame.columns) == ["run", "tag", "step", "wall_time", "value"]
    assert str(frame["step"].dtype) == "int64" and str(frame["value"].dtype) == "float64"
    keys = list(zip(frame["run"].astype(str), frame["tag"].astype(str), frame["step"], strict=True))
    assert keys == sorted(keys)
    # Equal steps keep file order, which is name order as TensorBoard reads
    # files: attempt N's file ends in ".N" and wrote 1.5 + N at step 3. TF
    # names files by time and a per-process counter, so which attempt sorts
    # first depends on the counter's digits (9 < 10 sorts "10" first).
    names = sorted(os.listdir(os.path.join(mixed_logdir, "tf2")))
    attempts = [int(name.rsplit(".", 1)[1]) for name in names]
    loss = frame[(frame["run"] == "tf2") & (frame["tag"] == "loss") & (frame["step"] == 3)]
    assert loss["value"].tolist() == [1.5 + attempt for attempt in attempts]


def test_columns_one_group_of_runs_at_a_time(mixed_logdir):
    """What `tb-callbacks export` streams: each group's columns are the whole read's rows of its runs."""
    from tb_callbacks_plugin.eventfiles.scalar_frame import iter_scalar_columns, read_scalar_columns

    def rows(columns, runs):
        return [
            (columns["run"][r], columns["tag"][t], s, w, _key(v))
            for r, t, s, w, v in zip(
                columns["run_code"].tolist(),
                columns["tag_code"].tolist(),
                columns["step"].tolist(),
                columns["wall_time"].tolist(),
                columns["value"].tolist(),
                strict=True,
            )
            if columns["run"][r] in runs
        ]

    whole = read_scalar_columns(mixed_logdir, progress=False)
    groups = [["tf2", "."], ["encodings/train", "no/such/run"], []]
    parts = list(iter_scalar_columns(mixed_logdir, groups, progress=False))
    assert len(parts) == 3 and not len(parts[2]["step"])
    for group, part in zip(groups, parts, strict=True):
        assert sorted(part["run"]) == sorted(r for r in group if r in whole["run"])
        assert rows(part, group) == rows(whole, group)
    assert sum(len(p["step"]) for p in parts) == len(whole["step"])


def test_runs_and_tags_selection(mixed_logdir):
    everything = ours(mixed_logdir)
    assert ours(mixed_logdir, runs="tf2") == [r for r in everything if r[0] == "tf2"]
    assert ours(mixed_logdir, runs=["tf2", "."], tags=["loss", "simple/acc"]) == [
        r for r in everything if r[0] in ("tf2", ".") and r[1] in ("loss", "simple/acc")
    ]
    assert ours(mixed_logdir, tags=re.compile(r"^f\d\d_")) == [
        r for r in everything if re.match(r"f\d\d_", r[1])
    ]
    assert ours(mixed_logdir, runs=["nope"]) == []
    empty = scalars_dataframe(mixed_logdir, runs=["nope"], progress=False)
    assert list(empty.columns) == ["run", "tag", "step", "wall_time", "value"] and len(empty) == 0


def test_file_url_reads_like_the_path(mixed_logdir):
    assert ours("file://" + mixed_logdir) == ours(mixed_logdir)


# ---------------------------------------------------------------- damage


def _reference_rows(buf: bytes, name: str) -> list[tuple]:
    """The simple_value rows of a buffer, through the record-by-record reader."""
    from tensorboard.compat.proto import event_pb2

    rows = []
    for data in records.iter_records(buf, name=name):
        event = event_pb2.Event.FromString(data)
        for value in event.summary.value:
            rows.append((value.tag, event.step, event.wall_time, _key(value.simple_value)))
    return rows


@pytest.mark.parametrize("seed", range(12))
def test_damaged_file_keeps_every_intact_record_with_a_warning(tmp_path, seed, reader_path):
    run = tmp_path / "run"
    with EventWriter(str(run)) as writer:
        for step in range(400):
            writer.write_summary(_simple("a" if step % 3 else "bb", step * 0.25), step, wall_time=T0 + step)
    (path,) = find_runs(str(tmp_path))["run"]
    with open(path, "rb") as f:
        data = bytearray(f.read())
    rng = random.Random(seed)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data))
        data[at : at + rng.randint(1, 30)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 30)))
    if seed % 3 == 0:
        del data[rng.randrange(len(data) // 2, len(data)) :]  # a torn tail too
    with open(path, "wb") as f:
        f.write(bytes(data))
    with warnings.catch_warnings(record=True) as expected_warnings:
        warnings.simplefilter("always")
        expected = _reference_rows(bytes(data), path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = scalars_dataframe(str(tmp_path), progress=False)
    got = list(
        zip(
            frame["tag"].astype(str),
            frame["step"].tolist(),
            frame["wall_time"].tolist(),
            [_key(v) for v in frame["value"].tolist()],
            strict=True,
        )
    )
    assert sorted(got) == sorted(expected)
    assert len(expected) < 400 + 2  # the damage did hit something
    ours_warned = [w for w in caught if issubclass(w.category, CorruptRecordWarning)]
    reference_warned = [w for w in expected_warnings if issubclass(w.category, CorruptRecordWarning)]
    assert [str(w.message) for w in ours_warned] == [str(w.message) for w in reference_warned]
    assert ours_warned


def test_one_flipped_value_bit_is_caught_by_the_bulk_checksum(tmp_path, reader_path):
    """Records of one layout are checksummed in bulk (`crc_bulk`): a record whose
    value bytes alone are damaged still fits the layout, and must be skipped."""
    run = tmp_path / "run"
    with EventWriter(str(run)) as writer:
        for step in range(300):
            writer.write_summary(_tensor_scalar("loss", step * 0.5, metadata=step == 0), step, T0 + step)
    (path,) = find_runs(str(tmp_path))["run"]
    with open(path, "rb") as f:
        data = bytearray(f.read())
    heads, lengths, end = records.walk_records(bytes(data))
    assert end == len(data) and len(heads) == 301  # the file_version record, then the scalars
    target = int(heads[150] + records.HEADER_SIZE + lengths[150]) - 1  # the value's last byte
    data[target] ^= 0x01
    with open(path, "wb") as f:
        f.write(bytes(data))
    with pytest.warns(CorruptRecordWarning, match="corrupt bytes"):
        found = ours(str(tmp_path))
    assert [s for _, _, s, _, _ in found] == [s for s in range(300) if s != 149]


def test_walk_records_follows_the_chain_of_iter_records():
    """The bulk walk (blocks of repeating lengths) finds every record the one-by-one walk finds."""
    sizes = [i % 97 for i in range(3000)] + [40, 41, 42] * 500 + [7] * 700 + [40, 41, 42, 43, 44] * 30
    buf = b"".join(records.frame(bytes([i % 251]) * n) for i, n in enumerate(sizes))
    for cut in (len(buf), len(buf) - 3, len(buf) - 60, 10, 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CorruptRecordWarning)
            starts, lengths = records.record_spans(buf[:cut])
        heads, walked, end = records.walk_records(buf[:cut])
        assert heads.tolist() == (starts - records.HEADER_SIZE).tolist()
        assert walked.tolist() == lengths.tolist()
        assert end == (int(heads[-1] + walked[-1]) + 16 if len(heads) else 0)


def test_record_spans_equal_iter_records_on_clean_and_torn_buffers():
    frames = [records.frame(bytes([i % 251]) * (i % 97)) for i in range(3000)]
    buf = b"".join(frames)
    for cut in (len(buf), len(buf) - 3, len(buf) - 40, 10, 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CorruptRecordWarning)
            starts, lengths = records.record_spans(buf[:cut])
            expected = list(records.iter_records(buf[:cut]))
        assert [buf[a : a + n] for a, n in zip(starts.tolist(), lengths.tolist(), strict=True)] == expected


# ---------------------------------------------------------------- environment


def test_progress_bar_on_stderr_when_slow(mixed_logdir):
    code = (
        "from tb_callbacks_plugin.eventfiles import scalar_frame\n"
        f"frame = scalar_frame.scalars_dataframe({mixed_logdir!r})\n"
        "print(len(frame))\n"
    )
    env = {**os.environ, "TB_CALLBACKS_PROGRESS_DELAY": "0"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(ours(mixed_logdir))
    assert "reading scalars" in result.stderr
    quiet = subprocess.run(
        [
            sys.executable,
            "-c",
            code.replace("scalars_dataframe(", "scalars_dataframe(progress=False, logdir="),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert quiet.returncode == 0 and "reading scalars" not in quiet.stderr
    # With the default delay (a second), a read this small shows no bar.
    env.pop("TB_CALLBACKS_PROGRESS_DELAY")
    fast = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert fast.returncode == 0 and "reading scalars" not in fast.stderr


def test_reads_without_tensorflow(mixed_logdir):
    code = (
        "import sys\n"
        "sys.modules['tensorflow'] = None  # any import of TensorFlow now fails\n"
        "from tb_callbacks_plugin import scalars_dataframe\n"
        f"frame = scalars_dataframe({mixed_logdir!r}, progress=False)\n"
        "assert 'tensorflow' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print(len(frame))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(ours(mixed_logdir))


def test_s3_logdir_reads_like_the_local_one(mixed_logdir, request):
    """The same files uploaded to a (moto) S3 bucket give the same frame."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    s3 = request.getfixturevalue("s3")
    s3.client.create_bucket(Bucket="scalar-frame")
    for run, paths in find_runs(mixed_logdir).items():
        for path in paths:
            key = "logs/" + ("" if run == "." else run + "/") + os.path.basename(path)
            s3.client.upload_file(path, "scalar-frame", key)
    assert ours("s3://scalar-frame/logs") == ours(mixed_logdir)


def test_many_tags_of_one_length_match_tbparse(tmp_path, reader_path):
    """One structure, many tags (per-layer metrics), some written once: every row, as tbparse reads it."""
    with EventWriter(str(tmp_path / "layers")) as writer:
        for step in range(200, 260):
            for layer in range(30):
                writer.write_summary(
                    _simple(f"layer_{layer:02d}/norm", layer + step / 7), step, wall_time=T0 + step
                )
                writer.write_summary(_tensor_scalar(f"layer_{layer:02d}/grad", -step), step, wall_time=T0)
            if step % 20 == 0:
                writer.write_summary(_simple(f"layer_{90 + step // 20}/norm", 1.0), step, wall_time=T0)
    found = ours(str(tmp_path))
    assert len(found) == 60 * 60 + 3
    assert found == by_tbparse(str(tmp_path))


# ---------------------------------------------------------------- the reader's fast paths


def _by_protobuf(buf: bytes, name: str) -> tuple[list[tuple], dict[str, tuple[int, str]]]:
    """Rows and each tag's first plugin of one file's bytes, every record parsed by
    protobuf (the pure path the bulk reader must equal)."""
    out = scalar_layout.FileScalars()
    starts, lengths = records.record_spans(buf, name=name)
    scalar_layout._read_slow(buf, starts, lengths, np.arange(len(starts)), out, None)
    return _file_rows(out)


def _file_rows(out) -> tuple[list[tuple], dict[str, tuple[int, str]]]:
    rows = sorted(
        (r.tag, r.tensor, rec, step, wall, repr(value))
        for r in out.rows
        for rec, step, wall, value in zip(
            r.record.tolist(), r.step.tolist(), r.wall_time.tolist(), r.value.tolist(), strict=True
        )
    )
    first: dict[str, tuple[int, str]] = {}
    for record, tag, plugin in sorted(out.plugins):
        first.setdefault(tag, (record, plugin))
    return rows, first


@pytest.fixture
def trials_logdir(tmp_path):
    """A search's trials: the same tags in the same record shapes in every file, each
    trial's own epoch tag (int64 varint records), events, NaN/Inf, repeated steps,
    simple_values, and a record longer than a segment."""
    for trial in range(5):
        with EventWriter(str(tmp_path / f"trial_{trial}" / "train")) as writer:
            writer.write_summary(_simple("long/text", 0.5), 0, T0)
            steps = 40 if trial % 2 else 700  # small files and large ones
            for step in range(steps):
                special = [float("nan"), float("inf"), -float("inf"), 1e300 * step][step % 4]
                writer.write_summary(
                    _tensor_scalar("batch_loss", step * 0.5 + trial, metadata=step == 0), step, T0
                )
                writer.write_summary(
                    _tensor_scalar("batch_f64", special, dtype=types_pb2.DT_DOUBLE), step, T0 + step
                )
                writer.write_summary(_simple("simple/acc", step / 7.0 - trial), step // 3, T0 + step)
                if step % 10 == 9:
                    epoch = step // 10
                    writer.write_epoch(epoch if trial != 4 else epoch + 120, step, wall_time=T0 + step)
                    writer.write(
                        "lr_change",
                        step,
                        f"epoch {epoch}",
                        epoch=epoch,
                        wall_time=T0 + step,
                        old=1.0,
                        new=0.5,
                    )
            big = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"x" * 9000])
            writer.write_summary(
                summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="blob", tensor=big)]), 5, T0
            )
            writer.write_summary(_tensor_scalar("batch_loss", -1.0, metadata=False), 3, T0)  # a repeated step
    return str(tmp_path)


def test_reused_layouts_and_segments_give_the_rows_of_protobuf(trials_logdir, monkeypatch):
    """One compiled reader across files (layouts learned in one serve the next), large
    files read a small segment at a time (records cut at segment ends, one longer
    than a segment), varint epoch records: per file the rows, record numbers and
    plugins protobuf gives."""
    monkeypatch.delenv(scalar_kernels.PURE_ENV, raising=False)
    monkeypatch.setattr(scalar_layout, "SEGMENT_BYTES", 4096)
    compiled = scalar_layout.FileReader(compiled=True)
    assert compiled.compiled, "numba (the `fast` extra, in `test`) is not installed"
    numpy_path = scalar_layout.FileReader(compiled=False)
    paths = [p for ps in find_runs(trials_logdir).values() for p in ps]
    segmented = 0
    for path in paths:
        with open(path, "rb") as f:
            buf = f.read()
        expected = _by_protobuf(buf, path)
        assert any(tag.startswith("callback_events/epochs/") for tag, *_ in expected[0])
        assert _file_rows(compiled.read_path(path)) == expected
        assert _file_rows(compiled.read_buffer(buf, path)) == expected
        assert _file_rows(numpy_path.read_buffer(buf, path)) == expected
        segmented += len(buf) > 4096
    assert segmented >= 2
    # Learned once, then reused: far fewer layouts than files x tags.
    assert len(compiled._layouts) < 4 * len(paths)


def test_frame_of_both_paths_equal_with_segments(trials_logdir, monkeypatch):
    monkeypatch.setattr(scalar_layout, "SEGMENT_BYTES", 4096)
    monkeypatch.setattr(scalar_kernels, "MIN_BYTES", 0)
    monkeypatch.delenv(scalar_kernels.PURE_ENV, raising=False)
    fast = read_scalar_columns(trials_logdir, progress=False)
    monkeypatch.setenv(scalar_kernels.PURE_ENV, "1")
    pure = read_scalar_columns(trials_logdir, progress=False)
    for key in ("run", "tag", "epochs"):
        assert fast[key] == pure[key]
    for key in ("run_code", "tag_code", "step", "wall_time", "value"):
        np.testing.assert_array_equal(fast[key], pure[key])
    assert fast["epochs"]["trial_4/train"][0][0] == 120  # a two-byte varint epoch
    assert len(fast["step"]) == 3 * (700 * 3 + 1) + 2 * (40 * 3 + 1) + 5


class _CutWhileRead(io.FileIO):
    """A real file whose end is cut off on disk once its first segment has been read,
    as a crashed writer's file truncated, or a run rewritten, while a reader is on it."""

    cut_to = 0

    def readinto(self, buffer):  # type: ignore[override]
        n = super().readinto(buffer)
        if self.cut_to:
            os.truncate(self.name, self.cut_to)
            self.cut_to = 0
        return n


def test_file_cut_short_while_read_reads_as_a_torn_file(trials_logdir, monkeypatch):
    """Files are read, never mapped (a mapping's pages past a new end raise SIGBUS):
    a file cut while it is read gives the rows of what was read, the last
    record's tail warned about as a torn record."""
    monkeypatch.delenv(scalar_kernels.PURE_ENV, raising=False)
    monkeypatch.setattr(scalar_layout, "SEGMENT_BYTES", 4096)
    path = find_runs(trials_logdir)["trial_0/train"][0]
    with open(path, "rb") as f:
        whole = f.read()
    cut = 3 * 4096 + 1000  # mid-record, two segments on
    with warnings.catch_warnings(record=True) as reference_warnings:
        warnings.simplefilter("always")
        expected = _by_protobuf(whole[:cut], path)
    stream = _CutWhileRead(path, "rb")
    stream.cut_to = cut
    with stream, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = scalar_layout.FileReader(compiled=True).read_stream(stream, path)
    assert os.path.getsize(path) == cut
    assert _file_rows(found) == expected
    assert 0 < len(expected[0]) < len(_by_protobuf(whole, path)[0])
    messages = [str(w.message) for w in caught if issubclass(w.category, CorruptRecordWarning)]
    assert messages == [str(w.message) for w in reference_warnings] and "incomplete record" in messages[0]
    # And through the frame, on the file as it now is.
    with pytest.warns(CorruptRecordWarning, match="incomplete record"):
        frame = scalars_dataframe(trials_logdir, runs="trial_0/train", progress=False)
    assert len(frame) == sum(1 for tag, *_ in expected[0] if not tag.startswith("callback_events/"))
