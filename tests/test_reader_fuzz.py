"""Damaged event files: the reader never crashes and loses only what was hit."""

from __future__ import annotations

import functools
import json
import os
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import event_pb2

from tb_callbacks_plugin import PLUGIN_NAME, EventWriter, event_format, read_events
from tb_callbacks_plugin.eventfiles import records

N_EVENTS = 40


@functools.cache
def _clean_file(run_dir: str) -> tuple[bytes, list[tuple[int, int, str]]]:
    """The file's bytes and, per events record, its byte range and message.

    Written once: hypothesis needs the same bytes (same length) every example.
    """
    with EventWriter(run_dir) as writer:
        for i in range(N_EVENTS):
            writer.write("custom", i, f"event {i} " + "x" * (i % 7) * 10, epoch=i // 10)
            writer.flush()  # one record per event
    (name,) = os.listdir(run_dir)
    with open(os.path.join(run_dir, name), "rb") as f:
        buf = f.read()
    spans, pos = [], 0
    while pos < len(buf):
        length = int.from_bytes(buf[pos : pos + 8], "little")
        end = pos + records.HEADER_SIZE + length + records.FOOTER_SIZE
        event = event_pb2.Event.FromString(buf[pos + records.HEADER_SIZE : end - records.FOOTER_SIZE])
        if event.summary.value:
            message = json.loads(event.summary.value[0].tensor.string_val[0])["message"]
            spans.append((pos, end, message))
        pos = end
    return buf, spans


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_damage_loses_only_damaged_records(tmp_path_factory, data):
    buf, spans = _clean_file(str(tmp_path_factory.getbasetemp() / "fuzz-clean"))
    run_dir = tmp_path_factory.mktemp("fuzz")
    damaged = bytearray(buf)
    positions = data.draw(st.lists(st.integers(0, len(buf) - 1), min_size=1, max_size=8, unique=True))
    for p in positions:
        damaged[p] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(1, len(buf))))
    if cut is not None:
        damaged = damaged[:cut]
    with open(os.path.join(run_dir, "events.out.tfevents.1.fuzz"), "wb") as f:
        f.write(bytes(damaged))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = read_events(run_dir)
    expected = [
        msg
        for start, end, msg in spans
        if not any(start <= p < end for p in positions) and (cut is None or end <= cut)
    ]
    assert [e.message for e in events] == expected
    # A cut at a record's end leaves a whole, shorter file: nothing to report.
    # Bytes changed inside what is kept, or a record cut in two, are damage.
    boundaries = {0, *(end for _, end, _ in spans), spans[0][0]}
    hit = any(p < len(damaged) for p in positions)
    torn = cut is not None and cut not in boundaries
    if len(expected) < len(spans) and (hit or torn):
        assert caught, "damage must be reported"


def test_hostile_hand_made_records_are_capped_at_read(tmp_path):
    deep = "[" * 5000 + "]" * 5000
    nested = {"a": None}
    node = nested
    for _ in range(200):
        node["a"] = {"a": None}
        node = node["a"]
    elements = [
        json.dumps(
            {"kind": "custom", "message": "m" * 1_000_000, "data": {"blob": "b" * 1_000_000}}
        ).encode(),
        json.dumps({"kind": "custom", "message": "deep", "data": nested}).encode(),
        ('{"kind": "custom", "data": ' + deep + "}").encode(),  # too deep for json: skipped
        b"\xff\xfe not json",
        json.dumps(["not", "an", "object"]).encode(),
        json.dumps(
            {"kind": "custom", "epoch": "seven", "wall_time": "noon", "source": 5, "data": [1]}
        ).encode(),
    ]
    summary = event_format.bundle_summary(f"{PLUGIN_NAME}/events/hostile.0", elements)
    os.makedirs(tmp_path / "run")
    with open(tmp_path / "run" / "events.out.tfevents.1.hostile", "wb") as f:
        f.write(records.frame(event_pb2.Event(step=3, wall_time=1.0, summary=summary).SerializeToString()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = read_events(tmp_path)
    assert any("3 unreadable" in str(w.message) for w in caught)
    big, deep_event, odd = events
    assert len(big.message.encode()) <= event_format.MAX_MESSAGE_BYTES
    assert len(json.dumps(big.data)) <= event_format.MAX_DATA_BYTES
    assert "nested deeper" in json.dumps(deep_event.data, ensure_ascii=False)
    assert (odd.epoch, odd.wall_time, odd.source, odd.data) == (None, 0.0, None, {})
