"""Hostile input to the plugin: fuzzed requests, damaged event files and
oversized events never make a route fail.

- Requests (hypothesis): any path under the plugin's prefix (static
  traversal included), any query bytes, unicode, huge and repeated
  parameters, other methods: on TensorBoard's WSGI app in process (many
  examples, fast) and on a real `tensorboard` process (a short pass). Never
  a 5xx; always strict JSON except a static file actually served.
- Damaged files: random byte flips and cuts (hypothesis, in process, where
  TensorBoard's Python loader reads), and fixed kinds of damage on real
  `tensorboard` processes with both loaders. The routes never fail, every
  event recorded before the damage is served, and reading resumes in the
  run's next file. Within a damaged file, TensorBoard's loaders decide:
  the Python loader stops at the first bad record; the Rust data server
  stops at a bad length header, but hands over records whose data checksum
  is wrong (so what the plugin then decodes may be altered or unreadable:
  unreadable elements are skipped with a warning).
- Oversized events: 1 MB messages and data, and nesting 200 deep, are capped
  by the writer, and hand-made records holding them are capped when served.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import random
import socket
import urllib.parse
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tb_server import tensorboard
from tensorboard.compat.proto import event_pb2
from test_plugin_unit import PREFIX, App, strict_json
from werkzeug.test import EnvironBuilder, run_wsgi_app

from tb_callbacks_plugin import EventWriter, event_format, read_events
from tb_callbacks_plugin.eventfiles import records
from tb_callbacks_plugin.server import static_files

pytestmark = pytest.mark.timeout(300)
N_EVENTS = 30
SECOND_FILE = ["after 0", "after 1", "after 2"]
STATIC_FILES = {
    path.name: path.read_bytes()
    for path in pathlib.Path(static_files.DEFAULT_STATIC_DIR).iterdir()
    if path.is_file()
}
MB = 1_000_000


# ---------------------------------------------------------------- logdir


def nested(depth: int) -> dict:
    node: dict = {"leaf": 1}
    for _ in range(depth):
        node = {"a": node}
    return node


def write_hostile_records(run_dir) -> None:
    """Records no writer of ours makes: caps must hold when they are served."""
    elements = [
        json.dumps({"kind": "custom", "message": "m" * MB, "data": {"blob": "b" * MB}}).encode(),
        json.dumps({"kind": "custom", "message": "deep", "data": nested(200)}).encode(),
        ('{"kind": "custom", "data": ' + "[" * 100_000 + "]" * 100_000 + "}").encode(),
        b"\xff\xfe not json",
        json.dumps({"kind": "k" * 500, "message": ["x"], "epoch": -1, "wall_time": 1e400}).encode(),
        json.dumps(
            {"kind": "custom", "message": "<script>alert(1)</script>", "data": {"<b>": "</script>"}}
        ).encode(),
    ]
    summary = event_format.bundle_summary(event_format.EVENTS_TAG_PREFIX + "hostile.0", elements)
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "events.out.tfevents.1.hostile"), "wb") as f:
        f.write(
            records.frame(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        )
        f.write(records.frame(event_pb2.Event(step=3, wall_time=2.0, summary=summary).SerializeToString()))


def write_oversized_events(run_dir) -> None:
    """1 MB messages and data and deep nesting through the public writer."""
    with EventWriter(run_dir) as w:
        w.write("custom", 1, "m" * MB, blob="b" * MB)
        w.write("custom", 2, "deep", tree=nested(200))
        w.write("custom", 3, "many keys", **{f"k{i}": "v" * 100 for i in range(2000)})


def check_capped(events: list[dict]) -> None:
    for event in events:
        assert len(event["message"].encode()) <= event_format.MAX_MESSAGE_BYTES
        assert len(json.dumps(event["data"]).encode()) <= event_format.MAX_DATA_BYTES + 1024
        assert len(event["kind"]) <= 64
    text = json.dumps(events, ensure_ascii=False)
    assert "nested deeper" in text or "_truncated" in text


@functools.cache
def clean_file(tmp_root: str) -> tuple[bytes, list[tuple[int, int, str]]]:
    """An event file with one record per event, and (start, end, message) of each."""
    run_dir = os.path.join(tmp_root, "clean-source")
    with EventWriter(run_dir) as w:
        for i in range(N_EVENTS):
            w.write("custom", i, f"event {i}", epoch=i // 10, payload="x" * (i % 5) * 20)
            w.flush()
    (name,) = os.listdir(run_dir)
    with open(os.path.join(run_dir, name), "rb") as f:
        buf = f.read()
    spans, pos = [], 0
    for data in records.iter_records(buf):
        end = pos + records.HEADER_SIZE + len(data) + records.FOOTER_SIZE
        event = event_pb2.Event.FromString(data)
        if event.summary.value:
            message = json.loads(event.summary.value[0].tensor.string_val[0])["message"]
            spans.append((pos, end, message))
        pos = end
    return buf, spans


def write_damaged_run(run_dir, damaged: bytes) -> None:
    """The damaged file, then a clean second file: the run went on."""
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "events.out.tfevents.1000000001.fuzz"), "wb") as f:
        f.write(damaged)
    second = os.path.join(run_dir, "events.out.tfevents.1000000002.fuzz")
    with open(second, "wb") as f:
        f.write(
            records.frame(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        )
        for i, message in enumerate(SECOND_FILE):
            summary = event_format.bundle_summary(
                event_format.EVENTS_TAG_PREFIX + "second.0", [event_format.make_event_json("custom", message)]
            )
            f.write(
                records.frame(
                    event_pb2.Event(step=1000 + i, wall_time=2.0, summary=summary).SerializeToString()
                )
            )


def fixed_damage(buf: bytes, spans, rng: random.Random) -> dict[str, tuple[bytes, int]]:
    """Named kinds of damage to `buf`: (damaged bytes, offset of the first damaged byte)."""
    start, end, _ = spans[N_EVENTS // 2]
    text = buf.index(b"event ", start)
    out = {
        "length_header": (buf[: start + 2] + bytes([buf[start + 2] ^ 0x40]) + buf[start + 3 :], start + 2),
        # "event 15" -> "evenT 15": still valid JSON, only the checksum tells.
        "data_byte": (buf[: text + 4] + b"T" + buf[text + 5 :], text + 4),
        "data_crc": (buf[: end - 1] + bytes([buf[end - 1] ^ 0xFF]) + buf[end:], end - 1),
        "garbage_inserted": (buf[:start] + b"\x00garbage\xff" * 7 + buf[start:], start),
    }
    p = rng.randrange(len(buf))
    out["random_flip"] = (buf[:p] + bytes([buf[p] ^ rng.randrange(1, 256)]) + buf[p + 1 :], p)
    return out


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_logs")
    with EventWriter(root / "exp" / "train") as w:
        w.write("train_begin", 0, "fit", epochs=2)
        w.write("lr_change", 5, "lr 0.1 -> 0.01", old=0.1, new=0.01)
    with EventWriter(root / "日本 run") as w:
        w.write("custom", 0, "ünïcødé")
    write_hostile_records(root / "hostile")
    write_oversized_events(root / "oversized")
    buf, spans = clean_file(str(tmp_path_factory.getbasetemp()))
    seed = random.randrange(1 << 30)
    damages = fixed_damage(buf, spans, random.Random(seed))
    for name, (damaged, _) in damages.items():
        write_damaged_run(root / "damaged" / name, damaged)
    return root, {name: first for name, (_, first) in damages.items()}, spans, seed


@pytest.fixture(scope="module")
def app(logdir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return App(logdir[0])


# ---------------------------------------------------------------- requests

RUN_NAMES = ["exp/train", "exp", "日本 run", "hostile", "damaged/data_byte", "nope", ".", "..", "../exp"]
SEGMENTS = [
    "..",
    ".",
    "",
    "%2e%2e",
    "%2E%2e%2f",
    "..%2f",
    "%2f",
    "%5c",
    "\\",
    "%00",
    "index.js",
    "index.css",
    ".hidden",
    "etc",
    "passwd",
    "%c0%ae%c0%ae",
    "%ff",
    "日本",
    "a" * 300,
]


def _quoted_text():
    return st.text(max_size=30).map(lambda s: urllib.parse.quote(s, safe=""))


def _value():
    return st.one_of(
        st.sampled_from(RUN_NAMES).map(lambda s: urllib.parse.quote(s, safe="")),
        st.sampled_from(
            ["epoch_loss", "lr_change", "train_begin", "NOPE!", "%", "%zz", "%ff%fe", "%00", "%e6%97"]
        ),
        _quoted_text(),
        st.integers(0, 80_000).map(lambda n: "x" * n),
        st.binary(max_size=20).map(lambda b: urllib.parse.quote_from_bytes(b, safe="")),
        st.integers(-(10**30), 10**30).map(str),
    )


def _query():
    pair = st.tuples(
        st.sampled_from(["run", "tag", "kind", "", "RUN", "run[]", "x"]) | _quoted_text(), _value()
    )
    repeated = st.tuples(st.sampled_from(["run", "kind", "tag"]), st.integers(2, 260), _value()).map(
        lambda t: [(t[0], t[2])] * t[1]
    )
    pairs = st.one_of(st.lists(pair, max_size=6), repeated)
    return pairs.map(lambda ps: "&".join(f"{k}={v}" for k, v in ps)) | _quoted_text()


def _path():
    routes = st.sampled_from(["runs", "events", "tags", "scalars", "", "static", "static/", "nope", "runs/x"])
    static = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=8).map(
        lambda s: "static/" + "/".join(s)
    )
    return st.one_of(routes, static, _quoted_text())


REQUESTS = st.tuples(st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "DELETE"]), _path(), _query())


def check_answer(method: str, path: str, status: int, body: bytes, headers) -> None:
    assert status < 500, (method, path, status, body[:300])
    assert status in (200, 400, 404, 405), (method, path, status, body[:300])
    if method == "HEAD":
        return
    routed = urllib.parse.urlparse(urllib.parse.unquote(PREFIX + path)).path.rstrip("/")
    if status == 404 and routed == PREFIX.rstrip("/"):
        # TensorBoard routes on the decoded path cut at "?" or "#": the bare
        # prefix is no route of ours, and TensorBoard answers its text 404.
        return
    content_type = dict(headers).get("Content-Type", "")
    if status == 200 and not content_type.startswith("application/json"):
        # Only a real file of the static dir is served as anything but JSON.
        assert body in STATIC_FILES.values(), (path, body[:100])
        return
    parsed = strict_json(body)
    assert (status == 200) == ("error" not in parsed), (path, status, parsed)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=REQUESTS)
def test_fuzzed_requests_in_process_never_fail(app, request):
    method, path, query = request
    environ = EnvironBuilder(path="/", method=method).get_environ()
    # What a WSGI server hands over: the percent-decoded path and the raw
    # query, both as latin-1 text.
    environ["PATH_INFO"] = urllib.parse.unquote_to_bytes(PREFIX + path).decode("latin-1")
    environ["QUERY_STRING"] = query.encode("utf-8").decode("latin-1")
    app_iter, status, headers = run_wsgi_app(app.wsgi, environ, buffered=True)
    check_answer(method, path, int(status.split()[0]), b"".join(app_iter), headers)


def raw_request(port: int, method: str, target: bytes) -> tuple[int, bytes, list[tuple[str, str]]]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(method.encode() + b" " + target + b" HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(": ", 1)) for line in lines[1:] if ": " in line]
    return int(lines[0].split()[1]), body, headers


# ---------------------------------------------------------------- real servers


@pytest.fixture(scope="module", params=[True, False], ids=["load_fast", "python_loader"])
def tb(request, logdir):
    root, damages, _, _ = logdir
    with tensorboard(str(root), load_fast=request.param, tensorflow=False) as server:

        def loaded():
            runs = {r["run"] for r in server.plugin_json("runs")["runs"]}
            return {"exp/train", "hostile", "oversized"} | {f"damaged/{d}" for d in damages} <= runs

        server.wait_for(loaded, timeout=120)
        yield server


def test_fuzzed_requests_to_a_real_tensorboard_never_fail(tb):
    @settings(max_examples=60, deadline=None)
    @given(request=REQUESTS)
    def check(request):
        method, path, query = request
        # Spaces and control bytes would break the request line itself
        # (answered by the HTTP server, not by the plugin).
        target = (PREFIX + path + "?" + query).encode("utf-8")
        target = urllib.parse.quote_from_bytes(
            target, safe=bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))
        )
        target = target.replace("#", "%23").encode("latin-1")
        if len(target) > 60_000:
            return  # the HTTP server refuses request lines over 64 KiB (414) before any route
        status, body, headers = raw_request(tb.port, method, target)
        check_answer(method, path, status, body, headers)

    check()


def test_damaged_files_never_fail_and_reading_resumes(tb, logdir):
    root, damages, spans, seed = logdir
    for name, first_damaged in damages.items():
        body = tb.plugin_json("events?" + urllib.parse.urlencode({"run": f"damaged/{name}"}))
        served = [e["message"] for e in body["events"]]
        before = [message for _, end, message in spans if end <= first_damaged]
        # Reading resumes in the run's next file.
        assert served[-len(SECOND_FILE) :] == SECOND_FILE, (name, seed, served)
        # Nothing recorded before the damage is lost.
        assert served[: len(before)] == before, (name, seed, served)
        if not tb.load_fast:
            # On the Python loader the plugin reads its records itself
            # (server/logdir_store.py): like `read_events`, it checks every
            # checksum and skips a damaged record, serving the whole ones after it.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                read = [e.message for e in read_events(root / "damaged" / name)]
            assert served == read, (name, seed, served, read)
            assert set(served) >= set(before + SECOND_FILE), (name, seed, served)
        elif name == "data_byte":
            # The Rust data server does not check data checksums: the altered
            # event is served as written (a fact of TensorBoard 2.21 worth
            # knowing; nothing the plugin can see).
            assert f"evenT {N_EVENTS // 2}" in served, served
    # Every other route still answers for these runs.
    for name in damages:
        run = f"damaged/{name}"
        assert tb.plugin_json("tags?" + urllib.parse.urlencode({"run": run}))["run"] == run
    assert len(tb.plugin_json("runs")["runs"]) >= len(damages)


def test_oversized_and_hostile_events_are_capped_when_served(tb):
    for run in ("hostile", "oversized"):
        status, body, headers = tb.get("/data/plugin/callback_events/events?run=" + run)
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert len(body) < 400_000, (run, len(body))
        events = strict_json(body)["events"]
        check_capped(events)
        if run == "hostile":
            assert len(events) == 4 and any("unreadable" in w for w in strict_json(body)["warnings"])
            # Markup from a file is served as JSON data that browsers do not sniff.
            assert "<script>alert(1)</script>" in {e["message"] for e in events}
            assert headers["X-Content-Type-Options"] == "nosniff"
        else:
            assert [e["message"][:4] for e in events] == ["mmmm", "deep", "many"]


def test_oversized_events_are_capped_in_process(app):
    for run in ("hostile", "oversized"):
        check_capped(app.json("events?run=" + run)["events"])


# ---------------------------------------------------------------- random damage, in process


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_damage_in_process_loses_only_what_follows_it(tmp_path_factory, data):
    buf, spans = clean_file(str(tmp_path_factory.getbasetemp()))
    damaged = bytearray(buf)
    positions = data.draw(st.lists(st.integers(0, len(buf) - 1), min_size=1, max_size=6, unique=True))
    for p in positions:
        damaged[p] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(1, len(buf))))
    if cut is not None:
        damaged = damaged[:cut]
        positions = [p for p in positions if p < cut] + [cut]
    root = tmp_path_factory.mktemp("damaged")
    write_damaged_run(root / "run", bytes(damaged))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fuzz_app = App(root)
        for route in ("runs", "events?run=run", "tags?run=run", "scalars?run=run&tag=x"):
            status, body, headers = fuzz_app.raw_query(route.split("?")[0], route.partition("?")[2].encode())
            check_answer("GET", route, status, body, headers)
        served = [e["message"] for e in fuzz_app.json("events?run=run")["events"]]
    first = min(positions)
    before = [message for _, end, message in spans if end <= first]
    assert served == before + SECOND_FILE, (positions, cut)
