"""A record holding a number out of range is damage: skipped with one warning, never a crash.

JSON numbers are unbounded; a hand-made or damaged element can hold a
400-digit wall time or an epoch of 2**70, which no float or int64 holds.
"""

from __future__ import annotations

import json
import warnings

import pytest

from tb_callbacks_plugin import PLUGIN_NAME, EventWriter, event_format, events_dataframe, read_events
from tb_callbacks_plugin.cli import main as cli
from tb_callbacks_plugin.eventfiles import records

T0 = 1_700_000_000.0
HOSTILE = (
    b'{"kind":"custom","epoch":1,"wall_time":' + b"9" * 400 + b',"message":"huge wall time"}',
    json.dumps({"kind": "custom", "epoch": 2**70, "wall_time": T0 + 5, "message": "huge epoch"}).encode(),
    json.dumps({"kind": "custom", "epoch": -(2**64), "wall_time": T0 + 6, "message": "tiny epoch"}).encode(),
)
GOOD = ["begin", "fine", "after", "end"]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory, shared_tensorboards):
    root = tmp_path_factory.mktemp("out_of_range")
    with EventWriter(str(root / "exp" / "train")) as writer:
        writer.write("train_begin", 0, "begin", epoch=0, wall_time=T0, epochs=2, steps=4)
        writer.write("custom", 1, "fine", epoch=0, wall_time=T0 + 1)
        for i, element in enumerate(HOSTILE):
            summary = event_format.bundle_summary(f"{PLUGIN_NAME}/events/hostile.{i}", [element])
            writer.write_summary(summary, 2 + i, wall_time=T0 + 2 + i)
        writer.write("custom", 5, "after", epoch=1, wall_time=T0 + 7)
        writer.write("train_end", 6, "end", epoch=1, wall_time=T0 + 8, reason="completed")
    return shared_tensorboards.publish(root, "out_of_range")


def _caught(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(w.message) for w in caught if issubclass(w.category, records.CorruptRecordWarning)]


def test_read_events_skips_the_records_with_one_warning(logdir):
    events, warned = _caught(lambda: read_events(logdir))
    assert [e.message for e in events] == GOOD
    assert len(warned) == 1 and f"{len(HOSTILE)} unreadable event record(s) skipped" in warned[0], warned


def test_events_dataframe_skips_the_records(logdir):
    frame, warned = _caught(lambda: events_dataframe(logdir))
    assert frame.message.tolist() == GOOD
    assert frame.epoch.tolist() == [0, 0, 1, 1]
    assert len(warned) == 1


@pytest.mark.parametrize("command", ["events", "summary", "report", "export"])
def test_cli_commands_answer(logdir, tmp_path, command, capsys):
    out = {
        "report": ["-o", str(tmp_path / "r.html")],
        "export": ["-o", str(tmp_path / "x"), "--format", "csv"],
    }
    assert cli.main([command, str(logdir), *out.get(command, [])]) == 0
    err = capsys.readouterr().err
    assert "unreadable event record(s) skipped" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("load_fast", [True, False], ids=["load_fast", "python_loader"])
def test_plugin_answers_without_a_traceback(logdir, load_fast, shared_tensorboards):
    tb = shared_tensorboards.view(logdir, load_fast=load_fast)

    def loaded():
        runs = tb.plugin_json("runs")["runs"]
        return runs and runs[0]["count"] == len(GOOD)

    tb.wait_for(loaded, timeout=90)
    for _ in range(2):  # every request that decodes the records, not only the first
        body = tb.plugin_json("events?run=exp/train")
        assert [e["message"] for e in body["events"]] == GOOD
        assert body["warnings"] == [f"{len(HOSTILE)} unreadable event record(s) skipped"]
    assert not any("Traceback" in line for line in tb.output), "".join(tb.output)
