"""The plugin reading its events from the logdir's files (TensorBoard's
Python loader, `server/logdir_store.py`): files read as they grow, a record
cut anywhere served once whole, replaced files, names outside the logdir,
and the loader choosing it (TensorBoard then keeps one record per tag).
In process, over TensorBoard's real multiplexer and WSGI app; the same
routes on a real `tensorboard` are in test_plugin_search.py and the plugin
tests of both loaders."""

from __future__ import annotations

import argparse
import os
import warnings

import pytest
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester, data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from test_plugin_unit import App, q
from werkzeug.test import Client

from tb_callbacks_plugin import EventWriter, read_events
from tb_callbacks_plugin.eventfiles import records
from tb_callbacks_plugin.eventfiles.event_reader import find_runs
from tb_callbacks_plugin.server.loader import FILES_SAMPLES, CallbackEventsLoader

PREFIX = "/data/plugin/callback_events/"


def _read_quietly(logdir) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", records.CorruptRecordWarning)
        return [e.message for e in read_events(logdir)]


def _record_ends(data: bytes) -> list[int]:
    ends, pos = [], 0
    while pos < len(data):
        pos += int.from_bytes(data[pos : pos + 8], "little") + records.HEADER_SIZE + records.FOOTER_SIZE
        ends.append(pos)
    return ends


def test_records_cut_anywhere_are_served_once_whole(tmp_path):
    """Another file's records appended to a run's file a piece at a time, cut
    inside headers, tags and data: after each piece the plugin serves what
    `read_events` reads (every whole record), never twice, never a warning."""
    source = tmp_path / "source"
    with EventWriter(source) as w:
        for step in range(6):
            w.write("tick", step, f"appended {step}", note="x" * (step * 40))
    (source_file,) = find_runs(source)["."]
    with open(source_file, "rb") as f:
        data = f.read()
    data = data[_record_ends(data)[0] :]  # without its file_version record
    logdir = tmp_path / "logs"
    with EventWriter(logdir / "r") as w:
        w.write("train_begin", 0, "first")
    (target,) = find_runs(logdir)["r"]
    app = App(logdir, read_logdir=True)
    assert [e["message"] for e in app.json("events?run=r")["events"]] == ["first"]
    # Inside a header, just into the data, about the tag, past it.
    starts = [0, *_record_ends(data)[:-1]]
    cuts = sorted({start + offset for start in starts for offset in (5, 13, 30, 45)})
    done = 0
    for cut in [c for c in cuts if c < len(data)] + [len(data)]:
        with open(target, "ab") as f:
            f.write(data[done:cut])
        done = cut
        body = app.json("events?run=r")
        assert [e["message"] for e in body["events"]] == _read_quietly(logdir), cut
        assert body["warnings"] == []
    assert app.json("runs")["runs"][0]["count"] == 7


def test_a_replaced_file_is_read_again_from_its_start(tmp_path):
    with EventWriter(tmp_path / "r") as w:
        for step in range(3):
            w.write("tick", step, f"old {step}")
    (path,) = find_runs(tmp_path)["r"]
    app = App(tmp_path, read_logdir=True)
    assert len(app.json("events?run=r")["events"]) == 3
    os.remove(path)
    with EventWriter(tmp_path / "r") as w:
        w.write("tick", 0, "new")
    (new_path,) = find_runs(tmp_path)["r"]
    os.replace(new_path, path)  # the same name, shorter
    assert [e["message"] for e in app.json("events?run=r")["events"]] == ["new"]
    assert [r["count"] for r in app.json("runs")["runs"]] == [1]


def test_run_names_never_reach_outside_the_logdir(tmp_path):
    with EventWriter(tmp_path / "outside") as w:
        w.write("tick", 0, "not served")
    with EventWriter(tmp_path / "logs" / "r") as w:
        w.write("tick", 0, "served")
    app = App(tmp_path / "logs", read_logdir=True)
    for run in ("../outside", "r/../../outside", "/etc", "r/", "./r"):
        response = app.get("events?" + q(run=run))
        assert response.status_code == 404, run
    assert app.json("many_events")["runs"] == app.json("many_events?" + q(run="r"))["runs"]
    assert app.get("many_events?" + q(run="../outside")).status_code == 404


def _served_through_the_loader(logdir, flags: argparse.Namespace) -> tuple[int, int]:
    """(events the plugin serves, records TensorBoard's multiplexer keeps) of
    run `r`, with TensorBoard's Python loader built as `tensorboard` builds it."""
    loader = CallbackEventsLoader()
    loader.fix_flags(flags)
    guidance = dict(data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE)
    guidance.update(flags.samples_per_plugin)
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE, tensor_size_guidance=guidance
    )
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    context = base_plugin.TBContext(
        data_provider=provider, logdir=str(logdir), sampling_hints=flags.samples_per_plugin, flags=flags
    )
    plugin = loader.load(context)
    client = Client(application.TensorBoardWSGI([plugin], data_provider=provider))
    served = len(client.get(PREFIX + "events?run=r").get_json()["events"])
    (tag,) = [t for t in multiplexer.GetAccumulator("r").Tags()["tensors"] if "/events/" in t]
    return served, len(multiplexer.Tensors("r", tag))


def test_on_the_python_loader_tensorboard_keeps_one_record_and_the_plugin_serves_all(tmp_path):
    with EventWriter(tmp_path / "r") as w:
        for step in range(40):
            w.write("tick", step)
    flags = argparse.Namespace(samples_per_plugin={}, load_fast="false", logdir=str(tmp_path))
    assert _served_through_the_loader(tmp_path, flags) == (40, FILES_SAMPLES)
    assert flags.samples_per_plugin == {"callback_events": FILES_SAMPLES}
    # The user's own count: TensorBoard samples and the plugin serves what it keeps.
    flags = argparse.Namespace(
        samples_per_plugin={"callback_events": 7}, load_fast="false", logdir=str(tmp_path)
    )
    assert _served_through_the_loader(tmp_path, flags) == (7, 7)


@pytest.mark.parametrize(
    ("load_fast", "logdir", "grpc"),
    [("true", "logs", ""), ("auto", "logs", ""), ("false", "s3://bucket/logs", ""), ("false", "logs", "h:1")],
)
def test_tensorboard_keeps_every_record_where_the_plugin_reads_through_it(load_fast, logdir, grpc):
    flags = argparse.Namespace(
        samples_per_plugin={}, load_fast=load_fast, logdir=logdir, grpc_data_provider=grpc
    )
    CallbackEventsLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {"callback_events": 0}
