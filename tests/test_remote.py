"""Event files on an object store: a real S3 API (moto in server mode) on 127.0.0.1.

s3fs talks HTTP to the moto server like to AWS; the server is stopped and
restarted on the same port to cut the store off mid-training (moto keeps its
buckets in this process, so they survive the restart).
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.compat.proto import event_pb2, summary_pb2

from tb_callbacks_plugin import (
    PLUGIN_NAME,
    EventWriter,
    events_dataframe,
    read_events,
)
from tb_callbacks_plugin.eventfiles import object_file, records, storage
from tb_callbacks_plugin.eventfiles.event_reader import find_runs

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.join(os.path.dirname(sys.executable), "tb-callbacks")


class Moto:
    """A moto S3 server on 127.0.0.1 that can be stopped and brought back on its port."""

    def __init__(self) -> None:
        self.port = 0
        self._start()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.running = True

    def _start(self) -> None:
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        # start() waits forever if the server thread dies (port taken): bound it.
        starter = threading.Thread(target=server.start, daemon=True)
        starter.start()
        starter.join(15)
        if starter.is_alive():
            raise RuntimeError(f"moto server did not start on 127.0.0.1:{self.port}")
        self.server = server
        self.port = server.get_host_and_port()[1]

    def stop(self) -> None:
        self.server.stop()
        self.server._server.server_close()  # free the port for restart()
        self.running = False

    def restart(self) -> None:
        self._start()
        self.running = True


@pytest.fixture(scope="module")
def s3():
    import boto3
    import s3fs

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        # One attempt per request: failures reach our own retry loop at once.
        mp.setenv("AWS_MAX_ATTEMPTS", "1")
        server = Moto()
        mp.setenv("AWS_ENDPOINT_URL", server.endpoint)
        s3fs.S3FileSystem.clear_instance_cache()
        server.client = boto3.client("s3")
        server.fs = s3fs.S3FileSystem()
        try:
            yield server
        finally:
            if not server.running:
                server.restart()
            server.stop()
            s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def bucket(s3, request):
    name = "b-" + request.node.name.lower().replace("_", "-")[:50].strip("-")
    s3.client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def small_parts(monkeypatch):
    monkeypatch.setattr(object_file, "PART_UPLOADS", 4)
    monkeypatch.setattr(object_file, "PART_BYTES", 4096)


def part_names(s3, url):
    return sorted(p.rsplit("/", 1)[1] for p in s3.fs.find(url) if "tfevents" in p)


def scalar(tag, value):
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])


# ---------------------------------------------------------------- writer / reader


@pytest.mark.timeout(60)
def test_round_trip_through_s3_in_parts(s3, bucket, small_parts, monkeypatch):
    """Every event back; parts only grow, and a part is final before the next exists."""
    puts: list[tuple[str, bytes]] = []
    real_put = storage.FsspecBackend.put

    def spy(self, url, data):
        real_put(self, url, data)
        puts.append((url, data))

    monkeypatch.setattr(storage.FsspecBackend, "put", spy)
    url = f"s3://{bucket}/logs/run/train"
    with EventWriter(url, flush_secs=0.05) as writer:
        assert writer.run_dir == url and writer.path.startswith(url + "/events.out.tfevents.")
        for i in range(300):
            writer.write("custom", i // 3, f"m{i}", epoch=i // 30, source="Test", i=i)
            writer.write_summary(scalar("loss", 1 / (i + 1)), i // 3)
            if i % 40 == 0:
                writer.flush()  # each flush is one upload
            time.sleep(0.001)
        writer.write("early_stop", 100, "stopped", monitor="val_loss", patience=2)
    events = read_events(f"s3://{bucket}/logs")
    assert [e.message for e in events[:-1]] == [f"m{i}" for i in range(300)]
    assert all(e.run == "run/train" for e in events) and {e.source for e in events[:-1]} == {"Test"}
    assert events[-1].kind == "early_stop" and events[-1].data == {"monitor": "val_loss", "patience": 2}
    assert [e.data["i"] for e in events[:-1]] == list(range(300))

    names = part_names(s3, url)
    assert len(names) >= 3, names  # it rotated
    assert names == [f"{names[0].rsplit('.part', 1)[0]}.part{n:06d}" for n in range(len(names))]
    runs = find_runs(f"s3://{bucket}/logs/")
    assert list(runs) == ["run/train"] and [u.rsplit("/", 1)[1] for u in runs["run/train"]] == names

    # The upload history: within a part each upload extends the previous one,
    # and no part is written once its successor exists (TensorBoard's Python
    # loader never goes back to an older file).
    last: dict[str, bytes] = {}
    order: list[str] = []
    for part_url, data in puts:
        if part_url not in last:
            order.append(part_url)
        assert order[-1] == part_url, "an older part was written after a newer one"
        assert data.startswith(last.get(part_url, b""))
        last[part_url] = data
    assert [u.rsplit("/", 1)[1] for u in order] == names
    for part_url in order:  # each part a complete event file of its own
        first = event_pb2.Event.FromString(next(records.iter_records(s3.fs.cat_file(part_url))))
        assert first.file_version == "brain.Event:2"
    frame = events_dataframe(f"s3://{bucket}/logs")
    assert len(frame) == 301 and frame["kind"].iloc[-1] == "early_stop"


@pytest.mark.timeout(60)
def test_tensorboard_python_loader_follows_growing_parts(s3, bucket, small_parts, tmp_path):
    """TensorBoard's own loader, fed the objects as they change, keeps every event.

    A mirror copies each object's growth into a local directory while the
    writer runs (as TensorBoard reads a gs:// run: re-reading growing objects
    from its offset and moving on to newer files), and `EventAccumulator`
    reloads it concurrently.
    """
    url = f"s3://{bucket}/run"
    mirror = str(tmp_path)
    acc = plugin_event_accumulator.EventAccumulator(mirror, size_guidance={"tensors": 0})
    copied: dict[str, bytes] = {}

    def sync_mirror():
        for path in sorted(s3.fs.find(url, refresh=True)):
            data = s3.fs.cat_file(path)
            name = path.rsplit("/", 1)[1]
            old = copied.get(name, b"")
            assert data.startswith(old), "an object shrank or changed"
            with open(os.path.join(mirror, name), "ab") as f:
                f.write(data[len(old) :])
            copied[name] = data

    total = 120
    with EventWriter(url, flush_secs=0.02) as writer:
        for i in range(total):
            writer.write("custom", i, str(i))
            if i % 10 == 9:
                writer.flush()
                sync_mirror()
                acc.Reload()
    sync_mirror()
    acc.Reload()
    assert len(copied) >= 3
    seen = []
    for tag in acc.Tags()["tensors"]:
        if tag.startswith(PLUGIN_NAME):
            for tensor_event in acc.Tensors(tag):
                seen.extend(json.loads(raw)["message"] for raw in tensor_event.tensor_proto.string_val)
    assert sorted(seen, key=int) == [str(i) for i in range(total)]


@pytest.mark.timeout(60)
def test_durable_event_is_uploaded_when_write_returns(s3, bucket):
    """SIGKILL right after `write("nan_terminated")`: it is in the bucket."""
    code = f"""
        import os, signal
        from tb_callbacks_plugin import EventWriter
        w = EventWriter("s3://{bucket}/run", flush_secs=3600)
        for i in range(50):
            w.write("custom", i, "buffered")
        w.write("nan_terminated", 50, "loss is NaN", batch=3, loss=float("nan"))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.returncode == -9, result.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torn record: uploads are whole objects
        events = read_events(f"s3://{bucket}/run")
    assert len(events) == 51 and events[-1].kind == "nan_terminated"
    assert math.isnan(events[-1].data["loss"])


@pytest.mark.timeout(60)
def test_writer_left_open_is_uploaded_at_interpreter_exit(s3, bucket):
    """Python stops asyncio's thread pools before `atexit`: uploads must run earlier."""
    code = f"""
        from tb_callbacks_plugin import EventWriter
        w = EventWriter("s3://{bucket}/run", flush_secs=3600)
        for i in range(50):
            w.write("custom", i, "buffered")
        """
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0 and "lost" not in result.stderr, result.stderr
    assert len(read_events(f"s3://{bucket}/run")) == 50


@pytest.mark.timeout(60)
def test_buffered_events_are_uploaded_within_flush_secs(s3, bucket):
    with EventWriter(f"s3://{bucket}/run", flush_secs=0.5) as writer:
        writer.write("lr_change", 7, old=0.1, new=0.01)
        deadline = time.monotonic() + 1.5  # flush_secs plus an upload on a loaded machine
        while not read_events(f"s3://{bucket}/run") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e.kind for e in read_events(f"s3://{bucket}/run")] == ["lr_change"]


@pytest.mark.timeout(60)
def test_cli_lists_every_event_of_an_s3_logdir(s3, bucket):
    logdir = f"s3://{bucket}/logs"
    with EventWriter(f"{logdir}/a/train") as a, EventWriter(f"{logdir}/b/validation") as b:
        for i in range(20):
            a.write("lr_change", i, f"a{i}", old=i, new=i + 1)
            b.write("custom", i, f"b{i}")
    result = subprocess.run(
        [EXE, "events", logdir, "--format", "jsonl"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = read_events(logdir)
    assert len(expected) == 40
    assert [(r["run"], r["kind"], r["step"], r["message"]) for r in rows] == [
        (e.run, e.kind, e.step, e.message) for e in expected
    ]
    missing = subprocess.run(
        [EXE, "events", f"s3://{bucket}/nothing-here"], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr


# ---------------------------------------------------------------- errors at creation


@pytest.mark.timeout(60)
def test_missing_bucket_is_a_clear_error_at_creation(s3):
    before = {b["Name"] for b in s3.client.list_buckets()["Buckets"]}
    with pytest.raises(FileNotFoundError, match=r"s3://no-such-bucket/logs.*bucket exist"):
        EventWriter("s3://no-such-bucket/logs/train")
    assert {b["Name"] for b in s3.client.list_buckets()["Buckets"]} == before  # never creates one
    with pytest.raises(FileNotFoundError, match="logdir not found"):
        read_events("s3://no-such-bucket/logs")


@pytest.mark.timeout(60)
def test_unreachable_endpoint_is_a_clear_error_at_creation(s3):
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = {"endpoint_url": f"http://127.0.0.1:{port}"}
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=r"cannot write event files to s3://bucket/run.*endpoint"):
        EventWriter("s3://bucket/run", storage_options=options)
    with pytest.raises(ConnectionError, match="s3://bucket/run"):
        read_events("s3://bucket/run", storage_options=options)
    assert time.monotonic() - start < 30


@pytest.mark.timeout(60)
def test_refused_credentials_are_a_clear_error_at_creation(s3, bucket, monkeypatch):
    from moto import settings

    # moto checks signatures against its IAM once this many requests are
    # done: unknown access keys are refused as by AWS.
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    with pytest.raises(PermissionError, match=r"s3://.*credentials"):
        EventWriter(f"s3://{bucket}/run")


def test_unknown_scheme_says_what_to_install():
    with pytest.raises(ImportError, match="no file system for nosuchfs://"):
        EventWriter("nosuchfs://bucket/run")


# ---------------------------------------------------------------- outages


@pytest.mark.timeout(90)
def test_store_down_at_close_reports_what_was_lost_once(s3, bucket, monkeypatch, caplog):
    monkeypatch.setattr(object_file, "RETRY_WINDOW_SECS", 1.0)
    monkeypatch.setattr(object_file, "CLOSE_RETRY_SECS", 1.5)
    url = f"s3://{bucket}/run"
    writer = EventWriter(url, flush_secs=0.1)
    writer.write("custom", 1, "before")
    writer.flush()
    s3.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="tb_callbacks_plugin"):
            writer.write("lr_change", 5, old=0.1, new=0.01)
            start = time.monotonic()
            writer.write("train_end", 9, reason="completed")  # durable, but the store is down
            assert time.monotonic() - start < 10  # a bounded wait, not a hang
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                start = time.monotonic()
                writer.close()
                assert time.monotonic() - start < 30
        assert any("failed" in r.getMessage() and "retrying" in r.getMessage() for r in caplog.records)
        lost = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        assert len(lost) == 1, [str(w.message) for w in caught]
        text = str(lost[0].message)
        assert url in text and "lr_change x1" in text and "train_end x1" in text and "steps 5..9" in text
        saved = re.search(r"saved at (\S+): copy it to (\S+) to recover", text).group(1)
    finally:
        s3.restart()
    # The saved part completes the run once copied to its URL.
    assert [e.message for e in read_events(url)] == ["before"]
    s3.fs.put_file(saved, writer.path)
    assert [e.kind for e in read_events(url)] == ["custom", "lr_change", "train_end"]
    os.remove(saved)


@pytest.mark.timeout(60)
def test_backlog_over_the_bound_is_dropped_and_reported(s3, bucket, monkeypatch):
    monkeypatch.setattr(object_file, "MAX_BACKLOG_BYTES", 3000)
    monkeypatch.setattr(object_file, "CLOSE_RETRY_SECS", 0.5)
    writer = EventWriter(f"s3://{bucket}/run", flush_secs=0.1)
    s3.stop()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(100):
                writer.write("custom", i, "x" * 100)
            writer.close()
    finally:
        s3.restart()
    (lost,) = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    text = str(lost.message)
    assert "were dropped" in text and "could not be uploaded" in text
    unsent = int(re.search(r"/run: (\d+) record\(s\).* could not be uploaded", text).group(1))
    dropped = int(re.search(r"; (\d+) record\(s\).* were dropped", text).group(1))
    assert 0 < dropped < 100 and dropped + unsent == 100


# ---------------------------------------------------------------- real training


def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y.astype("int32")


def small_model():
    import keras

    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def make_logging_callback(url, on_epoch_end=None):
    import keras

    class EventsToS3(keras.callbacks.Callback):
        """A user's callback that writes its own events through EventWriter."""

        def on_train_begin(self, logs=None):
            self.writer = EventWriter(url, flush_secs=0.1)  # fails here, not at the end
            self.writer.write("train_begin", 0, epochs=self.params["epochs"], source="EventsToS3")
            self.epoch_secs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            self.writer.write("epoch_done", step, f"epoch {epoch}", epoch=epoch, loss=float(logs["loss"]))
            self.writer.write_summary(scalar("epoch_loss", float(logs["loss"])), epoch)
            self.writer.write_epoch(epoch, step)
            if on_epoch_end is not None:
                on_epoch_end(epoch)
            self.epoch_secs.append(time.monotonic() - self.started)

        def on_train_end(self, logs=None):
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            self.writer.write("train_end", step, reason="completed")
            self.writer.close()

    return EventsToS3()


@pytest.mark.timeout(120)
def test_fit_logs_to_s3_through_a_store_outage(s3, bucket, caplog):
    """The server goes away for epochs 2..5: training goes on, nothing is lost."""
    x, y = digits()
    url = f"s3://{bucket}/logs/run/train"
    failed = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record):
            if "failed" in record.getMessage():
                failed.set()

    watch = Watch()
    logging.getLogger("tb_callbacks_plugin").addHandler(watch)

    def outage(epoch):
        if epoch == 1:
            s3.stop()
        elif epoch == 5:
            # Bring it back only once an upload has failed for real.
            assert failed.wait(30), "the writer never noticed the outage"
            s3.restart()

    callback = make_logging_callback(url, outage)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="tb_callbacks_plugin"),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            history = small_model().fit(x, y, batch_size=128, epochs=8, verbose=0, callbacks=[callback])
    finally:
        logging.getLogger("tb_callbacks_plugin").removeHandler(watch)
        if not s3.running:
            s3.restart()
    assert len(history.history["loss"]) == 8  # training went on
    assert max(callback.epoch_secs[2:5]) < 10  # and was not held up by the dead store
    assert not [w for w in caught if "events lost" in str(w.message)]
    messages = [r.getMessage() for r in caplog.records]
    assert any("work again" in m and "nothing buffered meanwhile was lost" in m for m in messages)
    events = read_events(f"s3://{bucket}/logs")
    assert [e.kind for e in events] == ["train_begin"] + ["epoch_done"] * 8 + ["train_end"]
    assert [e.epoch for e in events if e.kind == "epoch_done"] == list(range(8))
    steps = [e.step for e in events]
    assert steps == sorted(steps) and events[-1].step == 8 * math.ceil(len(x) / 128)
    assert {e.run for e in events} == {"run/train"}


def scalar_tags(url):
    """Tags of every summary value in the event files below `url`, per run."""
    tags: dict[str, set[str]] = {}
    for run, paths in find_runs(url).items():
        for path in paths:
            for data in records.iter_records(storage.read_bytes(path)):
                event = event_pb2.Event.FromString(data)
                tags.setdefault(run, set()).update(v.tag for v in event.summary.value)
    return tags


@pytest.mark.timeout(120)
def test_callbacks_tensorboard_fit_to_s3_through_an_outage(s3, bucket, monkeypatch, caplog):
    """`callbacks.TensorBoard(log_dir="s3://...")` with the store gone for epochs 2..5.

    Every event the fit wrote (spied on `EventWriter.write`) comes back from
    `read_events` and from the CLI, in the train run, with Keras's scalars in
    both runs; training never waited on the dead store; no loss reported.
    """
    import keras

    from tb_callbacks_plugin import callbacks

    written = []
    real_write = EventWriter.write

    def spy(self, kind, step, message="", **kwargs):
        real_write(self, kind, step, message, **kwargs)
        written.append((os.path.basename(self.run_dir), kind, step, message))

    monkeypatch.setattr(EventWriter, "write", spy)
    failed = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record):
            if "failed" in record.getMessage():
                failed.set()

    class Outage(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            self.log_event("store.check", f"store up: {s3.running}", up=s3.running)
            if epoch == 1:
                s3.stop()
                self.outage_epochs = []
            elif epoch == 5:
                assert failed.wait(30), "the writer never noticed the outage"
                s3.restart()
            if 2 <= epoch <= 4:
                self.outage_epochs.append(time.monotonic() - self.started)

    x, y = digits()
    logdir = f"s3://{bucket}/logs/run"
    outage = Outage()
    keras.utils.set_random_seed(0)
    watch = Watch()
    logging.getLogger("tb_callbacks_plugin").addHandler(watch)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="tb_callbacks_plugin"),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            history = small_model().fit(
                x,
                y,
                batch_size=128,
                epochs=8,
                validation_split=0.2,
                verbose=0,
                callbacks=[
                    # min_delta beyond reach: the LR drops after every epoch.
                    callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0),
                    outage,
                    callbacks.TensorBoard(log_dir=logdir),
                ],
            )
    finally:
        logging.getLogger("tb_callbacks_plugin").removeHandler(watch)
        if not s3.running:
            s3.restart()
    assert len(history.history["loss"]) == 8
    assert max(outage.outage_epochs) < 10
    assert not [w for w in caught if "events lost" in str(w.message)]
    assert any("work again" in r.getMessage() for r in caplog.records)

    events = read_events(logdir)
    got = sorted((e.run, e.kind, e.step, e.message) for e in events)
    assert got == sorted(written)
    kinds = [e.kind for e in events]
    assert kinds.count("store.check") == 8 and kinds.count("lr_change") >= 6
    assert kinds[0] == "train_begin" and kinds[-1] == "train_end"
    assert [e.data["up"] for e in events if e.kind == "store.check"] == [True, True] + [False] * 4 + [
        True
    ] * 2
    tags = scalar_tags(logdir)
    assert "epoch_loss" in tags["train"] and "epoch_loss" in tags["validation"]

    cli = subprocess.run(
        [EXE, "events", logdir, "--format", "jsonl"], capture_output=True, text=True, timeout=60
    )
    assert cli.returncode == 0, cli.stderr
    rows = [json.loads(line) for line in cli.stdout.splitlines()]
    assert [(r["run"], r["kind"], r["step"], r["message"]) for r in rows] == [
        (e.run, e.kind, e.step, e.message) for e in events
    ]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("write_graph", [True, False])
def test_fit_with_missing_bucket_fails_before_the_first_step(s3, write_graph):
    import keras

    from tb_callbacks_plugin import callbacks

    x, y = digits()
    for callback in (
        make_logging_callback("s3://missing-bucket/run"),
        callbacks.TensorBoard(log_dir="s3://missing-bucket/logs", write_graph=write_graph),
    ):
        model = small_model()
        with pytest.raises(FileNotFoundError, match=r"s3://missing-bucket/.*bucket exist"):
            model.fit(x, y, epochs=3, verbose=0, callbacks=[callback])
        assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0
        del model
        gc.collect()  # the fit's finalizers run here, not in some later test


# ---------------------------------------------------------------- TensorFlow's file system


@pytest.mark.timeout(120)
def test_tf_gfile_serves_only_when_tensorflow_is_the_keras_backend(tmp_path):
    code = f"""
        import sys
        from tb_callbacks_plugin.eventfiles import storage
        try:
            storage.backend_for("gs://bucket/run")
            print("fsspec" if "gcsfs" in sys.modules else "unexpected")
        except ImportError as e:
            assert "tb-callbacks-plugin[gcs]" in str(e), e
            print("no-gcs")
        print("tensorflow" in sys.modules)
        import os
        os.environ["KERAS_BACKEND"] = "tensorflow"
        import keras, tensorflow
        backend = storage.backend_for("gs://bucket/run")
        print(type(backend).__name__)
        # Its operations, through TensorFlow, on a path TF's gfile serves.
        gfile = storage.GfileBackend(tensorflow.io.gfile)
        root = {str(tmp_path)!r}
        gfile.prepare_dir(root + "/a/b")
        gfile.put(root + "/a/b/x.tfevents", b"old")
        gfile.put(root + "/a/b/x.tfevents", b"new!")
        assert gfile.read(root + "/a/b/x.tfevents") == b"new!" and gfile.size(root + "/a/b/x.tfevents") == 4
        assert gfile.find_files(root) == [root + "/a/b/x.tfevents"] and gfile.isdir(root + "/a")
        print("ok")
        """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=110, cwd=REPO
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.split()
    if lines[0] == "no-gcs":  # gcsfs not installed: TF's gfile takes gs:// once TF is the backend
        assert lines[1:] == ["False", "GfileBackend", "ok"]
    else:
        assert lines == ["fsspec", "False", "FsspecBackend", "ok"]
