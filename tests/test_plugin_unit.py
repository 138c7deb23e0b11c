"""The plugin's routes on TensorBoard's WSGI app over a MultiplexerDataProvider
(TensorBoard's own Python loader, in process): shapes, sorting, filters,
bad input, damaged and newer-format records, static files."""

from __future__ import annotations

import argparse
import json
import math
import os
import urllib.parse

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester, data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from test_plugin_logdirs import T0, newer_version_content, raw_bundle, write_keras_like, write_scalars
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from tb_callbacks_plugin import EventWriter, event_format, metadata
from tb_callbacks_plugin.server.event_store import EventStore
from tb_callbacks_plugin.server.loader import CallbackEventsLoader
from tb_callbacks_plugin.server.plugin import CallbackEventsPlugin, sampling_limit

PREFIX = "/data/plugin/callback_events/"


def strict_json(body: bytes):
    """Parses like a browser's JSON.parse: NaN/Infinity are errors."""

    def refuse(name):
        raise AssertionError(f"response holds non-JSON constant {name}")

    return json.loads(body, parse_constant=refuse)


class App:
    """TensorBoard's WSGI app with our plugin over the Python loader, built
    the way `tensorboard` builds it (flags fixed by our loader first)."""

    def __init__(self, logdir, *, samples=None, static_dir=None, spy=False, read_logdir=False):
        flags = argparse.Namespace(samples_per_plugin=dict(samples or {}))
        CallbackEventsLoader().fix_flags(flags)
        guidance = dict(data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE)
        guidance.update(flags.samples_per_plugin)
        self.multiplexer = plugin_event_multiplexer.EventMultiplexer(
            size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE, tensor_size_guidance=guidance
        )
        self.logdir = str(logdir)
        self.multiplexer.AddRunsFromDirectory(self.logdir)
        self.multiplexer.Reload()
        provider = data_provider.MultiplexerDataProvider(self.multiplexer, self.logdir)
        if spy:
            provider = ExperimentSpy(provider)
        self.provider = provider
        context = base_plugin.TBContext(
            data_provider=provider, logdir=self.logdir, sampling_hints=flags.samples_per_plugin, flags=flags
        )
        self.plugin = CallbackEventsPlugin(context, static_dir=static_dir, read_logdir=read_logdir)
        self.wsgi = application.TensorBoardWSGI([self.plugin], data_provider=provider)
        self.client = Client(self.wsgi)

    def reload(self):
        self.multiplexer.AddRunsFromDirectory(self.logdir)
        self.multiplexer.Reload()

    def get(self, route, **kwargs):
        return self.client.get(PREFIX + route, **kwargs)

    def json(self, route, status=200):
        response = self.get(route)
        assert response.status_code == status, (route, response.status_code, response.get_data()[:300])
        assert response.headers["Content-Type"].startswith("application/json")
        return strict_json(response.get_data())

    def raw_query(self, route, query: bytes):
        """GET with a query string of arbitrary bytes (as a server passes them)."""
        environ = EnvironBuilder(path=PREFIX + route).get_environ()
        environ["QUERY_STRING"] = query.decode("latin-1")
        app_iter, status, headers = run_wsgi_app(self.wsgi, environ, buffered=True)
        return int(status.split()[0]), b"".join(app_iter), headers


class ExperimentSpy:
    """Delegates to the real provider and records the experiment ids asked for."""

    def __init__(self, inner):
        self.inner = inner
        self.experiment_ids = []

    def __getattr__(self, name):
        method = getattr(self.inner, name)

        def call(*args, **kwargs):
            self.experiment_ids.append(kwargs.get("experiment_id"))
            return method(*args, **kwargs)

        return call


def q(**params) -> str:
    return urllib.parse.urlencode(params, doseq=True)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    with EventWriter(root / "a") as w:
        # Out of step order and two events at one step with reversed wall times.
        w.write("lr_change", 50, "lr 0.1 -> 0.01", epoch=5, old=0.1, new=0.01, wall_time=T0 + 50)
        w.write("checkpoint_saved", 20, "saved", epoch=2, filepath="/x.keras", wall_time=T0 + 20)
        w.write("early_stop", 90, "stopped", epoch=9, monitor="val_loss", wall_time=T0 + 91)
        w.write("my.custom-kind_1", 90, "first at 90", wall_time=T0 + 90)
        w.write("nan_terminated", 95, "loss is nan", batch=3, loss=float("nan"), wall_time=T0 + 95)
        w.write("lr_change", 95, "lr inf", old=float("inf"), new=float("-inf"), deep={"x": [float("nan")]})
    with EventWriter(root / "a") as w2:  # a second fit into the same run: new tags, nothing replaced
        w2.write("train_begin", 0, "again", wall_time=T0 + 1000)
    with EventWriter(root / "exp" / "train") as w:
        w.write("train_begin", 0, "fit", epochs=3)
    write_keras_like(str(root / "exp"), epochs=4, steps_per_epoch=25)
    with EventWriter(root / "scalars_only") as w:
        write_scalars(w, "loss", [1.0, 0.5])
    with EventWriter(root / "damaged") as w:
        w.write("train_begin", 0, "good one")
        raw_bundle(
            w,
            event_format.EVENTS_TAG_PREFIX + "zz.0",
            3,
            [b"{not json", b'{"kind": "ok", "message": "fine"}'],
        )
        raw_bundle(w, event_format.EVENTS_TAG_PREFIX + "zz.1", 4, [b'{"kind": "x"}'], content=b"\xff garbage")
    with EventWriter(root / "newer") as w:
        w.write("train_begin", 0, "old format")
        raw_bundle(
            w, event_format.EVENTS_TAG_PREFIX + "v2.0", 5, [b'{"kind": "x"}'], content=newer_version_content()
        )
    with EventWriter(root / "only_newer") as w:
        raw_bundle(
            w, event_format.EVENTS_TAG_PREFIX + "v2.0", 5, [b'{"kind": "x"}'], content=newer_version_content()
        )
    return root


@pytest.fixture(scope="module", params=[False, True], ids=["provider", "read_logdir"])
def app(logdir, request):
    """The plugin reading events through the data provider, and reading the
    logdir's files itself (as on TensorBoard's Python loader): the same answers."""
    return App(logdir, read_logdir=request.param)


# ---------------------------------------------------------------- runs, events


def test_runs_lists_runs_with_events_sorted_with_counts_and_kinds(app):
    body = app.json("runs")
    names = [r["run"] for r in body["runs"]]
    assert names == sorted(names)
    assert "scalars_only" not in names and "exp/validation" not in names
    runs = {r["run"]: r for r in body["runs"]}
    assert set(runs) == {"a", "exp/train", "damaged", "newer", "only_newer"}
    assert runs["a"]["count"] == 7
    assert runs["a"]["kinds"] == {
        "checkpoint_saved": 1,
        "early_stop": 1,
        "lr_change": 2,
        "my.custom-kind_1": 1,
        "nan_terminated": 1,
        "train_begin": 1,
    }
    assert runs["a"]["warnings"] == []
    # callbacks.TensorBoard-like run: one train_begin from us, two from write_keras_like
    assert runs["exp/train"]["kinds"] == {"train_begin": 2, "train_end": 1}


def test_events_are_sorted_by_step_then_wall_time_with_all_fields(app):
    body = app.json("events?" + q(run="a"))
    assert body["run"] == "a" and body["warnings"] == []
    events = body["events"]
    assert [(e["step"], e["kind"]) for e in events] == [
        (0, "train_begin"),
        (20, "checkpoint_saved"),
        (50, "lr_change"),
        (90, "my.custom-kind_1"),  # wall time T0 + 90 before T0 + 91
        (90, "early_stop"),
        (95, "nan_terminated"),
        (95, "lr_change"),
    ]
    first = events[2]
    assert set(first) == {"kind", "step", "epoch", "wall_time", "source", "message", "data", "writer"}
    # The added field names the writer (one per fit): run a's second writer wrote only its train_begin.
    writers = {e["kind"]: e.pop("writer") for e in events}
    assert writers["train_begin"] != writers["lr_change"] == writers["early_stop"]
    assert all(isinstance(w, str) and w for w in writers.values())
    assert first == {
        "kind": "lr_change",
        "step": 50,
        "epoch": 5,
        "wall_time": T0 + 50,
        "source": None,
        "message": "lr 0.1 -> 0.01",
        "data": {"old": 0.1, "new": 0.01},
    }


def test_nonfinite_data_become_strings_and_the_body_is_strict_json(app):
    events = app.json("events?" + q(run="a", kind="nan_terminated"))["events"]
    assert events[0]["data"] == {"batch": 3, "loss": "NaN"}
    events = app.json("events?" + q(run="a", kind="lr_change"))["events"]
    assert events[1]["data"] == {"old": "Infinity", "new": "-Infinity", "deep": {"x": ["NaN"]}}


def test_kind_filters_are_ored(app):
    one = app.json("events?" + q(run="a", kind="lr_change"))["events"]
    assert [e["kind"] for e in one] == ["lr_change", "lr_change"]
    two = app.json("events?" + q(run="a", kind=["early_stop", "checkpoint_saved"]))["events"]
    assert [e["kind"] for e in two] == ["checkpoint_saved", "early_stop"]
    assert app.json("events?" + q(run="a", kind="weights_restored"))["events"] == []


def test_known_run_without_events_answers_empty_list(app):
    body = app.json("events?" + q(run="scalars_only"))
    assert body == {"run": "scalars_only", "warnings": [], "events": []}


def test_damaged_records_skip_only_what_is_damaged(app):
    body = app.json("events?" + q(run="damaged"))
    assert [e["message"] for e in body["events"]] == ["good one", "fine"]
    assert any("1 unreadable" in w for w in body["warnings"])
    assert any("damaged metadata" in w for w in body["warnings"])
    runs = {r["run"]: r for r in app.json("runs")["runs"]}
    assert runs["damaged"]["count"] == 2 and runs["damaged"]["warnings"] == body["warnings"]


def test_newer_format_version_is_a_clear_warning_for_that_run_only(app):
    body = app.json("events?" + q(run="newer"))
    assert [e["message"] for e in body["events"]] == ["old format"]
    assert len(body["warnings"]) == 1 and "format version 2" in body["warnings"][0]
    assert "upgrade" in body["warnings"][0]
    only = app.json("events?" + q(run="only_newer"))
    assert only["events"] == [] and "format version 2" in only["warnings"][0]
    runs = {r["run"]: r for r in app.json("runs")["runs"]}
    assert runs["only_newer"]["count"] == 0 and runs["only_newer"]["warnings"]
    assert runs["a"]["warnings"] == []


def test_new_events_appear_after_reload(tmp_path):
    with EventWriter(tmp_path / "r") as w:
        w.write("train_begin", 0, "one")
        w.flush()
        app = App(tmp_path)
        assert app.json("runs")["runs"][0]["count"] == 1
        assert len(app.json("events?run=r")["events"]) == 1
        for step in range(1, 6):
            w.write("lr_change", step, f"step {step}")
        w.flush()
        app.reload()
        assert app.json("runs")["runs"][0]["count"] == 6
        assert [e["step"] for e in app.json("events?run=r")["events"]] == [0, 1, 2, 3, 4, 5]
    with EventWriter(tmp_path / "s") as w:
        w.write("train_begin", 0, "a new run")
    app.reload()
    assert [r["run"] for r in app.json("runs")["runs"]] == ["r", "s"]


def test_many_events_at_one_step_all_served(tmp_path):
    with EventWriter(tmp_path / "r") as w:
        for i in range(3000):
            w.write("tick", 7, f"e{i}", wall_time=T0 + i)
    app = App(tmp_path)
    events = app.json("events?run=r")["events"]
    assert [e["message"] for e in events] == [f"e{i}" for i in range(3000)]


def test_users_samples_per_plugin_is_respected(tmp_path):
    with EventWriter(tmp_path / "r") as w:
        for i in range(50):
            w.write("tick", i)
    assert App(tmp_path).json("runs")["runs"][0]["count"] == 50
    assert App(tmp_path, samples={"callback_events": 7}).json("runs")["runs"][0]["count"] == 7


def test_experiment_id_from_the_request_reaches_the_data_provider(logdir):
    app = App(logdir, spy=True)
    response = app.client.get("/experiment/exp123" + PREFIX + "events?run=a")
    assert response.status_code == 200
    assert app.provider.experiment_ids and set(app.provider.experiment_ids) == {"exp123"}
    app.provider.experiment_ids.clear()
    app.json("runs")
    assert set(app.provider.experiment_ids) == {""}


def test_plugins_listing_enables_the_tab_only_with_events(logdir, tmp_path):
    listing = strict_json(App(logdir).client.get("/data/plugins_listing").get_data())
    entry = listing["callback_events"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "Callback Events"
    assert entry["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": "/data/plugin/callback_events/static/index.js",
    }
    with EventWriter(tmp_path / "r") as w:
        write_scalars(w, "loss", [1.0])
    listing = strict_json(App(tmp_path).client.get("/data/plugins_listing").get_data())
    assert listing["callback_events"]["enabled"] is False


# ---------------------------------------------------------------- tags, scalars


def test_tags_lists_the_run_and_its_siblings(app):
    body = app.json("tags?" + q(run="exp/train"))
    assert body == {
        "run": "exp/train",
        "runs": {"exp/train": ["epoch_loss"], "exp/validation": ["epoch_accuracy", "epoch_loss"]},
    }
    # A run with events but no scalars still appears (with no tags).
    assert app.json("tags?" + q(run="a"))["runs"]["a"] == []


def test_tags_of_a_top_level_run_include_runs_below_it(tmp_path):
    with EventWriter(tmp_path / "exp") as w:
        w.write("train_begin", 0)
    write_keras_like(str(tmp_path / "exp"), epochs=2, steps_per_epoch=3)
    with EventWriter(tmp_path / "other" / "train") as w:
        write_scalars(w, "epoch_loss", [1.0])
    app = App(tmp_path)
    runs = app.json("tags?run=exp")["runs"]
    assert set(runs) == {"exp", "exp/train", "exp/validation"}


def test_runs_carry_each_runs_tags_answer(app, tmp_path):
    runs = app.json("runs")["runs"]
    assert runs and all("scalar_tags" in r for r in runs)
    for r in runs:
        assert r["scalar_tags"] == app.json("tags?" + q(run=r["run"]))["runs"], r["run"]
    # A top-level run with runs below it, as in the tags route.
    with EventWriter(tmp_path / "exp") as w:
        w.write("train_begin", 0)
    write_keras_like(str(tmp_path / "exp"), epochs=2, steps_per_epoch=3)
    top = {r["run"]: r for r in App(tmp_path).json("runs")["runs"]}["exp"]
    assert set(top["scalar_tags"]) == {"exp", "exp/train", "exp/validation"}


def test_epoch_series_maps_to_global_steps_from_epoch_records(app):
    body = app.json("scalars?" + q(run="exp/validation", tag="epoch_loss"))
    assert body["run"] == "exp/validation" and body["tag"] == "epoch_loss"
    assert body["x"] == "epoch"
    assert body["total"] == 4
    assert body["step"] == [0, 1, 2, 3]
    assert body["global_step"] == [25, 50, 75, 100]
    assert body["wall_time"] == [T0, T0 + 1, T0 + 2, T0 + 3]
    assert body["value"] == pytest.approx([1.1, 0.55, 1.1 / 3, 0.275], rel=1e-6)
    assert body["nonfinite"] is None


def test_epoch_points_of_repeated_fits_map_to_their_own_fits_steps():
    from tb_callbacks_plugin.eventfiles import scalar_series

    # Two fits numbering their epochs from 0: the second continues at step 20.
    records = [(0, 10, 100.0), (1, 20, 101.0), (0, 30, 200.0), (1, 40, 201.0)]
    body = scalar_series.reduced_series(
        np.array([0, 1, 0, 1]),
        np.array([100.01, 101.01, 200.01, 201.01]),
        np.array([4.0, 3.0, 2.0, 1.0]),
        epoch_records=records,
    )
    assert body["global_step"] == [10, 20, 30, 40]
    assert body["step"] == [0, 1, 0, 1]  # one fit after the other, as written


def test_step_series_has_no_global_step(app):
    body = app.json("scalars?" + q(run="scalars_only", tag="loss"))
    assert body["x"] == "step" and body["global_step"] is None
    assert body["value"] == [1.0, 0.5]


def test_long_series_is_reduced_keeping_extremes_and_nonfinite(tmp_path):
    n = 20_000
    values = np.sin(np.arange(n) / 300.0)
    values[12_345] = 40.0
    values[17_000] = -40.0
    values[5_000] = np.nan
    values[6_000] = np.inf
    with EventWriter(tmp_path / "r") as w:
        write_scalars(w, "batch_loss", values.tolist())
    app = App(tmp_path, samples={"scalars": 0})
    body = app.json("scalars?" + q(run="r", tag="batch_loss"))
    assert body["total"] == n
    assert 1000 <= len(body["step"]) <= 2000
    assert len(body["value"]) == len(body["wall_time"]) == len(body["nonfinite"]) == len(body["step"])
    assert body["step"][0] == 0 and body["step"][-1] == n - 1
    assert body["step"] == sorted(body["step"])
    by_step = dict(zip(body["step"], body["value"], strict=True))
    assert by_step[12_345] == 40.0 and by_step[17_000] == -40.0
    named = dict(zip(body["step"], body["nonfinite"], strict=True))
    assert by_step[5_000] is None and named[5_000] == "NaN"
    assert by_step[6_000] is None and named[6_000] == "Infinity"
    assert named[0] is None


def test_unknown_run_or_tag_is_404(app):
    for route in (
        "events?" + q(run="nope"),
        "tags?" + q(run="nope"),
        "scalars?" + q(run="nope", tag="epoch_loss"),
        "scalars?" + q(run="exp/train", tag="nope"),
    ):
        assert "error" in app.json(route, status=404)


# ---------------------------------------------------------------- bad input


BAD_QUERIES = [
    ("events", b""),
    ("events", b"run="),
    ("events", b"run=a&run=b"),
    ("events", b"run=%ff%fe"),
    ("events", b"run=\xff\xfe"),  # raw bytes, not percent-encoded
    ("events", b"run=%ed%a0%80"),  # an encoded surrogate is not UTF-8
    ("events", b"run=a&kind=Not%20A%20Kind"),
    ("events", b"run=a&kind=" + b"x" * 65),
    ("events", b"run=a" + b"&kind=lr_change" * 70),
    ("events", b"run=" + b"x" * 5000),
    ("events", b"run=a%00b"),
    ("events", b"x=" + b"y" * 70_000),
    ("events", b"&" * 300),
    ("tags", b""),
    ("tags", b"run=%c3"),
    ("scalars", b"run=a"),
    ("scalars", b"tag=epoch_loss"),
    ("scalars", b"run=a&tag=%ff"),
    ("scalars", b"run=exp/train&tag=epoch_loss&tag=x"),
]


@pytest.mark.parametrize(("route", "query"), BAD_QUERIES)
def test_bad_parameters_are_400_with_a_json_error(app, route, query):
    status, body, headers = app.raw_query(route, query)
    assert status == 400, (route, query[:60], status, body[:200])
    error = strict_json(body)["error"]
    assert isinstance(error, str) and error
    assert dict(headers)["X-Content-Type-Options"] == "nosniff"


def test_other_methods_are_405(app):
    response = app.client.post(PREFIX + "events?run=a")
    assert response.status_code == 405 and "error" in strict_json(response.get_data())
    assert response.headers["Allow"] == "GET, HEAD"


def test_valid_raw_utf8_run_names_work(tmp_path):
    with EventWriter(tmp_path / "日本") as w:
        w.write("train_begin", 0, "ünïcødé")
    app = App(tmp_path)
    status, body, _ = app.raw_query("events", "run=日本".encode())
    assert status == 200 and strict_json(body)["events"][0]["message"] == "ünïcødé"
    assert app.json("events?" + q(run="日本"))["run"] == "日本"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(["runs", "events", "tags", "scalars"]),
    query=st.lists(
        st.one_of(
            st.sampled_from(
                [b"run=", b"run=a", b"run=exp/train", b"tag=", b"tag=epoch_loss", b"kind=", b"&", b"=", b"%"]
            ),
            st.binary(max_size=12),
            st.text(max_size=8).map(lambda s: urllib.parse.quote(s).encode()),
        ),
        max_size=6,
    ).map(b"".join),
)
def test_fuzzed_queries_never_fail_the_server(app, route, query):
    status, body, _ = app.raw_query(route, query)
    assert status in (200, 400, 404), (route, query, status, body[:200])
    parsed = strict_json(body)
    assert (status == 200) == ("error" not in parsed)


# ---------------------------------------------------------------- static files


@pytest.fixture()
def static_app(tmp_path, logdir):
    static = tmp_path / "static"
    (static / "sub").mkdir(parents=True)
    (static / "index.js").write_text("export function render() {}\n")
    (static / "sub" / "style.css").write_text("body{}")
    (static / ".hidden").write_text("secret")
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink(tmp_path / "outside.txt", static / "link.txt")
    return App(logdir, static_dir=str(static))


def test_static_serves_files_with_type_and_cache_headers(static_app):
    response = static_app.get("static/index.js")
    assert response.status_code == 200
    assert response.get_data() == b"export function render() {}\n"
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    again = static_app.get("static/index.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    css = static_app.get("static/sub/style.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


@pytest.mark.parametrize(
    "path",
    [
        "static/../plugin.py",
        "static/%2e%2e/plugin.py",
        "static/sub/../../outside.txt",
        "static/..%2foutside.txt",
        "static/%2fetc%2fpasswd",
        "static//etc/passwd",
        "static/..\\outside.txt",
        "static/.hidden",
        "static/link.txt",
        "static/sub",
        "static/",
        "static/missing.js",
        "static/index.js%00.png",
    ],
)
def test_static_paths_never_leave_the_static_dir(static_app, path):
    response = static_app.get(path)
    assert response.status_code == 404, (path, response.status_code)
    assert "error" in strict_json(response.get_data())


def test_frontend_metadata_points_at_the_static_entry_module(app):
    meta = app.plugin.frontend_metadata()
    assert meta.es_module_path == "/static/index.js"
    assert meta.tab_name == "Callback Events"
    assert "/static/*" in app.plugin.get_plugin_apps()


# ---------------------------------------------------------------- loader flags


def test_fix_flags_defaults_to_keep_all_and_respects_the_user():
    flags = argparse.Namespace(samples_per_plugin={})
    CallbackEventsLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {"callback_events": 0}
    flags = argparse.Namespace(samples_per_plugin={"callback_events": 5, "images": 3})
    CallbackEventsLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {"callback_events": 5, "images": 3}
    flags = argparse.Namespace(samples_per_plugin="images=3")
    CallbackEventsLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {"images": 3, "callback_events": 0}
    with pytest.raises(base_plugin.FlagsError):
        CallbackEventsLoader().fix_flags(argparse.Namespace(samples_per_plugin="images=lots"))


def test_tensorboard_parses_samples_per_plugin_into_a_dict_before_fix_flags():
    # The fact fix_flags relies on, checked against this TensorBoard version.
    from tensorboard import program

    tb = program.TensorBoard()  # default plugins, ours found through its entry point
    tb.configure(argv=["tensorboard", "--logdir=/tmp/unused"])
    assert tb.flags.samples_per_plugin == {"callback_events": 0}
    tb = program.TensorBoard()  # default plugins, ours found through its entry point
    tb.configure(argv=["tensorboard", "--logdir=/tmp/unused", "--samples_per_plugin=callback_events=9"])
    assert tb.flags.samples_per_plugin == {"callback_events": 9}


def test_sampling_limit():
    assert sampling_limit({"callback_events": 0}) > 10**8
    assert sampling_limit(None) > 10**8
    assert sampling_limit({"callback_events": 12}) == 12
    assert sampling_limit({"scalars": 12}) > 10**8


def test_entry_point_is_installed():
    from tensorboard import default

    assert CallbackEventsLoader in default.get_dynamic_plugins()
    assert CallbackEventsPlugin.plugin_name == metadata.PLUGIN_NAME


def test_nan_wall_time_in_a_handmade_record_does_not_break_json(tmp_path):
    with EventWriter(tmp_path / "r") as w:
        raw_bundle(
            w, event_format.EVENTS_TAG_PREFIX + "h.0", 1, [b'{"kind": "x", "wall_time": NaN, "message": "m"}']
        )
    events = App(tmp_path).json("events?run=r")["events"]
    assert events[0]["wall_time"] == 0.0 and not math.isnan(events[0]["wall_time"])


def test_a_growing_tag_decodes_only_its_new_records(tmp_path, monkeypatch):
    calls = []
    real = event_format.decode_elements

    def counting(run, step, elements):
        calls.append(step)
        return real(run, step, elements)

    monkeypatch.setattr(event_format, "decode_elements", counting)
    with EventWriter(tmp_path / "r") as w:
        for step in range(200):
            w.write("tick", step)
        w.flush()
        app = App(tmp_path)
        assert app.json("runs")["runs"][0]["count"] == 200
        assert len(calls) == 200
        assert len(app.json("events?run=r")["events"]) == 200
        assert len(calls) == 200  # served from the cache
        for step in range(200, 205):
            w.write("tick", step)
        w.flush()
    app.reload()
    assert [e["step"] for e in app.json("events?run=r")["events"]] == list(range(205))
    assert sorted(calls[200:]) == list(range(200, 205))


def test_a_small_cache_bound_still_serves_every_event(logdir):
    app = App(logdir)
    expected = {r["run"]: r for r in app.json("runs")["runs"]}
    app.plugin._store = EventStore(app.provider, max_cache_chars=500)
    for _ in range(2):
        assert {r["run"]: r for r in app.json("runs")["runs"]} == expected
        for run, summary in expected.items():
            assert len(app.json("events?" + q(run=run))["events"]) == summary["count"]
    assert app.plugin._store._chars <= 500 or len(app.plugin._store._tags) == 1


class TooLarge(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_read_too_large_for_grpc_is_split(logdir):
    app = App(logdir)
    expected = app.json("runs")
    inner = app.provider
    calls = []

    class OneTagAtATime:
        """Answers like a data server whose gRPC limit fits one tag."""

        def __getattr__(self, name):
            return getattr(inner, name)

        def read_tensors(self, ctx, *, run_tag_filter, **kwargs):
            calls.append(len(run_tag_filter.tags))
            if len(run_tag_filter.tags) > 1:
                raise TooLarge()
            return inner.read_tensors(ctx, run_tag_filter=run_tag_filter, **kwargs)

    app.plugin._store = EventStore(OneTagAtATime())
    assert app.json("runs") == expected
    assert calls[0] > 1 and max(calls[1:]) >= 1


def test_data_server_failure_is_a_json_503(logdir):
    app = App(logdir)

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise grpc_unavailable()

            return fail

    app.plugin._store = EventStore(Down())
    body = app.json("runs", status=503)
    assert "data server" in body["error"]


def grpc_unavailable():
    from grpc._channel import _InactiveRpcError, _RPCState

    state = _RPCState((), None, None, grpc.StatusCode.UNAVAILABLE, "connection refused")
    return _InactiveRpcError(state)


def test_routes_and_static_files_work_under_a_path_prefix(static_app):
    wsgi = application.TensorBoardWSGI(
        [static_app.plugin], path_prefix="/tb", data_provider=static_app.provider
    )
    client = Client(wsgi)
    response = client.get("/tb/data/plugin/callback_events/static/index.js")
    assert response.status_code == 200 and response.get_data().startswith(b"export function render")
    response = client.get("/tb/data/plugin/callback_events/events?run=a")
    assert response.status_code == 200 and len(strict_json(response.get_data())["events"]) == 7
    assert client.get("/tb/data/plugin/callback_events/static/../plugin.py").status_code == 404
