"""ScalarStore and RunNames over TensorBoard's Python loader: what they read,
how few provider calls they make, and that they never serve stale data."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from tensorboard import context
from test_plugin_logdirs import write_scalars
from test_plugin_unit import App, q

from tb_callbacks_plugin import EventWriter
from tb_callbacks_plugin.server.run_names import RunNames
from tb_callbacks_plugin.server.scalar_store import ScalarStore

CTX = context.RequestContext()


class CountingProvider:
    """Delegates to the real provider and counts the calls per method."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: collections.Counter[str] = collections.Counter()
        self.read_runs: list[list[str]] = []

    def __getattr__(self, name):
        method = getattr(self.inner, name)

        def call(*args, **kwargs):
            self.calls[name] += 1
            if name == "read_scalars":
                self.read_runs.append(sorted(kwargs["run_tag_filter"].runs or []))
            return method(*args, **kwargs)

        return call


def _logdir(root, runs: int, points: int = 5):
    for r in range(runs):
        with EventWriter(root / f"exp{r:02d}" / "train") as w:
            write_scalars(w, "epoch_loss", [1.0 / (i + 1 + r) for i in range(points)])
            write_scalars(w, "epoch_accuracy", [0.5] * points)


def test_one_read_serves_a_chunk_of_runs(tmp_path):
    _logdir(tmp_path, 10)
    app = App(tmp_path)
    counting = CountingProvider(app.provider)
    store = ScalarStore(counting, chunk_runs=4)
    names = sorted(r.run_name for r in app.provider.list_runs(CTX, experiment_id=""))
    for run in names:
        series = store.series(CTX, experiment_id="", run=run, tag="epoch_loss", all_runs=names)
        r = int(run[3:5])
        assert series.steps.tolist() == [0, 1, 2, 3, 4]
        np.testing.assert_allclose(series.values, [1.0 / (i + 1 + r) for i in range(5)], rtol=1e-6)
    # 10 runs in chunks of 4: three reads, each of the chunk's runs in name order.
    assert counting.read_runs == [names[0:4], names[4:8], names[8:10]]
    # Asked again with nothing changed: only the cheap listings.
    before = counting.calls["read_scalars"]
    for run in names:
        store.series(CTX, experiment_id="", run=run, tag="epoch_loss", all_runs=names)
    assert counting.calls["read_scalars"] == before
    assert store.series(CTX, experiment_id="", run=names[0], tag="nope", all_runs=names) is None


def test_a_grown_series_is_read_again(tmp_path):
    _logdir(tmp_path, 3)
    app = App(tmp_path)
    store = ScalarStore(app.provider)
    names = sorted(r.run_name for r in app.provider.list_runs(CTX, experiment_id=""))
    first = store.series(CTX, experiment_id="", run=names[1], tag="epoch_loss", all_runs=names)
    assert len(first.steps) == 5
    with EventWriter(tmp_path / "exp01" / "train") as w:
        write_scalars(w, "epoch_loss", [0.01, 0.02], steps=[5, 6])
    app.reload()
    grown = store.series(CTX, experiment_id="", run=names[1], tag="epoch_loss", all_runs=names)
    assert grown.steps.tolist() == [0, 1, 2, 3, 4, 5, 6]
    # A restart at an earlier step (a second fit) changes max_wall_time only.
    with EventWriter(tmp_path / "exp01" / "train") as w:
        write_scalars(w, "epoch_loss", [9.0], steps=[0], t0=2e9)
    app.reload()
    restarted = store.series(CTX, experiment_id="", run=names[1], tag="epoch_loss", all_runs=names)
    assert len(restarted.steps) == 8 and 9.0 in restarted.values.tolist()


def test_kept_points_are_bounded(tmp_path):
    _logdir(tmp_path, 6, points=10)
    app = App(tmp_path)
    store = ScalarStore(app.provider, chunk_runs=2, max_points=25)
    names = sorted(r.run_name for r in app.provider.list_runs(CTX, experiment_id=""))
    for run in names:
        series = store.series(CTX, experiment_id="", run=run, tag="epoch_loss", all_runs=names)
        assert len(series.steps) == 10  # served whole even when it is not kept
    assert store._points <= 25


def test_run_names_listed_once_per_burst_and_a_new_run_is_never_unknown(tmp_path):
    _logdir(tmp_path, 2)
    app = App(tmp_path)
    counting = CountingProvider(app.provider)
    clock = [100.0]
    names = RunNames(counting, max_age=1.0)
    names._now = lambda: clock[0]
    for _ in range(20):
        assert names.names(CTX, experiment_id="", including="exp00/train") == ["exp00/train", "exp01/train"]
    assert counting.calls["list_runs"] == 1
    # A run the kept list lacks is listed again at once.
    with EventWriter(tmp_path / "exp02" / "train") as w:
        write_scalars(w, "epoch_loss", [1.0])
    app.reload()
    assert "exp02/train" in names.names(CTX, experiment_id="", including="exp02/train")
    assert counting.calls["list_runs"] == 2
    # Without `including`, a listing older than max_age is not used.
    clock[0] += 1.5
    names.names(CTX, experiment_id="")
    assert counting.calls["list_runs"] == 3


@pytest.mark.parametrize("tag", ["epoch_loss", "batch_loss"])
def test_scalars_route_answers_the_same_through_the_stores(tmp_path, tag):
    with EventWriter(tmp_path / "exp" / "train") as w:
        w.write_epoch(0, 10)
        w.write_epoch(1, 20)
        write_scalars(w, tag, [1.0, 0.5])
    app = App(tmp_path)
    body = app.json("scalars?" + q(run="exp/train", tag=tag))
    assert body["step"] == [0, 1] and body["value"] == [1.0, 0.5] and body["total"] == 2
    assert body["global_step"] == ([10, 20] if tag.startswith("epoch_") else None)
    with EventWriter(tmp_path / "exp" / "train") as w:
        write_scalars(w, tag, [0.25], steps=[2])
    app.reload()
    assert app.json("scalars?" + q(run="exp/train", tag=tag))["value"] == [1.0, 0.5, 0.25]


def test_a_chunk_too_large_for_grpc_falls_back_to_the_one_run(tmp_path):
    from test_plugin_unit import TooLarge

    _logdir(tmp_path, 5)
    app = App(tmp_path)

    class OneRunAtATime(CountingProvider):
        """Answers like a data server whose gRPC limit fits one run's series."""

        def __getattr__(self, name):
            method = super().__getattr__(name)
            if name != "read_scalars":
                return method

            def read(*args, **kwargs):
                self.attempts.append(sorted(kwargs["run_tag_filter"].runs))
                if len(kwargs["run_tag_filter"].runs) > 1:
                    raise TooLarge()
                return method(*args, **kwargs)

            return read

    limited = OneRunAtATime(app.provider)
    limited.attempts = []
    store = ScalarStore(limited)
    names = sorted(r.run_name for r in app.provider.list_runs(CTX, experiment_id=""))
    series = store.series(CTX, experiment_id="", run=names[2], tag="epoch_loss", all_runs=names)
    assert series.steps.tolist() == [0, 1, 2, 3, 4]
    assert limited.attempts == [names, [names[2]]]


def test_many_runs_are_read_a_chunk_at_a_time(tmp_path, monkeypatch):
    """A search's reads go READ_CHUNK_RUNS runs at a time (the answer of
    every run at once stays resident), and answer the same as one read."""
    from tb_callbacks_plugin.server import provider_reads
    from tb_callbacks_plugin.server.event_store import EventStore

    for r in range(7):
        with EventWriter(tmp_path / f"exp{r:02d}" / "train") as w:
            write_scalars(w, "epoch_loss", [1.0 / (i + 1 + r) for i in range(4)])
            for i in range(r + 1):
                w.write("lr_change", i, f"change {i}")
    app = App(tmp_path)
    whole_scalars = ScalarStore(app.provider).many(CTX, experiment_id="", tag="epoch_loss", runs=None)
    whole_events = EventStore(app.provider).runs(CTX, experiment_id="")
    trimmed = []
    monkeypatch.setattr(provider_reads, "READ_CHUNK_RUNS", 3)
    monkeypatch.setattr(provider_reads, "return_freed_memory", lambda: trimmed.append(True))

    counting = CountingProvider(app.provider)
    chunked = ScalarStore(counting).many(CTX, experiment_id="", tag="epoch_loss", runs=None)
    assert counting.read_runs == [[f"exp{r:02d}/train" for r in rs] for rs in ([0, 1, 2], [3, 4, 5], [6])]
    assert chunked.keys() == whole_scalars.keys()
    for run, series in chunked.items():
        np.testing.assert_array_equal(series.values, whole_scalars[run].values)

    counting = CountingProvider(app.provider)
    events = EventStore(counting).runs(CTX, experiment_id="")
    assert counting.calls["read_tensors"] == 3
    assert [(r.run, r.kinds, [e.json for e in r.events]) for r in events] == [
        (r.run, r.kinds, [e.json for e in r.events]) for r in whole_events
    ]
    assert [r.kinds for r in events] == [{"lr_change": n} for n in range(1, 8)]
    assert trimmed == [True, True]  # after each store's large read


def _events_logdir(root, runs: range) -> None:
    for r in runs:
        with EventWriter(root / f"exp{r:02d}" / "train") as w:
            write_scalars(w, "epoch_loss", [1.0, 0.5])
            w.write("lr_change", 1, f"change of run {r}")


def test_runs_and_many_events_see_a_run_written_after_their_last_answer(tmp_path):
    """Sharing one listing between requests (shared_calls) keeps nothing
    past a call: what is written after an answer is in the next one."""
    _events_logdir(tmp_path, range(1))
    app = App(tmp_path)
    assert [r["run"] for r in app.json("runs")["runs"]] == ["exp00/train"]
    assert [r["run"] for r in app.json("many_events")["runs"]] == ["exp00/train"]
    _events_logdir(tmp_path, range(1, 2))
    with EventWriter(tmp_path / "exp00" / "train") as w:
        w.write("early_stop", 2, "a second event in the first run")
    app.reload()
    runs = app.json("runs")["runs"]
    assert [(r["run"], r["count"]) for r in runs] == [("exp00/train", 2), ("exp01/train", 1)]
    many = app.json("many_events")["runs"]
    assert [(r["run"], [e["kind"] for e in r["events"]]) for r in many] == [
        ("exp00/train", ["lr_change", "early_stop"]),
        ("exp01/train", ["lr_change"]),
    ]


def test_requests_arriving_together_share_one_listing_of_every_run(tmp_path):
    """`runs` and `many_events` arrive together and each lists every run's
    tags; the second waits for the first one's listing instead of making
    its own (at 3,000 runs a listing takes TensorBoard most of a second)."""
    import threading

    from tb_callbacks_plugin import metadata
    from tb_callbacks_plugin.server.event_store import EventStore

    _events_logdir(tmp_path, range(3))
    app = App(tmp_path)
    entered, release = threading.Event(), threading.Event()

    class Gated(CountingProvider):
        def list_tensors(self, ctx, *, run_tag_filter=None, **kwargs):
            if run_tag_filter is None and kwargs["plugin_name"] == metadata.PLUGIN_NAME:
                self.calls["list every run"] += 1
                entered.set()
                release.wait()
            return self.inner.list_tensors(ctx, run_tag_filter=run_tag_filter, **kwargs)

    gated = Gated(app.provider)
    store = EventStore(gated)
    answers: dict[str, list] = {}

    def ask(name: str) -> None:
        answers[name] = [(r.run, [e.json for e in r.events]) for r in store.runs(CTX, experiment_id="")]

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    entered.wait()
    second = threading.Thread(target=ask, args=("second",))
    second.start()
    shared = store._listings._running[""]
    while not shared.done._cond._waiters:  # the second request waits on the first one's listing
        second.join(0.01)
    release.set()
    first.join()
    second.join()
    assert gated.calls["list every run"] == 1
    assert answers["first"] == answers["second"]
    assert [run for run, _ in answers["first"]] == ["exp00/train", "exp01/train", "exp02/train"]
    # Asked again afterwards: listed again (nothing is kept past a call).
    store.runs(CTX, experiment_id="")
    assert gated.calls["list every run"] == 2
