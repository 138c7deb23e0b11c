"""Serving a search: the routes that answer many runs at once (`many_events`,
`many_scalars`, `hparams`) agree with the per-run routes, and a request for
one run lists nothing but that run's own tags (TensorBoard's Python provider
walks every run for any other listing). In process over the Python loader,
and on a real `tensorboard` with both loaders."""

from __future__ import annotations

import collections
import math
import os
import sys
import urllib.parse

import pytest
from tb_server import tensorboard
from tensorboard.compat.proto import event_pb2, summary_pb2
from test_faults import comparable, without_writer
from test_plugin_logdirs import scalar_summary, write_scalars
from test_plugin_unit import App, q

from tb_callbacks_plugin import EventWriter, read_events
from tb_callbacks_plugin.eventfiles import records

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from search_logdir import TAG, trial_name, trial_plan, write_search  # noqa: E402

TRIALS = 7


class ListingSpy:
    """Delegates to the real provider and records each `list_tensors` filter."""

    def __init__(self, inner):
        self.inner = inner
        self.listings: list[tuple[list[str] | None, list[str] | None]] = []

    def __getattr__(self, name):
        method = getattr(self.inner, name)

        def call(*args, **kwargs):
            if name == "list_tensors" and kwargs.get("plugin_name") == "callback_events":
                f = kwargs.get("run_tag_filter")
                self.listings.append((f and f.runs and sorted(f.runs), f and f.tags and sorted(f.tags)))
            return method(*args, **kwargs)

        return call


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    write_search(str(root), TRIALS)
    return root


def _runs(n=TRIALS):
    return [f"{trial_name(i)}/train" for i in range(n)]


def test_one_runs_events_list_only_that_runs_tags(search_dir):
    app = App(search_dir)
    spy = ListingSpy(app.provider)
    app.plugin._store._provider = spy
    app.plugin._store._now = lambda: 0.0  # the listing of every run stays young
    app.json("runs")
    spy.listings.clear()
    for run in _runs():
        answer = app.json("events?" + q(run=run))
        assert len(answer["events"]) == len(read_events(os.path.join(search_dir, run)))
    # Each listing is of one run and one tag: the Python provider's O(1) case.
    assert spy.listings and all(
        runs and len(runs) == 1 and tags and len(tags) == 1 for runs, tags in spy.listings
    )
    assert {runs[0] for runs, _ in spy.listings} == set(_runs())


def test_a_new_tag_of_a_known_run_is_found_once_the_listing_is_old(search_dir, tmp_path):
    # A second fit into a run (a new writer) writes new tags.
    run_dir = tmp_path / "exp" / "train"
    with EventWriter(run_dir) as w:
        w.write("train_begin", 0, "first fit")
    app = App(tmp_path)
    clock = [0.0]
    app.plugin._store._now = lambda: clock[0]
    assert [e["message"] for e in app.json("events?run=exp/train")["events"]] == ["first fit"]
    with EventWriter(run_dir) as w:
        w.write("train_begin", 5, "second fit")
    app.reload()
    clock[0] += 2.0  # past max_age: the listing of every run is made again
    messages = [e["message"] for e in app.json("events?run=exp/train")["events"]]
    assert messages == ["first fit", "second fit"]


def test_many_events_is_every_runs_events_answer(search_dir):
    app = App(search_dir)
    many = app.json("many_events")["runs"]
    assert [r["run"] for r in many] == _runs()
    for entry in many:
        assert entry == app.json("events?" + q(run=entry["run"]))
    some = app.json("many_events?" + q(run=[_runs()[3], _runs()[1]], kind="train_end"))["runs"]
    assert [r["run"] for r in some] == [_runs()[1], _runs()[3]]
    for entry in some:
        assert [e["data"]["reason"] for e in entry["events"]] == [
            trial_plan(int(entry["run"][6:10]))["ending"]
        ]
    assert app.get("many_events?" + q(run="no/such")).status_code == 404
    assert app.get("many_events?" + q(run="")).status_code == 400
    assert app.get("many_events?" + q(kind="Bad Kind")).status_code == 400


def test_many_scalars_is_every_runs_series_reduced(search_dir):
    app = App(search_dir)
    full = app.json("many_scalars?" + q(tag=TAG))
    assert full["x"] == "epoch" and [s["run"] for s in full["series"]] == _runs()
    for series in full["series"]:
        one = app.json("scalars?" + q(run=series["run"], tag=TAG))
        assert series["step"] == one["step"] and series["total"] == one["total"]
        assert [v if v is None else round(v, 5) for v in series["value"]] == [
            v if v is None else round(v, 5) for v in one["value"]
        ]
        assert series["nonfinite"] == one["nonfinite"] and series["global_step"] is None
    small = app.json("many_scalars?" + q(tag=TAG, points=10))
    for series, whole in zip(small["series"], full["series"], strict=True):
        assert len(series["step"]) <= 10 and series["total"] == whole["total"]
        finite = [v for v in whole["value"] if v is not None]
        kept = [v for v in series["value"] if v is not None]
        assert min(kept) == min(finite) and series["step"][-1] == whole["step"][-1]
    bare = app.json("many_scalars?" + q(tag=TAG, points=10, wall_time=0))
    assert bare["series"] == [{**series, "wall_time": None} for series in small["series"]]
    assert app.json("many_scalars?" + q(tag=TAG, points=10, wall_time=1)) == small
    for bad in ("1", "2001", "x"):
        assert app.get("many_scalars?" + q(tag=TAG, points=bad)).status_code == 400
    assert app.get("many_scalars?" + q(tag=TAG, wall_time="no")).status_code == 400
    assert app.get("many_scalars").status_code == 400
    assert app.json("many_scalars?" + q(tag="no_such_tag"))["series"] == []


def _digest_from_events(events):
    """The table's rules (frontend/src/trials.ts), applied to a run's `events` answer."""
    end = stop = None
    ticks = []
    for e in events:
        if e["kind"] == "train_end" and (end is None or e["wall_time"] >= end[0]):
            at = e["data"].get("last_epoch", e["epoch"])
            end = [e["wall_time"], e["data"].get("reason", "completed"), None if at is None else at + 1]
        if e["kind"] in ("early_stop", "nan_terminated") and (stop is None or e["wall_time"] >= stop[0]):
            ending = "nan" if e["kind"] == "nan_terminated" else "early_stop"
            stop = [e["wall_time"], ending, None if e["epoch"] is None else e["epoch"] + 1]
        ticks_kinds = ("lr_change", "checkpoint_saved", "early_stop", "nan_terminated", "weights_restored")
        if e["kind"] in ticks_kinds and e["epoch"] is not None:
            ticks.append([e["epoch"], e["kind"]])
    times = [e["wall_time"] for e in events if e["wall_time"] > 0]
    kinds = collections.Counter(e["kind"] for e in events)
    return {
        "end": end,
        "stop": stop,
        "lr_changes": kinds["lr_change"],
        "checkpoints": kinds["checkpoint_saved"],
        "first": min(times, default=None),
        "last": max(times, default=None),
        "ticks": ticks,
    }


def test_runs_digest_is_what_the_table_reads_of_the_events(search_dir):
    app = App(search_dir)
    plain = app.json("runs")["runs"]
    assert all("digest" not in r for r in plain) and app.json("runs?digest=0")["runs"] == plain
    runs = app.json("runs?digest=1")["runs"]
    assert [{k: v for k, v in r.items() if k != "digest"} for r in runs] == plain
    for entry in runs:
        events = app.json("events?" + q(run=entry["run"]))["events"]
        assert entry["digest"] == _digest_from_events(events)
        plan = trial_plan(int(entry["run"][6:10]))
        ended = entry["digest"]["end"] or entry["digest"]["stop"]
        assert ended[1] == plan["ending"] and ended[2] == plan["last_epoch"] + 1
        assert entry["digest"]["lr_changes"] == len(plan["lr_changes"])
        assert entry["digest"]["checkpoints"] == len(plan["checkpoints"])
    for bad in ("true", "", "2"):
        answer = app.get("runs?" + q(digest=bad))
        assert answer.status_code == 400 and "digest" in answer.get_json()["error"]
    assert app.get("runs?digest=1&digest=1").status_code == 400


def test_hparams_are_each_trials(search_dir):
    app = App(search_dir)
    found = app.json("hparams")["experiments"]
    assert found == {trial_name(i): trial_plan(i)["hparams"] for i in range(TRIALS)}


@pytest.mark.parametrize("load_fast", [True, False], ids=["load_fast=true", "load_fast=false"])
def test_routes_for_many_runs_on_a_real_tensorboard(search_dir, load_fast):
    with tensorboard(str(search_dir), load_fast=load_fast, start_timeout=300, tensorflow=False) as tb:
        tb.wait_for(lambda: len(tb.plugin_json("runs")["runs"]) == TRIALS, timeout=120)
        tb.wait_for(lambda: len(tb.plugin_json("many_scalars?tag=" + TAG)["series"]) == TRIALS, timeout=120)
        many = tb.plugin_json("many_events")["runs"]
        digests = {r["run"]: r["digest"] for r in tb.plugin_json("runs?digest=1")["runs"]}
        for entry in many:
            assert entry == tb.plugin_json("events?run=" + urllib.parse.quote(entry["run"]))
            assert digests[entry["run"]] == _digest_from_events(entry["events"])
            ends = collections.Counter(e.kind for e in read_events(os.path.join(search_dir, entry["run"])))
            assert collections.Counter(e["kind"] for e in entry["events"]) == ends
        series = tb.plugin_json(f"many_scalars?tag={TAG}&points=50")["series"]
        for s in series:
            plan = trial_plan(int(s["run"][6:10]))
            assert s["total"] == plan["last_epoch"] + 1 and s["step"][-1] == plan["last_epoch"]
            assert (s["nonfinite"] is not None) == (plan["ending"] == "nan")
            assert all(v is None or math.isfinite(v) for v in s["value"])
        assert tb.plugin_json("hparams")["experiments"] == {
            trial_name(i): trial_plan(i)["hparams"] for i in range(TRIALS)
        }


def test_many_scalars_answers_anew_when_a_series_grows(tmp_path):
    # One writer, appended to: a second file written in the same second could
    # sort before the first, and the Python loader reads files in name order.
    w = EventWriter(tmp_path / "a" / "train")
    write_scalars(w, TAG, [3.0, 2.0])
    w.flush()
    app = App(tmp_path)
    assert app.json("many_scalars?" + q(tag=TAG))["series"][0]["value"] == [3.0, 2.0]
    assert app.json("many_scalars?" + q(tag=TAG))["series"][0]["value"] == [3.0, 2.0]
    for step, value in ((2, 1.0), (3, 0.5)):
        w.write_summary(scalar_summary(TAG, value), step)
    w.close()
    app.reload()
    assert app.json("many_scalars?" + q(tag=TAG))["series"][0]["value"] == [3.0, 2.0, 1.0, 0.5]


# Runs TensorBoard's Python loader takes long to load (each a file of
# scalars it parses record by record before the file of events beside it),
# and the plugin reads in a moment (it only looks for its own tags' bytes).
SLOW_RUNS = 24
SLOW_SCALARS = 20_000


@pytest.fixture(scope="module")
def slow_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("slow")
    scalar = event_pb2.Event(
        wall_time=1.0,
        step=1,
        summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="batch_loss", simple_value=0.5)]),
    )
    head = records.frame(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
    body = head + records.frame(scalar.SerializeToString()) * SLOW_SCALARS
    for i in range(SLOW_RUNS):
        run = root / f"run_{i:02d}"
        run.mkdir()
        # Sorts before the writer's file: the Python loader reads it first.
        (run / "events.out.tfevents.0000000001.scalars").write_bytes(body)
        with EventWriter(run) as w:
            for step in range(i % 5 + 1):
                w.write("tick", step, f"run {i} step {step}")
    return root


def _served_as_read(tb, root) -> bool:
    """Every run's events served (`many_events`) are exactly what `read_events` reads."""
    expected = collections.defaultdict(list)
    for event in read_events(root):
        expected[event.run].append(event)
    served = {entry["run"]: entry["events"] for entry in tb.plugin_json("many_events")["runs"]}
    assert set(served) == set(expected)
    for run, events in expected.items():
        assert without_writer(served[run]) == comparable(events), run
    return True


@pytest.mark.parametrize("load_fast", [True, False], ids=["load_fast=true", "load_fast=false"])
def test_runs_are_listed_without_waiting_for_tensorboards_load(slow_dir, load_fast):
    """On the Python loader the plugin reads its runs itself: it lists every
    run, each with all its events, while TensorBoard's own scalars still lack
    some (it loads run after run, each scalar file first); with either loader
    nothing is lost."""
    counts = {f"run_{i:02d}": i % 5 + 1 for i in range(SLOW_RUNS)}
    with tensorboard(str(slow_dir), load_fast=load_fast, start_timeout=300, tensorflow=False) as tb:
        tb.wait_for(
            lambda: {r["run"]: r["count"] for r in tb.plugin_json("runs")["runs"]} == counts, timeout=300
        )
        if not load_fast:
            tags = tb.get_json("/data/plugin/scalars/tags")
            assert sum("batch_loss" in t for t in tags.values()) < SLOW_RUNS, (
                "TensorBoard had loaded every run"
            )
        assert _served_as_read(tb, slow_dir)
