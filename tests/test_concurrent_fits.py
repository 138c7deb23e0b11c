"""Two processes fitting into one log_dir at once: each fit is its own writer's file, not a time window.

Two real Keras fits on TensorFlow, in two processes, interleaved for real:
at each epoch's end each process writes a file and waits for the other's,
so every epoch of the process that began first ends after the other began.
Told apart by time, the first fit's later events would count in the second
(a fit with no train_end, another with two).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tb_callbacks_plugin import events_dataframe
from tb_callbacks_plugin.cli import main as cli

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EPOCHS = 3
pytestmark = pytest.mark.timeout(600)

CHILD = r"""
import os, sys, time
name, other, log_dir, gates = sys.argv[1:5]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[5])))
import keras
from tb_callbacks_plugin import callbacks
import keras_helpers

class Gate(callbacks.Callback):
    # Each epoch ends only once the other process ended the same epoch.
    def on_epoch_end(self, epoch, logs=None):
        self.log_event("gate", f"{name} ended epoch {epoch}", epoch=epoch, who=name)
        open(os.path.join(gates, f"{name}-{epoch}"), "w").close()
        deadline = time.monotonic() + 240
        while not os.path.exists(os.path.join(gates, f"{other}-{epoch}")):
            if time.monotonic() > deadline:
                sys.exit("the other process never ended epoch %d" % epoch)
            time.sleep(0.02)

keras_helpers.seed(0)
model = keras_helpers.classifier(lr=0.01, optimizer="sgd")
keras_helpers.fit(model, [callbacks.TensorBoard(log_dir), Gate()], epochs=int(sys.argv[6]))
print("DONE", flush=True)
"""


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrent")
    gates = root / "gates"
    gates.mkdir()
    log_dir = root / "logs" / "shared"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, KERAS_BACKEND="tensorflow")
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, me, other, str(log_dir), str(gates), __file__, str(EPOCHS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    try:
        outputs = [proc.communicate(timeout=500)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0 and "DONE" in output, output[-3000:]
    return root / "logs"


def test_each_fit_is_one_process(logdir):
    frame = events_dataframe(logdir)
    train = frame[frame.run == "shared/train"]
    assert sorted(train.fit.unique().tolist()) == [0, 1]
    begins = train[train.kind == "train_begin"].sort_values("wall_time")
    gates = train[train.kind == "gate"]
    # Interleaved for real: the later fit began before the earlier one's first epoch ended.
    assert begins.wall_time.iloc[1] < gates.wall_time.min()
    for fit, events in train.groupby("fit"):
        kinds = events.kind.value_counts().to_dict()
        assert kinds.get("train_begin") == 1 and kinds.get("train_end") == 1, (fit, kinds)
        (end,) = events[events.kind == "train_end"].data.tolist()
        assert end["reason"] == "completed"
        fit_gates = events[events.kind == "gate"]
        assert len(fit_gates) == EPOCHS and fit_gates.data.map(lambda d: d["who"]).nunique() == 1, fit
        assert sorted(fit_gates.epoch.tolist()) == list(range(EPOCHS))


def test_summary_has_one_completed_fit_per_process(logdir, capsys):
    assert cli.main(["summary", str(logdir), "--format", "json"]) == 0
    lines = json.loads(capsys.readouterr().out)
    assert len(lines) == 2, lines
    for line in lines:
        # Each process's fit ended once, as it did: no fit without an end, none with two.
        assert line["ended"] == "completed", line
        # Each fit's own metric points and epoch ends, not the other process's.
        assert line["epochs"] == EPOCHS and line["best"] is not None and line["final"] is not None, line
