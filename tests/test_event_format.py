"""The on-disk event format: writer -> file -> read_events round trips."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from tb_callbacks_plugin import (
    BUILTIN_KINDS,
    PLUGIN_NAME,
    CorruptRecordWarning,
    EventWriter,
    UnsupportedVersionError,
    event_format,
    events_dataframe,
    metadata,
    read_events,
)
from tb_callbacks_plugin.eventfiles import records
from tb_callbacks_plugin.eventfiles.event_reader import find_runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def event_files(run_dir):
    return sorted(os.path.join(run_dir, f) for f in os.listdir(run_dir) if "tfevents" in f)


def all_records(path):
    with open(path, "rb") as f:
        return [event_pb2.Event.FromString(r) for r in records.iter_records(f.read())]


def test_framing_matches_tensorboards_record_writer():
    payloads = [b"", b"x", os.urandom(1000), b"\x00" * 70000]
    ours = b"".join(records.frame(p) for p in payloads)
    buf = io.BytesIO()
    tb_writer = RecordWriter(buf)
    for p in payloads:
        tb_writer.write(p)
    assert ours == buf.getvalue()
    assert list(records.iter_records(ours)) == payloads


def test_round_trip_every_field_and_kind(tmp_path):
    kinds = [*BUILTIN_KINDS, "my.custom-kind_2", "a" * 64]
    written = []
    with EventWriter(tmp_path / "train") as writer:
        for i, kind in enumerate(kinds):
            data = {
                "nested": {"list": [1, 2.5, None, True, "ü"], "deep": {"x": [[1], [2]]}},
                "nan": float("nan"),
                "inf": float("inf"),
                "ninf": -math.inf,
                "np_int": np.int64(7),
                "np_float": np.float32(0.5),
                "np_array": np.arange(4).reshape(2, 2),
                "i": i,
            }
            message = f"événement {i} — 学习率 ↓ 🚀 \n second line"
            writer.write(
                kind, 10 * i, message, epoch=i, source="ReduceLROnPlateau", wall_time=1000.0 + i, **data
            )
            written.append((kind, 10 * i, message, i))
    events = read_events(tmp_path)
    assert len(events) == len(kinds)
    for event, (kind, step, message, i) in zip(events, written, strict=True):
        assert (event.run, event.kind, event.step, event.epoch) == ("train", kind, step, i)
        assert event.message == message
        assert event.source == "ReduceLROnPlateau"
        assert event.wall_time == 1000.0 + i
        assert math.isnan(event.data["nan"])
        assert event.data["inf"] == math.inf and event.data["ninf"] == -math.inf
        assert event.data["np_int"] == 7 and isinstance(event.data["np_int"], int)
        assert event.data["np_float"] == 0.5
        assert event.data["np_array"] == [[0, 1], [2, 3]]
        assert event.data["nested"] == {"list": [1, 2.5, None, True, "ü"], "deep": {"x": [[1], [2]]}}


def test_defaults_epoch_source_wall_time(tmp_path):
    before = time.time()
    with EventWriter(tmp_path) as writer:
        writer.write("train_begin", 0)
    (event,) = read_events(tmp_path)
    assert event.run == "."
    assert event.epoch is None and event.source is None and event.message == "" and event.data == {}
    assert before <= event.wall_time <= time.time()


def test_truncation_markers(tmp_path):
    long_message = "é" * 5000  # 10,000 UTF-8 bytes
    big = {"blob": "x" * 100_000}
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["d"] = {}
        node = node["d"]
    with EventWriter(tmp_path) as writer:
        writer.write("custom", 1, long_message, **big)
        writer.write("custom", 2, "deep", deep=deep)
    first, second = read_events(tmp_path)
    assert first.message.endswith(event_format.TRUNCATION_MARK)
    assert len(first.message.encode()) <= event_format.MAX_MESSAGE_BYTES
    assert first.message.startswith("é" * 100)
    assert set(first.data) == {"_truncated", "_preview"}
    assert event_format.TRUNCATION_MARK in first.data["_truncated"]
    assert "100" in first.data["_truncated"]  # names the original size
    assert len(json.dumps(first.data)) <= event_format.MAX_DATA_BYTES
    text = json.dumps(second.data, ensure_ascii=False)
    assert event_format.TRUNCATION_MARK in text and "nested deeper" in text


@pytest.mark.parametrize(
    ("call", "error", "names"),
    [
        (lambda w: w.write("Bad Kind", 1), ValueError, "kind"),
        (lambda w: w.write("", 1), ValueError, "kind"),
        (lambda w: w.write("a" * 65, 1), ValueError, "kind"),
        (lambda w: w.write(3, 1), ValueError, "kind"),
        (lambda w: w.write("ok", -1), ValueError, "step"),
        (lambda w: w.write("ok", 1.5), TypeError, "step"),
        (lambda w: w.write("ok", True), TypeError, "step"),
        (lambda w: w.write("ok", "3"), TypeError, "step"),
        (lambda w: w.write("ok", 1, epoch=-2), ValueError, "epoch"),
        (lambda w: w.write("ok", 1, 42), TypeError, "message"),
        (lambda w: w.write("ok", 1, source=3), TypeError, "source"),
        (lambda w: w.write("ok", 1, wall_time=float("nan")), ValueError, "wall_time"),
        (lambda w: w.write("ok", 1, thing=object()), TypeError, "thing"),
        (lambda w: w.write("ok", 1, d={(1, 2): 3}), TypeError, "key"),
    ],
)
def test_bad_arguments_name_themselves(tmp_path, call, error, names):
    with EventWriter(tmp_path) as writer:
        with pytest.raises(error, match=names):
            call(writer)
        writer.write("ok", np.int32(4))  # numpy ints are steps too
    assert [(e.kind, e.step) for e in read_events(tmp_path)] == [("ok", 4)]


def test_write_after_close_raises(tmp_path):
    writer = EventWriter(tmp_path)
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        writer.write("late", 1)


def test_5000_events_at_one_step_and_5000_rising(tmp_path):
    with EventWriter(tmp_path / "same") as writer:
        for i in range(5000):
            writer.write("tick", 42, str(i), epoch=3)
            if i % 997 == 0:
                writer.flush()  # later events at step 42 go to another tag
    with EventWriter(tmp_path / "rising") as writer:
        for i in range(5000):
            writer.write("tick", i, str(i))
    events = read_events(tmp_path)
    same = [e for e in events if e.run == "same"]
    rising = [e for e in events if e.run == "rising"]
    assert sorted(int(e.message) for e in same) == list(range(5000))
    assert {e.step for e in same} == {42}
    assert [e.step for e in rising] == list(range(5000))
    assert [int(e.message) for e in rising] == list(range(5000))


def test_tags_never_repeat_or_go_back_in_step(tmp_path):
    """The layout rule that keeps every event through the Rust loader."""
    with EventWriter(tmp_path) as writer:
        for step in [5, 5, 5, 3, 9, 9, 1, 100]:
            writer.write("custom", step)
            writer.flush()
        for _ in range(3):
            writer.write("early_stop", 100)  # durable: one record each
    last_step: dict[str, int] = {}
    seen_events = 0
    for event in all_records(event_files(tmp_path)[0]):
        for value in event.summary.value:
            assert value.tag.startswith(f"{PLUGIN_NAME}/events/")
            assert value.metadata.data_class == summary_pb2.DATA_CLASS_TENSOR
            assert value.metadata.plugin_data.plugin_name == PLUGIN_NAME
            assert value.tag not in last_step or last_step[value.tag] < event.step
            last_step[value.tag] = event.step
            seen_events += len(value.tensor.string_val)
    assert seen_events == 11
    assert len(read_events(tmp_path)) == 11


def test_generic_tools_see_the_training_step(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    with EventWriter(tmp_path) as writer:
        writer.write("lr_change", 1234, old=0.1, new=0.01)
        writer.write("lr_change", 5678, old=0.01, new=0.001)
    acc = event_accumulator.EventAccumulator(str(tmp_path), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    steps = [t.step for tag in acc.Tags()["tensors"] for t in acc.Tensors(tag)]
    assert sorted(steps) == [1234, 5678]


def test_buffered_events_reach_disk_within_two_seconds(tmp_path):
    writer = EventWriter(tmp_path)
    try:
        writer.write("lr_change", 7, old=1, new=2)
        deadline = time.monotonic() + 2.0
        while not read_events(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e.kind for e in read_events(tmp_path)] == ["lr_change"]
    finally:
        writer.close()


def _scalar_event(step, value):
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="x", simple_value=value)])
    return event_pb2.Event(wall_time=1.0, step=step, summary=summary)


def test_write_later_builds_in_order_with_other_writes(tmp_path):
    built_on = []

    def build(steps):
        built_on.append(threading.current_thread())
        return [_scalar_event(s, float(s)) for s in steps]

    with EventWriter(tmp_path) as writer:
        writer.write_proto(_scalar_event(0, 0.0))
        writer.write_later(lambda: build([1, 2]))
        writer.write_proto(_scalar_event(3, 3.0))
        writer.write_later(lambda: build([]))  # nothing to write: no record
        writer.write_later(lambda: build([4]))
    (path,) = event_files(tmp_path)
    steps = [e.step for e in all_records(path) if e.HasField("summary")]
    assert steps == [0, 1, 2, 3, 4]
    assert built_on and threading.current_thread() not in built_on  # the writer's thread built them


def test_write_later_skips_a_failing_build_with_one_warning(tmp_path):
    def broken():
        raise ValueError("no histogram today")

    with pytest.warns(RuntimeWarning, match="no histogram today") as caught, EventWriter(tmp_path) as writer:
        writer.write_later(broken)
        writer.write_later(broken)
        writer.write_later(lambda: [_scalar_event(5, 5.0)])
        writer.write("lr_change", 6, old=1, new=2)
    assert len([w for w in caught if "building summaries" in str(w.message)]) == 1
    (path,) = event_files(tmp_path)
    assert [e.step for e in all_records(path) if e.HasField("summary")] == [5, 6]
    with pytest.raises(ValueError, match="closed"):
        writer.write_later(lambda: [])


def test_threads_write_concurrently(tmp_path):
    with EventWriter(tmp_path) as writer:

        def worker(t):
            for i in range(500):
                writer.write("custom", i % 50, f"{t}:{i}")

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    messages = sorted(e.message for e in read_events(tmp_path))
    assert messages == sorted(f"{t}:{i}" for t in range(4) for i in range(500))


def test_torn_last_record_is_skipped_with_one_warning(tmp_path):
    with EventWriter(tmp_path) as writer:
        for i in range(10):
            writer.write("custom", i, str(i))
            writer.flush()
    (path,) = event_files(tmp_path)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 7)
    with pytest.warns(CorruptRecordWarning) as caught:
        events = read_events(tmp_path)
    assert [e.message for e in events] == [str(i) for i in range(9)]
    assert len(caught) == 1 and "incomplete" in str(caught[0].message)


def test_corrupt_bytes_in_the_middle_resume_at_next_record(tmp_path):
    with EventWriter(tmp_path) as writer:
        for i in range(20):
            writer.write("custom", i, f"message number {i}")
            writer.flush()
    (path,) = event_files(tmp_path)
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    starts, pos = [], 0
    while pos < len(buf):  # record offsets, from the framing
        starts.append(pos)
        pos += records.HEADER_SIZE + int.from_bytes(buf[pos : pos + 8], "little") + records.FOOTER_SIZE
    # Damage the data of the record holding message 7 and the length of 12's.
    pos7 = buf.index(b"message number 7")
    buf[pos7 + 3] ^= 0xFF
    pos12 = buf.index(b"message number 12")
    start12 = max(s for s in starts if s < pos12)
    buf[start12 + 2] ^= 0x55
    with open(path, "wb") as f:
        f.write(bytes(buf))
    with pytest.warns(CorruptRecordWarning):
        events = read_events(tmp_path)
    got = [int(e.message.split()[-1]) for e in events]
    assert 7 not in got and 12 not in got
    assert got == sorted(got)
    assert {0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19} <= set(got)


def test_random_garbage_between_records(tmp_path):
    with EventWriter(tmp_path) as writer:
        writer.write("custom", 1, "before")
    (path,) = event_files(tmp_path)
    with open(path, "ab") as f:
        f.write(os.urandom(3000))
        f.write(records.frame(_bundle_event(2, "after")))
    with pytest.warns(CorruptRecordWarning, match="corrupt bytes"):
        events = read_events(tmp_path)
    assert [e.message for e in events] == ["before", "after"]


def _bundle_event(step, message, content=None):
    summary = event_format.bundle_summary(
        f"{PLUGIN_NAME}/events/handmade.0", [event_format.make_event_json("custom", message)]
    )
    if content is not None:
        summary.value[0].metadata.plugin_data.content = content
    return event_pb2.Event(step=step, wall_time=1.0, summary=summary).SerializeToString()


def test_version_gate(tmp_path):
    newer = json.dumps({"version": metadata.FORMAT_VERSION + 1, "role": "events"}).encode()
    current = json.dumps({"version": metadata.FORMAT_VERSION, "role": "events"}).encode()
    os.makedirs(tmp_path / "new")
    with open(tmp_path / "new" / "events.out.tfevents.1.h", "wb") as f:
        f.write(records.frame(_bundle_event(1, "from the future", newer)))
    with pytest.raises(UnsupportedVersionError) as info:
        read_events(tmp_path)
    text = str(info.value)
    assert f"version {metadata.FORMAT_VERSION + 1}" in text and f"up to {metadata.FORMAT_VERSION}" in text
    os.remove(tmp_path / "new" / "events.out.tfevents.1.h")
    with open(tmp_path / "new" / "events.out.tfevents.1.h", "wb") as f:
        f.write(records.frame(_bundle_event(1, "current", current)))
    assert [e.message for e in read_events(tmp_path)] == ["current"]


def test_metadata_rejects_garbage_and_unknown_roles():
    with pytest.raises(ValueError, match="unreadable"):
        metadata.parse_plugin_content(b"\x00not json")
    with pytest.raises(ValueError, match="unknown"):
        metadata.parse_plugin_content(b'{"version": 1, "role": "mystery"}')
    assert metadata.parse_plugin_content(b'{"version": 1, "role": "epochs"}') == (1, "epochs")


def test_epoch_records_are_not_events(tmp_path):
    with EventWriter(tmp_path) as writer:
        writer.write_epoch(0, 100)
        writer.write("custom", 100)
    assert [e.kind for e in read_events(tmp_path)] == ["custom"]


def test_fifty_runs_nested_and_several_files_per_run(tmp_path):
    for i in range(50):
        run_dir = tmp_path / f"exp{i // 10}" / f"run{i}" / "train"
        with EventWriter(run_dir) as writer:
            writer.write("custom", i, f"first {i}")
        with EventWriter(run_dir) as writer:  # a second file in the same run
            writer.write("custom", i + 1, f"second {i}")
    runs = find_runs(tmp_path)
    assert len(runs) == 50 and all(len(files) == 2 for files in runs.values())
    events = read_events(tmp_path)
    assert len(events) == 100
    assert {e.run for e in events} == {f"exp{i // 10}/run{i}/train" for i in range(50)}
    by_run = {}
    for e in events:
        by_run.setdefault(e.run, []).append(e.message)
    assert by_run["exp1/run12/train"] == ["first 12", "second 12"]


def test_missing_logdir_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="logdir"):
        read_events(tmp_path / "nope")


def test_events_dataframe_columns_and_types(tmp_path):
    with EventWriter(tmp_path / "train") as writer:
        writer.write("train_begin", 0, "go", epoch=0, epochs=3)
        writer.write("lr_change", 20, "down", old=0.1, new=0.01)
    frame = events_dataframe(tmp_path)
    assert list(frame.columns) == [
        "run",
        "kind",
        "step",
        "epoch",
        "wall_time",
        "source",
        "message",
        "data",
        "fit",
        "hparams",
    ]
    assert frame["kind"].tolist() == ["train_begin", "lr_change"]
    assert frame["hparams"].isna().all()  # not a search's trial: no hyperparameters
    assert frame["fit"].tolist() == [0, 0] and str(frame["fit"].dtype) == "int64"
    assert str(frame["step"].dtype) == "int64"
    assert frame["epoch"].isna().tolist() == [False, True]
    assert frame["data"][1] == {"old": 0.1, "new": 0.01}


def test_events_dataframe_without_pandas_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'tb-callbacks-plugin\[pandas\]'"):
        events_dataframe(tmp_path)


def _run_child(code, **kwargs):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        **kwargs,
    )


def test_writer_and_reader_never_import_tensorflow(tmp_path):
    result = _run_child(
        f"""
        import sys
        from tb_callbacks_plugin import EventWriter, read_events
        with EventWriter({str(tmp_path)!r}) as w:
            w.write("train_begin", 0, epochs=1)
            w.write_epoch(0, 10)
        assert len(read_events({str(tmp_path)!r})) == 1
        print("tensorflow" in sys.modules, "keras" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_durable_kinds_survive_sigkill(tmp_path):
    """`write` returns for an event that ends training only once it is on disk."""
    code = f"""
        import os, signal, sys
        from tb_callbacks_plugin import EventWriter
        w = EventWriter({str(tmp_path)!r}, flush_secs=3600)
        for i in range(100):
            w.write("custom", i, "buffered")
        w.write("nan_terminated", 100, "loss is NaN", batch=3, loss=float("nan"))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    result = _run_child(code)
    assert result.returncode == -9
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing torn: the kill came after the fsync
        events = read_events(tmp_path)
    assert events[-1].kind == "nan_terminated"
    assert events[-1].data["batch"] == 3 and math.isnan(events[-1].data["loss"])
    # Buffered events at earlier steps were written before the durable one.
    assert len(events) == 101
