"""A training process killed with SIGKILL loses none of the events that end
training, and what a kill leaves behind (a torn last record) is skipped with
a warning by `read_events` and the CLI, and silently by TensorBoard's loaders.

Real `model.fit` runs in subprocesses (`train_child`), each killed by a tiny
callback placed after the callbacks whose action it waits for (or after
`fit` returns); the killed runs are then read by `read_events`, by the
`tb-callbacks` console script and by real `tensorboard` processes with both
`--load_fast` values.

A SIGKILL right after a durable event (fsync'd before `write` returns) does
not tear a record by itself, so the torn case is made by hand: a copy of each
killed run gets the first part of a genuine record appended, which is what a
kill in the middle of `write()` leaves.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import urllib.parse
import warnings

import pytest

from tb_callbacks_plugin import CorruptRecordWarning, event_format, read_events
from tb_callbacks_plugin.eventfiles import records
from tb_callbacks_plugin.eventfiles.event_reader import find_runs
from tb_callbacks_plugin.eventfiles.scalar_reader import read_run_metrics
from tb_callbacks_plugin.server.event_store import event_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EPOCHS = 6
STEPS_PER_EPOCH = 5  # keras_helpers: 288 training samples, batches of 64
CHILD_TIMEOUT = 150
pytestmark = pytest.mark.timeout(400)

# One training process, configured by a JSON argument (see `train_child`).
CHILD = r"""
import json, os, signal, sys, time
config = json.loads(sys.argv[1])
sys.path.insert(0, config["tests_dir"])
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
import keras
from tb_callbacks_plugin import callbacks
import keras_helpers

def on_disk(epoch):
    # What the writers' periodic flushes must have put on disk by epoch `epoch`:
    # every lr_change up to it and the epoch scalars before it.
    import warnings
    from tb_callbacks_plugin import read_events
    from tb_callbacks_plugin.eventfiles.event_reader import find_runs
    from tb_callbacks_plugin.eventfiles.scalar_reader import read_run_metrics
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a record half-written by the flush in progress
        events = [e for e in read_events(config["log_dir"]) if e.run == "train"]
        changes = [e.epoch for e in events if e.kind == "lr_change"]
        if config.get("lr_schedule") and changes[-(epoch + 1):] != list(range(epoch + 1)):
            return False
        if epoch == 0:
            return True
        metrics = read_run_metrics("train", find_runs(config["log_dir"])["train"])
        loss = metrics.scalars.get("epoch_loss")
        return loss is not None and loss.steps[-epoch:] == list(range(epoch))

def wait_on_disk(epoch):
    # Waits for the flushes themselves, not for a time a loaded machine may
    # overrun; the parent's timeout ends a wait for a flush that never comes.
    while not on_disk(epoch):
        time.sleep(0.02)

def die(why):
    print("KILL " + why, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

class Kill(keras.callbacks.Callback):
    # Placed last: it sees what the callbacks before it did in the same hook.
    epoch = None
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        kill = config.get("kill") or {}
        if kill.get("when") == "stopped" and self.model.stop_training:
            die(f"stopped at batch {batch}")
        if kill.get("when") == "batch" and (self.epoch, batch) == (kill["epoch"], kill["batch"]):
            if kill.get("durable"):
                wait_on_disk(self.epoch)
            die(f"epoch {self.epoch} batch {batch}")
    def on_epoch_end(self, epoch, logs=None):
        if (config.get("kill") or {}).get("when") == "stopped" and self.model.stop_training:
            die(f"stopped at epoch {epoch}")
        time.sleep(config.get("epoch_sleep", 0))
        if config.get("epoch_gate"):
            # The parent creates epoch-<e> once it saw what epoch e wrote.
            gate = os.path.join(config["epoch_gate"], f"epoch-{epoch}")
            deadline = time.monotonic() + config.get("gate_timeout", 90)
            while not os.path.exists(gate) and time.monotonic() < deadline:
                time.sleep(0.02)

keras_helpers.seed(config.get("seed", 0))
if config.get("model") == "diverging":
    model = keras_helpers.diverging_regressor(1e6)
else:
    model = keras_helpers.classifier(lr=0.01, optimizer="sgd")
tensorboard = callbacks.TensorBoard(config["log_dir"])
for fit in range(config.get("fits", 1)):
    cbs = [tensorboard]
    if config.get("lr_schedule"):
        cbs.append(callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5))
    if config.get("terminate_on_nan"):
        cbs.append(callbacks.TerminateOnNaN())
    if config.get("early_stop"):
        # Stops after epoch 1 whatever the losses: no gain of 10 is ever seen.
        cbs.append(callbacks.EarlyStopping(monitor="loss", min_delta=10, patience=1))
    if config.get("backup_dir"):
        cbs.append(callbacks.BackupAndRestore(config["backup_dir"]))
    cbs.append(Kill())
    print("FIT", fit, flush=True)
    keras_helpers.fit(model, cbs, epochs=config.get("epochs", 6))
if (config.get("kill") or {}).get("when") == "after_fit":
    die("after fit")
print("DONE", flush=True)
"""


def child_command(**config) -> list[str]:
    config.setdefault("tests_dir", HERE)
    return [sys.executable, "-c", CHILD, json.dumps(config)]


def child_env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, KERAS_BACKEND="tensorflow")


def train_children(configs: dict[str, dict], timeout: float = CHILD_TIMEOUT) -> dict[str, tuple[int, str]]:
    """Runs one training process per config, all at once; name -> (returncode, output)."""
    procs = {
        name: subprocess.Popen(
            child_command(**config),
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for name, config in configs.items()
    }
    out = {}
    try:
        for name, proc in procs.items():
            output, _ = proc.communicate(timeout=timeout)
            out[name] = (proc.returncode, output)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return out


def read_quietly(logdir) -> tuple[list, list[str]]:
    """`read_events(logdir)` and the texts of the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = read_events(logdir)
    assert all(issubclass(w.category, CorruptRecordWarning) for w in caught), [str(w) for w in caught]
    return events, [str(w.message) for w in caught]


def tear(path: str, rng: random.Random) -> int:
    """Appends the first part of a genuine events record to `path`, as a
    kill in the middle of `write()` leaves it; returns the bytes appended."""
    summary = event_format.bundle_summary(
        event_format.EVENTS_TAG_PREFIX + "torn.0",
        [event_format.make_event_json("train_end", "never finished", data={"reason": "completed"})],
    )
    from tensorboard.compat.proto import event_pb2

    record = records.frame(event_pb2.Event(step=10**6, wall_time=1.0, summary=summary).SerializeToString())
    part = record[: rng.randrange(1, len(record) - 1)]
    with open(path, "ab") as f:
        f.write(part)
    return len(part)


def comparable(events) -> list[dict]:
    """Events as the plugin serves them (strict JSON), without the run."""
    return [json.loads(event_json(e)) for e in events]


def without_writer(served: list[dict]) -> list[dict]:
    """Served events without the writer each names (an added field, read from
    its tag): what is left is what the reader reads."""
    assert all(isinstance(e.get("writer"), str) for e in served), served[:3]
    return [{k: v for k, v in e.items() if k != "writer"} for e in served]


def assert_served_as_read(tb, by_run: dict[str, list]) -> None:
    """Waits until the plugin lists exactly these runs, each with its count of
    events, then checks that it serves each run's events as `read_events`
    read them, with no warning."""

    def loaded():
        runs = {r["run"]: r["count"] for r in tb.plugin_json("runs")["runs"]}
        return runs == {run: len(events) for run, events in by_run.items()}

    tb.wait_for(loaded, timeout=90)
    for run, events in by_run.items():
        body = tb.plugin_json("events?" + urllib.parse.urlencode({"run": run}))
        assert without_writer(body["events"]) == comparable(events), run
        assert body["warnings"] == [], run


# ---------------------------------------------------------------- fixture

SEED = random.randrange(1 << 30)
_rng = random.Random(SEED)
RANDOM_KILL = {"epoch": _rng.randrange(1, EPOCHS - 1), "batch": _rng.randrange(STEPS_PER_EPOCH)}

CRASHES = {
    # TerminateOnNaN sets stop_training in on_batch_end; killed in the same hook.
    "nan": dict(model="diverging", terminate_on_nan=True, kill={"when": "stopped"}),
    # EarlyStopping sets it in on_epoch_end (after epoch 1); killed in the same hook.
    "early": dict(lr_schedule=True, early_stop=True, kill={"when": "stopped"}),
    # fit returned (train_end written); killed before the interpreter's exit handlers.
    "after_fit": dict(lr_schedule=True, early_stop=True, kill={"when": "after_fit"}),
    # A random batch; once the writers' periodic flushes have put what was
    # written before on disk, so that it can be asserted exactly.
    "random": dict(lr_schedule=True, kill={"when": "batch", "durable": True, **RANDOM_KILL}),
}


@pytest.fixture(scope="module")
def crashed(tmp_path_factory, shared_tensorboards):
    """logs/natural/<case>: runs as the killed processes left them;
    logs/torn/<case>: copies whose train event file ends in a torn record."""
    root = tmp_path_factory.mktemp("crash")
    configs = {
        name: dict(config, log_dir=str(root / "logs" / "natural" / name), epochs=EPOCHS)
        for name, config in CRASHES.items()
    }
    results = train_children(configs)
    for name, (code, output) in results.items():
        assert code == -signal.SIGKILL, (name, code, output[-3000:])
        assert "KILL " in output, (name, output[-3000:])
    rng = random.Random(SEED)
    for name in CRASHES:
        shutil.copytree(root / "logs" / "natural" / name, root / "logs" / "torn" / name)
        (train_file,) = find_runs(root / "logs" / "torn" / name)["train"]
        tear(train_file, rng)
    return shared_tensorboards.publish(root / "logs", "faults")


def kinds_of(events, run="train") -> list[str]:
    return [e.kind for e in events if e.run == run]


# ---------------------------------------------------------------- on disk


@pytest.mark.parametrize("case", list(CRASHES))
def test_events_that_end_training_are_on_disk(crashed, case):
    events, warned = read_quietly(crashed / "natural" / case)
    # A kill can only ever leave a torn tail, never damage in the middle.
    assert all("incomplete record" in w for w in warned), warned
    kinds = kinds_of(events)
    if case == "nan":
        assert kinds == ["train_begin", "nan_terminated"], kinds
        (nan,) = [e for e in events if e.kind == "nan_terminated"]
        assert nan.source == "TerminateOnNaN" and isinstance(nan.data["batch"], int)
    elif case == "early":
        assert kinds == ["train_begin", "lr_change", "lr_change", "early_stop"], kinds
        stop = events[-1]
        assert (stop.epoch, stop.step, stop.source) == (1, 2 * STEPS_PER_EPOCH, "EarlyStopping")
    elif case == "after_fit":
        assert kinds == ["train_begin", "lr_change", "lr_change", "early_stop", "train_end"], kinds
        assert events[-1].data["reason"] == "early_stop"
    else:
        epoch, batch = RANDOM_KILL["epoch"], RANDOM_KILL["batch"]
        assert kinds == ["train_begin"] + ["lr_change"] * (epoch + 1), (SEED, RANDOM_KILL, kinds)
        assert [e.epoch for e in events if e.kind == "lr_change"] == list(range(epoch + 1))
        assert max(e.step for e in events) <= epoch * STEPS_PER_EPOCH + batch + 1
        assert "train_end" not in kinds


def test_epoch_scalars_before_the_kill_are_on_disk(crashed):
    run = crashed / "natural" / "random"
    metrics = read_run_metrics("train", find_runs(run)["train"])
    epochs = list(range(RANDOM_KILL["epoch"]))
    assert metrics.scalars["epoch_loss"].steps == epochs, (SEED, RANDOM_KILL, metrics)
    assert metrics.epoch_steps == {e: (e + 1) * STEPS_PER_EPOCH for e in epochs}


# ---------------------------------------------------------------- torn tail


@pytest.mark.parametrize("case", list(CRASHES))
def test_reader_skips_the_torn_last_record_with_a_warning(crashed, case):
    natural, _ = read_quietly(crashed / "natural" / case)
    torn, warned = read_quietly(crashed / "torn" / case)
    assert [e.to_dict() | {"run": None} for e in torn] == [e.to_dict() | {"run": None} for e in natural]
    assert len(warned) == 1 and "incomplete record" in warned[0], warned
    assert "never finished" not in {e.message for e in torn}


def test_cli_skips_the_torn_last_record_with_a_warning(crashed):
    logdir = crashed / "torn"
    result = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "tb-callbacks"),
            "events",
            str(logdir),
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, TB_CALLBACKS_PROGRESS_DELAY="1000"),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    torn_warnings = [line for line in lines if "warning:" in line and "incomplete record" in line]
    assert len(torn_warnings) == len(CRASHES), result.stderr
    assert all(line.startswith("tb-callbacks: warning:") for line in lines), result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    expected, _ = read_quietly(logdir)
    assert [(p["run"], p["kind"], p["step"], p["message"]) for p in printed] == [
        (e.run, e.kind, e.step, e.message) for e in expected
    ]


@pytest.mark.parametrize("load_fast", [True, False], ids=["load_fast", "python_loader"])
def test_plugin_serves_everything_but_the_torn_record(crashed, load_fast, shared_tensorboards):
    """TensorBoard's loaders read a run up to a torn last record and wait
    there (it may still be being written), so the plugin serves every whole
    record. They give no warning for it: the plugin sees records only
    through TensorBoard's data provider, never the bytes."""
    expected, _ = read_quietly(crashed)
    by_run: dict[str, list] = {}
    for event in expected:
        by_run.setdefault(event.run, []).append(event)
    assert len(by_run) == 2 * len(CRASHES)
    assert_served_as_read(shared_tensorboards.view(crashed, load_fast=load_fast), by_run)
