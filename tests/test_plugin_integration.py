"""The plugin inside real `tensorboard` processes, with the Rust data server
(`--load_fast=true`) and with the Python loader (`--load_fast=false`).

One log directory holds every scenario; one server per loader serves all
the assertions (starting TensorBoard is the slow part)."""

from __future__ import annotations

import json
import os
import socket
import urllib.parse

import pytest
from tb_server import tensorboard
from test_plugin_logdirs import T0, newer_version_content, raw_bundle, scalar_summary, write_keras_like

from tb_callbacks_plugin import EventWriter, event_format
from tb_callbacks_plugin.server import static_files

BIG = 5000
SAME_STEP = 2000
KINDS = ("lr_change", "checkpoint_saved", "my_metric.spike")
LOADERS = pytest.mark.parametrize("load_fast", [True, False], ids=["load_fast", "python_loader"])
pytestmark = pytest.mark.timeout(240)


def strict_json(body: bytes):
    def refuse(name):
        raise AssertionError(f"non-JSON constant {name}")

    return json.loads(body, parse_constant=refuse)


def q(**params) -> str:
    return urllib.parse.urlencode(params, doseq=True)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory, shared_tensorboards):
    root = tmp_path_factory.mktemp("tb_logs")
    with EventWriter(root / "big") as w:
        for i in range(BIG):
            w.write(KINDS[i % 3], i, f"event {i}", epoch=i // 100, value=float(i), wall_time=T0 + i)
    with EventWriter(root / "same_step") as w:
        for i in range(SAME_STEP):
            w.write("tick", 42, f"tick {i}", wall_time=T0 + i)
    for i in range(4):
        write_keras_like(str(root / "sweep" / f"lr_{i}"), epochs=5, steps_per_epoch=10)
    # An evaluation run beside lr_1's train/validation (of its experiment),
    # and a run of another name there (an experiment of its own).
    with EventWriter(root / "sweep" / "lr_1" / "eval") as w:
        w.write("eval_done", 50, "evaluated", wall_time=T0 + 60)
        w.write_summary(scalar_summary("evaluation_loss_vs_iterations", 0.3), 50, wall_time=T0 + 60)
    with EventWriter(root / "sweep" / "lr_1" / "probe") as w:
        w.write("probe", 50, "probed", wall_time=T0 + 60)
        w.write_summary(scalar_summary("probe_value", 1.0), 50, wall_time=T0 + 60)
    # A second fit into the same directory, starting again at step 0.
    for fit in range(2):
        with EventWriter(root / "restart") as w:
            for step in range(0, 100 - 50 * fit):
                w.write("lr_change", step, f"fit {fit} step {step}", wall_time=T0 + 1000 * fit + step)
    with EventWriter(root / "corrupt") as w:
        for i in range(5):
            w.write("tick", i, f"good {i}")
        raw_bundle(
            w, event_format.EVENTS_TAG_PREFIX + "bad.0", 5, [b"{broken", b'{"kind": "ok", "message": "kept"}']
        )
        w.flush()
        path = w.path
    with open(path, "ab") as f:  # bytes that are no record at all, as from a torn copy
        f.write(b"\x00garbage-bytes" * 8)
    with EventWriter(root / "corrupt") as w:  # the run goes on in a new file
        for i in range(10, 13):
            w.write("tick", i, f"good {i}")
    with EventWriter(root / "newer") as w:
        w.write("train_begin", 0, "old format")
        raw_bundle(
            w, event_format.EVENTS_TAG_PREFIX + "v2.0", 5, [b'{"kind": "x"}'], content=newer_version_content()
        )
    return shared_tensorboards.publish(root, "plugin_integration")


def wait_ready(tb):
    def ready():
        runs = {r["run"]: r["count"] for r in tb.plugin_json("runs")["runs"]}
        return runs.get("big") == BIG and runs.get("same_step") == SAME_STEP and "newer" in runs

    tb.wait_for(ready, timeout=120)


@pytest.fixture(scope="module", params=[True, False], ids=["load_fast", "python_loader"])
def tb(request, logdir, shared_tensorboards):
    server = shared_tensorboards.view(logdir, load_fast=request.param)
    wait_ready(server)
    return server


def raw_get(tb, target: bytes) -> tuple[int, bytes]:
    """GET with a request target of arbitrary bytes (what a hostile client can send); the
    run `big` is named as the shared server names it."""
    target = target.replace(b"run=big", b"run=" + tb.run("big").encode())
    with socket.create_connection(("127.0.0.1", tb.port), timeout=30) as s:
        s.sendall(b"GET " + target + b" HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


# ---------------------------------------------------------------- tests


def test_every_event_is_served_with_no_flag_from_the_user(tb):
    events = tb.plugin_json("events?run=big")["events"]
    assert len(events) == BIG
    assert [e["step"] for e in events] == list(range(BIG))
    assert events[4321]["message"] == "event 4321" and events[4321]["data"] == {"value": 4321.0}
    runs = {r["run"]: r for r in tb.plugin_json("runs")["runs"]}
    assert runs["big"]["kinds"] == {k: sum(1 for i in range(BIG) if KINDS[i % 3] == k) for k in KINDS}


def test_many_events_at_one_step(tb):
    events = tb.plugin_json("events?run=same_step")["events"]
    assert [e["message"] for e in events] == [f"tick {i}" for i in range(SAME_STEP)]
    assert {e["step"] for e in events} == {42}


def test_several_runs_and_kind_filters(tb):
    runs = [r["run"] for r in tb.plugin_json("runs")["runs"]]
    assert runs == sorted(runs)
    assert {f"sweep/lr_{i}/train" for i in range(4)} <= set(runs)
    both = tb.plugin_json("events?" + q(run="big", kind=["lr_change", "my_metric.spike"]))["events"]
    assert len(both) == sum(1 for i in range(BIG) if KINDS[i % 3] != "checkpoint_saved")
    assert {e["kind"] for e in both} == {"lr_change", "my_metric.spike"}


def test_runs_name_their_experiment(tb):
    runs = {r["run"]: r for r in tb.plugin_json("runs")["runs"]}
    experiments = {name: r["experiment"] for name, r in runs.items() if name.startswith("sweep/lr_1/")}
    assert experiments == {
        "sweep/lr_1/eval": "sweep/lr_1",
        "sweep/lr_1/probe": "sweep/lr_1/probe",
        "sweep/lr_1/train": "sweep/lr_1",
    }
    assert runs["big"]["experiment"] == "big"
    # The eval run's tags come with those of its experiment's other runs, once
    # TensorBoard has loaded them (a run is listed with the tags TensorBoard
    # has so far: on a loaded machine the shared server may not have them yet).
    def eval_tags() -> bool:
        eval_run = next(r for r in tb.plugin_json("runs")["runs"] if r["run"] == "sweep/lr_1/eval")
        expected = {"sweep/lr_1/eval", "sweep/lr_1/train", "sweep/lr_1/validation"}
        assert set(eval_run["scalar_tags"]) == expected
        return True

    tb.wait_for(eval_tags, timeout=120)


def test_second_fit_into_the_same_dir_keeps_both_fits(tb):
    events = tb.plugin_json("events?run=restart")["events"]
    messages = [e["message"] for e in events]
    assert len(messages) == 150
    assert {f"fit 0 step {s}" for s in range(100)} | {f"fit 1 step {s}" for s in range(50)} == set(messages)
    keys = [(e["step"], e["wall_time"]) for e in events]
    assert keys == sorted(keys)


def test_corrupt_records_do_not_hide_good_events(tb):
    body = tb.plugin_json("events?run=corrupt")
    messages = [e["message"] for e in body["events"]]
    assert messages == [f"good {i}" for i in range(5)] + ["kept"] + [f"good {i}" for i in range(10, 13)]
    assert any("1 unreadable" in w for w in body["warnings"])


def test_newer_format_is_reported_for_that_run(tb):
    body = tb.plugin_json("events?run=newer")
    assert [e["message"] for e in body["events"]] == ["old format"]
    assert "format version 2" in body["warnings"][0]


def test_tags_and_scalars_of_keras_like_runs(tb):
    tags = tb.plugin_json("tags?" + q(run="sweep/lr_1/train"))
    assert tags["runs"] == {
        "sweep/lr_1/eval": ["evaluation_loss_vs_iterations"],
        "sweep/lr_1/train": ["epoch_loss"],
        "sweep/lr_1/validation": ["epoch_accuracy", "epoch_loss"],
    }
    assert tb.plugin_json("tags?" + q(run="sweep/lr_0/train"))["runs"] == {
        "sweep/lr_0/train": ["epoch_loss"],
        "sweep/lr_0/validation": ["epoch_accuracy", "epoch_loss"],
    }
    assert tb.plugin_json("tags?" + q(run="sweep/lr_1/probe"))["runs"] == {
        "sweep/lr_1/probe": ["probe_value"]
    }
    series = tb.plugin_json("scalars?" + q(run="sweep/lr_1/validation", tag="epoch_loss"))
    assert series["x"] == "epoch" and series["total"] == 5
    assert series["step"] == [0, 1, 2, 3, 4]
    assert series["global_step"] == [10, 20, 30, 40, 50]


def test_plugins_listing(tb):
    entry = tb.get_json("/data/plugins_listing")["callback_events"]
    assert entry["enabled"] is True and entry["tab_name"] == "Callback Events"
    assert entry["loading_mechanism"]["module_path"] == "/data/plugin/callback_events/static/index.js"


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (b"/data/plugin/callback_events/events", 400),
        (b"/data/plugin/callback_events/events?run=%ff", 400),
        # Raw (not percent-encoded) bytes: werkzeug's server re-encodes the
        # latin-1 request line as UTF-8 before we see it, so this arrives as
        # the valid name "\xff\xfe" and is an unknown run.
        (b"/data/plugin/callback_events/events?run=\xff\xfe", 404),
        (b"/data/plugin/callback_events/events?run=big&kind=NOPE!", 400),
        (b"/data/plugin/callback_events/events?run=" + b"x" * 5000, 400),
        (b"/data/plugin/callback_events/events?run=no_such_run", 404),
        (b"/data/plugin/callback_events/scalars?run=big", 400),
        (b"/data/plugin/callback_events/scalars?run=big&tag=nope", 404),
        (b"/data/plugin/callback_events/tags?run=no_such_run", 404),
        (b"/data/plugin/callback_events/no_such_route", 404),
    ],
)
def test_bad_input_is_a_json_error(tb, target, status):
    got, body = raw_get(tb, target)
    assert got == status, (target[:80], got, body[:200])
    assert strict_json(body)["error"]


@pytest.mark.parametrize(
    "target",
    [
        b"/data/plugin/callback_events/static/../../../../../../etc/passwd",
        b"/data/plugin/callback_events/static/%2e%2e/%2e%2e/plugin.py",
        b"/data/plugin/callback_events/static/..%2fplugin.py",
        b"/data/plugin/callback_events/static/%2fetc%2fpasswd",
    ],
)
def test_static_paths_never_escape(tb, target):
    status, body = raw_get(tb, target)
    assert status == 404, (target, status)
    assert b"root:" not in body and b"import" not in body


def test_static_entry_module(tb):
    status, body, headers = tb.get("/data/plugin/callback_events/static/index.js")
    if os.path.isfile(os.path.join(static_files.DEFAULT_STATIC_DIR, "index.js")):
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        assert headers["X-Content-Type-Options"] == "nosniff" and "max-age" in headers["Cache-Control"]
    else:  # the frontend is not built in this checkout
        assert status == 404 and strict_json(body)["error"]


def test_events_written_while_the_server_runs_appear(tb, logdir):
    run = f"live_{'fast' if tb.load_fast else 'python'}"
    with EventWriter(logdir / run) as w:
        for step in range(3):
            w.write("tick", step, f"live {step}")
        w.flush()
        tb.wait_for(lambda: len(tb.plugin_json(f"events?run={run}")["events"]) == 3, timeout=60)
        for step in range(3, 8):
            w.write("lr_change", step, f"live {step}")
        w.flush()
        tb.wait_for(lambda: len(tb.plugin_json(f"events?run={run}")["events"]) == 8, timeout=60)
    runs = {r["run"]: r for r in tb.plugin_json("runs")["runs"]}
    assert runs[run]["kinds"] == {"tick": 3, "lr_change": 5}


@LOADERS
def test_users_samples_per_plugin_is_respected(logdir, load_fast):
    with tensorboard(
        str(logdir),
        load_fast=load_fast,
        extra_args=("--samples_per_plugin=callback_events=25",),
        tensorflow=False,
    ) as tb:

        def sampled():
            runs = {r["run"]: r["count"] for r in tb.plugin_json("runs")["runs"]}
            return runs.get("big") == 25 and runs.get("same_step") == SAME_STEP

        tb.wait_for(sampled, timeout=120)
        events = tb.plugin_json("events?run=big")["events"]
        assert len(events) == 25 and events[-1]["step"] == BIG - 1
