"""tf-keras 2 (`TF_USE_LEGACY_KERAS=1`): the callbacks as drop-ins for `tf.keras.callbacks.*`.

The callbacks choose their Keras at import (callbacks/_keras.py), so this
file runs in its own process with TF_USE_LEGACY_KERAS=1:
tests/test_backends.py runs it in the main venv and in the Keras-floor venv.
Elsewhere it skips.

The fits are the classic tutorial callbacks written the tf.keras 2 way
(`optimizer.lr`, `K.get_value`/`K.set_value`, `stop_training`,
`set_weights`) and the stock ones; each must record what the same kind of
callback records on Keras 3 (tests/test_callbacks_events.py and
tests/test_callbacks_dropins.py expect the same steps, epochs and sources).
"""

from __future__ import annotations

import inspect
import json
import math
import os

import keras_helpers as kh
import numpy as np
import pytest

if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    pytest.skip(
        "needs a process started with TF_USE_LEGACY_KERAS=1 (tests/test_backends.py starts one)",
        allow_module_level=True,
    )

import tensorflow as tf  # noqa: E402 - only in a tf-keras process

from tb_callbacks_plugin import callbacks  # noqa: E402

tfk = tf.keras
K = tf.keras.backend

STEPS = 5  # steps per epoch of kh.fit
DROP_INS = [
    "EarlyStopping",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "BackupAndRestore",
]


def classifier(lr=0.01, seed=0):
    tfk.backend.clear_session()  # layer names restart: dense, dense_1
    tfk.utils.set_random_seed(seed)
    model = tfk.Sequential(
        [tfk.Input((64,)), tfk.layers.Dense(8, activation="relu"), tfk.layers.Dense(10, activation="softmax")]
    )
    model.compile(tfk.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def summary(logdir):
    return [(e.kind, e.step, e.epoch, e.source) for e in kh.events(logdir)]


def test_this_process_runs_tf_keras():
    from tb_callbacks_plugin.callbacks import _keras

    assert _keras.LEGACY and tfk.__name__.startswith("tf_keras")
    assert issubclass(callbacks.Callback, tfk.callbacks.Callback)


@pytest.mark.parametrize("name", DROP_INS)
def test_drop_ins_subclass_tf_keras_with_its_signature(name):
    ours, theirs = getattr(callbacks, name), getattr(tfk.callbacks, name)
    assert issubclass(ours, theirs) and issubclass(ours, callbacks.Callback)

    def params(cls):
        return [(p.name, p.default, p.kind) for p in inspect.signature(cls).parameters.values()]

    assert params(ours) == params(theirs)


def test_tensorboard_takes_tf_keras_arguments():
    theirs = inspect.signature(tfk.callbacks.TensorBoard).parameters.values()
    theirs = [p for p in theirs if p.kind != p.VAR_KEYWORD]
    ours = list(inspect.signature(callbacks.TensorBoard).parameters.values())
    assert [(p.name, p.default) for p in ours[: len(theirs)]] == [(p.name, p.default) for p in theirs]


# ---------------------------------------------------------------- the tutorials' own callbacks


class GetSetScheduler(tfk.callbacks.Callback):
    """Reads `optimizer.lr` with K.get_value, assigns with K.set_value, at each epoch begin."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(K.get_value(self.model.optimizer.lr))
        K.set_value(self.model.optimizer.lr, self.schedule(epoch, lr))


class TableScheduler(tfk.callbacks.Callback):
    """The guide's CustomLearningRateScheduler: an epoch table, `learning_rate` read, `lr` set."""

    def __init__(self, table):
        super().__init__()
        self.table = table

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(K.get_value(self.model.optimizer.learning_rate))
        for start, value in self.table:
            if epoch == start:
                lr = value
        self.model.optimizer.lr = lr  # assigned every epoch: only real changes are events


class EarlyStoppingAtMinLoss(tfk.callbacks.Callback):
    """The guide's early stopper: stop_training, then set_weights of the best epoch."""

    def __init__(self, patience=0, min_delta=0.0):
        super().__init__()
        self.patience = patience
        self.min_delta = min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        if np.less(current, self.best - self.min_delta):
            self.best = current
            self.wait = 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                self.model.set_weights(self.best_weights)


class LossPrinter(tfk.callbacks.Callback):
    """The guide's LossAndErrorPrintingCallback: a line per batch."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def on_train_batch_end(self, batch, logs=None):
        self.lines.append(f"For batch {batch}, loss is {logs['loss']:7.2f}.")


@pytest.mark.timeout(180)
def test_tutorial_callbacks(tmp_path):
    logdir = str(tmp_path / "logs")
    json_path = tmp_path / "loss_log.json"
    json_log = open(json_path, "w", buffering=1)  # noqa: SIM115 - closed by the callback, as in the docs
    printer = LossPrinter()
    model = classifier(lr=0.01, seed=1)
    cbs = [
        TableScheduler([(1, 0.05), (2, 0.05), (3, 0.002)]),
        GetSetScheduler(lambda epoch, lr: lr * 0.5 if epoch == 2 else lr),
        callbacks.TensorBoard(logdir),
        EarlyStoppingAtMinLoss(patience=1, min_delta=100),
        printer,
        tfk.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: json_log.write(
                json.dumps({"epoch": epoch, "loss": logs["loss"]}) + "\n"
            ),
            on_train_end=lambda logs: json_log.close(),
        ),
    ]
    history = kh.fit(model, cbs, epochs=8)
    assert len(history.history["loss"]) == 2
    # As test_callbacks_events.py::test_custom_scheduler_and_stopper on Keras 3.
    assert summary(logdir) == [
        ("train_begin", 0, 0, None),
        ("lr_change", STEPS, 1, "TableScheduler"),
        ("early_stop", 2 * STEPS, 1, "EarlyStoppingAtMinLoss"),
        ("weights_restored", 2 * STEPS, 1, "EarlyStoppingAtMinLoss"),
        ("train_end", 2 * STEPS, 1, None),
    ]
    assert kh.events(logdir, "weights_restored")[0].data["best_epoch"] == 0
    change = kh.events(logdir, "lr_change")[0]
    assert (change.data["old"], change.data["new"]) == (0.01, 0.05)
    stop = kh.events(logdir, "early_stop")[0]
    assert stop.data["patience"] == 1 and stop.data["wait"] == 1 and stop.data["stopped_epoch"] == 1
    assert kh.events(logdir, "train_end")[0].data["reason"] == "early_stop"
    assert len(printer.lines) == 2 * STEPS and printer.lines[0].startswith("For batch 0, loss is")
    assert [json.loads(line)["epoch"] for line in json_path.read_text().splitlines()] == [0, 1]


@pytest.mark.timeout(180)
def test_get_set_value_scheduler_and_lambda_stop(tmp_path):
    logdir = str(tmp_path)
    model = classifier(lr=0.01, seed=2)

    def stop(epoch, logs):
        if epoch == 3:
            model.stop_training = True

    cbs = [
        callbacks.TensorBoard(logdir),
        GetSetScheduler(lambda epoch, lr: 0.003 if epoch == 2 else lr),
        tfk.callbacks.LambdaCallback(on_epoch_end=stop),
    ]
    kh.fit(model, cbs, epochs=8)
    # As test_callbacks_events.py::test_lambda_callback on Keras 3.
    assert summary(logdir) == [
        ("train_begin", 0, 0, None),
        ("lr_change", 2 * STEPS, 2, "GetSetScheduler"),
        ("early_stop", 4 * STEPS, 3, "LambdaCallback"),
        ("train_end", 4 * STEPS, 3, None),
    ]
    change = kh.events(logdir, "lr_change")[0]
    assert (change.data["old"], change.data["new"]) == (0.01, 0.003)
    assert change.data["hook"] == "on_epoch_begin"


@pytest.mark.timeout(180)
def test_schedule_decay_is_no_change(tmp_path):
    logdir = str(tmp_path)
    model = classifier(seed=3)
    schedule = tfk.optimizers.schedules.ExponentialDecay(0.01, decay_steps=1, decay_rate=0.5)
    model.compile(tfk.optimizers.Adam(schedule), "sparse_categorical_crossentropy")
    kh.fit(model, [callbacks.TensorBoard(logdir)], epochs=3)
    assert kh.kinds(logdir) == ["train_begin", "train_end"]
    assert kh.events(logdir, "train_end")[0].data["reason"] == "completed"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", ["Adam", "SGD"])
def test_legacy_optimizers(tmp_path, name):
    """`tf.keras.optimizers.legacy.*` (TF <= 2.10 code): the rate is a hyperparameter, not a variable."""
    logdir = str(tmp_path)
    model = classifier(seed=4)
    model.compile(getattr(tfk.optimizers.legacy, name)(0.02), "sparse_categorical_crossentropy")
    cbs = [
        GetSetScheduler(lambda epoch, lr: lr / 2 if epoch == 1 else lr),
        TableScheduler([(3, 0.004)]),
        callbacks.TensorBoard(logdir),
    ]
    kh.fit(model, cbs, epochs=4)
    assert summary(logdir) == [
        ("train_begin", 0, 0, None),
        ("lr_change", STEPS, 1, "GetSetScheduler"),
        ("lr_change", 3 * STEPS, 3, "TableScheduler"),
        ("train_end", 4 * STEPS, 3, None),
    ]
    changes = [(e.data["old"], e.data["new"]) for e in kh.events(logdir, "lr_change")]
    assert changes == [(0.02, 0.01), (0.01, 0.004)]
    rates = kh.scalar_series(os.path.join(logdir, "train"))["epoch_learning_rate"]
    assert [(step, round(value, 6)) for step, value in rates] == [(0, 0.02), (1, 0.01), (2, 0.01), (3, 0.004)]


# ---------------------------------------------------------------- stock tf.keras callbacks


@pytest.mark.timeout(180)
@pytest.mark.parametrize("position", ["first", "last"])
def test_stock_callbacks_detected(tmp_path, position):
    logdir = str(tmp_path / "logs")
    others = [
        tfk.callbacks.ReduceLROnPlateau(monitor="loss", min_delta=100, patience=2, factor=0.5),
        TableScheduler([(1, 0.02)]),
        tfk.callbacks.EarlyStopping(monitor="loss", min_delta=100, patience=3, restore_best_weights=True),
        tfk.callbacks.ModelCheckpoint(str(tmp_path / "ckpt" / "e{epoch:02d}.h5"), save_weights_only=True),
    ]
    tb = callbacks.TensorBoard(logdir)
    history = kh.fit(classifier(seed=0), [tb, *others] if position == "first" else [*others, tb], epochs=10)
    assert len(history.history["loss"]) == 4
    got = summary(logdir)
    saves = [g for g in got if g[0] == "checkpoint_saved"]
    assert saves == [("checkpoint_saved", (e + 1) * STEPS, e, "ModelCheckpoint") for e in range(4)]
    # As test_callbacks_events.py::test_stock_callbacks_detected on Keras 3.
    assert [g for g in got if g[0] != "checkpoint_saved"] == [
        ("train_begin", 0, 0, None),
        ("lr_change", STEPS, 1, "TableScheduler"),
        ("lr_change", 3 * STEPS, 2, "ReduceLROnPlateau"),
        ("early_stop", 4 * STEPS, 3, "EarlyStopping"),
        ("weights_restored", 4 * STEPS, 3, "EarlyStopping"),
        ("train_end", 4 * STEPS, 3, None),
    ]
    stop = kh.events(logdir, "early_stop")[0]
    assert stop.data["monitor"] == "loss" and stop.data["patience"] == 3 and stop.data["wait"] == 3
    assert math.isclose(stop.data["best"], history.history["loss"][0], rel_tol=1e-6)
    plateau = kh.events(logdir, "lr_change")[1]
    assert (plateau.data["old"], plateau.data["new"]) == (0.02, 0.01)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("flavour", ["stock", "drop-in"])
def test_nan_terminated(tmp_path, flavour):
    logdir = str(tmp_path)
    tfk.utils.set_random_seed(4)
    model = tfk.Sequential([tfk.Input((64,)), tfk.layers.Dense(1)])
    model.compile(tfk.optimizers.SGD(1e3), "mse")
    cls = tfk.callbacks.TerminateOnNaN if flavour == "stock" else callbacks.TerminateOnNaN
    kh.fit(model, [callbacks.TensorBoard(logdir), cls()], epochs=3)
    got = kh.events(logdir)
    assert [e.kind for e in got] == ["train_begin", "nan_terminated", "train_end"]
    nan = got[1]
    assert nan.source == "TerminateOnNaN" and not math.isfinite(nan.data["loss"])
    assert nan.epoch == 0 and nan.data["batch"] == nan.step - 1
    assert got[2].data["reason"] == "nan"


class Preempted(tfk.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("simulated preemption")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("flavour", ["stock", "drop-in"])
def test_backup_and_restore_resumes(tmp_path, flavour):
    logdir, backup = str(tmp_path / "logs"), str(tmp_path / "backup")
    cls = tfk.callbacks.BackupAndRestore if flavour == "stock" else callbacks.BackupAndRestore
    with pytest.raises(RuntimeError, match="simulated preemption"):
        kh.fit(classifier(seed=5), [cls(backup), Preempted(), callbacks.TensorBoard(logdir)], epochs=5)
    first = kh.events(logdir)
    assert [e.kind for e in first] == ["train_begin", "train_end"]
    assert first[1].data["reason"] == "interrupted" and first[1].epoch == 2

    history = kh.fit(classifier(seed=5), [callbacks.TensorBoard(logdir), cls(backup)], epochs=5)
    assert len(history.history["loss"]) == 2  # epochs 3 and 4
    second = [e for e in kh.events(logdir) if e.wall_time > first[1].wall_time]
    assert [e.kind for e in second] == ["train_begin", "backup_restored", "train_end"]
    restored = second[1]
    assert restored.data["initial_epoch"] == 3 and restored.epoch == 3
    assert restored.source == "BackupAndRestore"
    assert ("detected" in restored.data) == (flavour == "stock")
    assert second[2].data["reason"] == "completed" and second[2].epoch == 4


# ---------------------------------------------------------------- the drop-ins


def halve_from_epoch_2(epoch, lr):
    return lr * 0.5 if epoch >= 2 else lr


def _callback_set(module, tmp):
    return [
        module.TerminateOnNaN(),
        module.LearningRateScheduler(halve_from_epoch_2),
        module.ReduceLROnPlateau(monitor="val_loss", min_delta=100, patience=2, factor=0.1),
        module.ModelCheckpoint(str(tmp / "best.h5"), monitor="val_accuracy", save_best_only=True),
        module.BackupAndRestore(str(tmp / "backup")),
        module.EarlyStopping(monitor="val_loss", min_delta=100, patience=4, restore_best_weights=True),
    ]


@pytest.mark.timeout(240)
def test_drop_ins_train_like_tf_keras_and_report_once(tmp_path):
    fits = {}
    for flavour, module in (("tf_keras", tfk.callbacks), ("ours", callbacks)):
        tmp = tmp_path / flavour
        tmp.mkdir()
        cbs = _callback_set(module, tmp)
        if flavour == "ours":
            cbs.append(callbacks.TensorBoard(str(tmp / "logs")))
        model = classifier(lr=0.02, seed=11)
        fits[flavour] = (model, kh.fit(model, cbs, epochs=8).history, tmp)
    (model_k, hist_k, _), (model_o, hist_o, tmp) = fits["tf_keras"], fits["ours"]
    assert len(hist_k["loss"]) == 5
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        np.testing.assert_array_equal(hist_o[key], hist_k[key], err_msg=key)
    for a, b in zip(model_k.get_weights(), model_o.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    got = kh.events(str(tmp / "logs"))
    # As test_callbacks_dropins.py::test_drop_ins_report_their_actions_once on Keras 3.
    assert [(e.kind, e.step, e.epoch, e.source) for e in got if e.kind != "checkpoint_saved"] == [
        ("train_begin", 0, 0, None),
        ("lr_change", 2 * STEPS, 2, "LearningRateScheduler"),
        ("lr_change", 3 * STEPS, 2, "ReduceLROnPlateau"),
        ("lr_change", 3 * STEPS, 3, "LearningRateScheduler"),
        ("lr_change", 4 * STEPS, 4, "LearningRateScheduler"),
        ("lr_change", 5 * STEPS, 4, "ReduceLROnPlateau"),
        ("early_stop", 5 * STEPS, 4, "EarlyStopping"),
        ("weights_restored", 5 * STEPS, 4, "EarlyStopping"),
        ("train_end", 5 * STEPS, 4, None),
    ]
    assert not [e for e in got if "detected" in e.data]
    lrs = [(e.data["old"], e.data["new"]) for e in got if e.kind == "lr_change"]
    expected = [(0.02, 0.01), (0.01, 0.001), (0.001, 0.0005), (0.0005, 0.00025), (0.00025, 0.000025)]
    assert lrs == [(pytest.approx(o, rel=1e-6), pytest.approx(n, rel=1e-6)) for o, n in expected]
    saves = [e for e in got if e.kind == "checkpoint_saved"]
    assert saves and all(e.data["filepath"] == str(tmp / "best.h5") for e in saves)


class Marker(callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            self.log_event("marker.test", "second epoch done", value=np.float32(1.5))


@pytest.mark.timeout(120)
def test_log_event(tmp_path):
    logdir = str(tmp_path)
    kh.fit(classifier(seed=6), [Marker(), callbacks.TensorBoard(logdir)], epochs=3)
    (event,) = kh.events(logdir, "marker.test")
    assert (event.step, event.epoch, event.source, event.data) == (2 * STEPS, 1, "Marker", {"value": 1.5})


def _tags_and_steps(run_dir):
    acc = kh.accumulate(run_dir)
    return {
        tag: [e.step for e in acc.Tensors(tag)]
        for tag in acc.Tags()["tensors"]
        if not tag.startswith("callback_events/")
    }


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "config", [{}, {"histogram_freq": 1, "update_freq": "batch"}], ids=["default", "full"]
)
def test_same_tags_and_steps_as_tf_keras_tensorboard(tmp_path, config):
    for flavour, cls in (("tf_keras", tfk.callbacks.TensorBoard), ("ours", callbacks.TensorBoard)):
        kh.fit(classifier(seed=7), [cls(str(tmp_path / flavour), **config)], epochs=3)
    for run in ("train", "validation"):
        theirs = _tags_and_steps(str(tmp_path / "tf_keras" / run))
        ours = _tags_and_steps(str(tmp_path / "ours" / run))
        assert theirs and set(theirs) <= set(ours), (run, sorted(theirs), sorted(ours))
        for tag, steps in theirs.items():
            assert ours[tag] == steps, (run, tag)
