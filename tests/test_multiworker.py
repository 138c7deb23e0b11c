"""MultiWorkerMirroredStrategy with 2 worker processes on 127.0.0.1: only the
chief writes, so each event is on disk exactly once, and the other worker
leaves no file in the shared log_dir.

Both workers get the same `log_dir` (as a script launched unchanged on every
worker does), run the event-emitting callbacks, and train together through
TensorFlow's collective ops on CPU.

Keras 3.15's `fit` does not run under MultiWorkerMirroredStrategy as
released (keras-team/keras#20585, tensorflow/tensorflow#72388): its symbolic
build reduces a distributed batch eagerly, and its metric reduction uses
`axis=0` on scalars. The worker script works around both (build from a plain
batch; reduce scalars with `axis=None`), which changes nothing the callbacks
see.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys

import pytest
from test_faults import HERE, child_env, read_quietly

pytestmark = pytest.mark.timeout(240)
EPOCHS = 4
STEPS = 5  # 288 training samples, global batch 64

WORKER = r"""
import json, os, sys
config = json.loads(sys.argv[1])
sys.path.insert(0, config["tests_dir"])
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
import tensorflow as tf
import keras
from keras.src.backend.tensorflow import trainer as tf_trainer
from tb_callbacks_plugin import callbacks
import keras_helpers

_reduce = tf_trainer.reduce_per_replica

def reduce_per_replica(values, strategy, reduction):
    # Keras reduces 0-d metric results with axis=0 under MWMS, which fails.
    if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
        return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
    return _reduce(values, strategy, reduction)

tf_trainer.reduce_per_replica = reduce_per_replica
strategy = tf.distribute.MultiWorkerMirroredStrategy()
chief = bool(strategy.extended.should_save_summary)
print("WORKER", json.dumps({"pid": os.getpid(), "chief": chief}), flush=True)
keras_helpers.seed(0)
with strategy.scope():
    model = keras_helpers.classifier(lr=0.05, optimizer="sgd")
x, y = keras_helpers.digits()
sample = (tf.constant(x[:32]), tf.constant(y[:32]))
# fit's symbolic build reduces a PerReplica batch eagerly and fails under MWMS.
model._maybe_symbolic_build = lambda iterator=None, data_batch=None: type(model)._maybe_symbolic_build(
    model, data_batch=sample
)

def dataset(a, b):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return tf.data.Dataset.from_tensor_slices((a, b)).batch(64).with_options(options)

# Each worker checkpoints to its own directory, as TensorFlow's guide says.
checkpoints = os.path.join(config["work_dir"], f"ckpt-{config['index']}")
os.makedirs(checkpoints, exist_ok=True)
model.fit(
    dataset(x[:288], y[:288]),
    validation_data=dataset(x[288:], y[288:]),
    epochs=config["epochs"],
    verbose=0,
    callbacks=[
        callbacks.TensorBoard(config["log_dir"]),
        callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5),
        callbacks.ModelCheckpoint(
            os.path.join(checkpoints, "epoch{epoch}.weights.h5"), save_weights_only=True
        ),
        # Stops after epoch 1 whatever the losses: no gain of 10 is ever seen.
        callbacks.EarlyStopping(monitor="loss", min_delta=10, patience=1),
    ],
)
print("DONE", flush=True)
"""


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiworker")
    log_dir = root / "logs"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    procs = []
    try:
        for index in range(2):
            config = dict(
                tests_dir=HERE, log_dir=str(log_dir), work_dir=str(root), epochs=EPOCHS, index=index
            )
            env = dict(
                child_env(),
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            )
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, json.dumps(config)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
            )
        outputs = [proc.communicate(timeout=180)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    workers = []
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0 and "DONE" in output, output[-4000:]
        (line,) = re.findall(r"^WORKER (.*)$", output, re.M)
        workers.append(json.loads(line))
    return log_dir, workers


def test_only_the_chief_writes_and_no_file_is_shared(trained):
    log_dir, workers = trained
    assert [w["chief"] for w in workers] == [True, False]
    chief_pid, other_pid = workers[0]["pid"], workers[1]["pid"]
    files = sorted(os.path.relpath(os.path.join(d, f), log_dir) for d, _, fs in os.walk(log_dir) for f in fs)
    assert [os.path.dirname(f) for f in files] == ["train", "validation"], files
    for name in files:
        # EventWriter names files ...tfevents.<time>.<host>.<pid>.<n>
        assert name.split(".")[-2] == str(chief_pid), (name, chief_pid, other_pid)


def test_each_event_is_written_exactly_once(trained):
    log_dir, _ = trained
    events, warned = read_quietly(log_dir)
    assert warned == []
    kinds = [e.kind for e in events]
    # EarlyStopping ends the fit after epoch 1; ModelCheckpoint saves after
    # epochs 0 and 1 (the chief's files); the schedule changes the rate at
    # the start of epochs 0 and 1.
    assert sorted(kinds) == sorted(
        [
            "train_begin",
            "lr_change",
            "lr_change",
            "checkpoint_saved",
            "checkpoint_saved",
            "early_stop",
            "train_end",
        ]
    ), kinds
    assert {e.run for e in events} == {"train"}
    assert [e.step for e in events if e.kind == "lr_change"] == [0, STEPS]
    assert [e.epoch for e in events if e.kind == "checkpoint_saved"] == [0, 1]
    saved = [e.data["filepath"] for e in events if e.kind == "checkpoint_saved"]
    assert all("ckpt-0" in path for path in saved), saved
    end = events[-1]
    assert end.kind == "train_end" and end.data["reason"] == "early_stop" and end.step == 2 * STEPS
