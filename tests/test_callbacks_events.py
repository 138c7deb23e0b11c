"""Callback events captured by callbacks.TensorBoard from real fits (TensorFlow backend).

Every fit is a real `model.fit` of a tiny classifier on scikit-learn's digits
(5 steps per epoch); events are read back from the event files.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import time
import warnings

import keras
import keras_helpers as kh
import numpy as np
import pytest

from tb_callbacks_plugin import BUILTIN_KINDS, callbacks, event_format

STEPS = 5  # steps per epoch of kh.fit
# What this Keras's callbacks can do (the Keras floor's lack both): a
# TerminateOnNaN that raises, a BackupAndRestore that resumes at the backed-up
# epoch (before, it restores the weights and trains every epoch again).
NAN_CAN_RAISE = "raise_error" in inspect.signature(keras.callbacks.TerminateOnNaN).parameters
RESUMES_AT_EPOCH = "_initial_epoch" in inspect.getsource(keras.callbacks.BackupAndRestore)


def _summary(logdir):
    return [(e.kind, e.step, e.epoch, e.source) for e in kh.events(logdir)]


# ---------------------------------------------------------------- stock callbacks, any position


class TableScheduler(keras.callbacks.Callback):
    """The custom scheduler of Keras's "Writing your own callbacks" guide: an epoch table."""

    def __init__(self, table):
        super().__init__()
        self.table = table

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        for start, value in self.table:
            if epoch == start:
                lr = value
        # Assigned every epoch, as in the guide: only real changes are events.
        self.model.optimizer.learning_rate = lr


def _stock_list(tmp_path):
    return [
        # min_delta this large: "loss" never improves after epoch 0, so the
        # schedule of actions below is exact whatever the data does.
        keras.callbacks.ReduceLROnPlateau(monitor="loss", min_delta=100, patience=2, factor=0.5),
        TableScheduler([(1, 0.02)]),
        keras.callbacks.EarlyStopping(monitor="loss", min_delta=100, patience=3, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(
            str(tmp_path / "ckpt" / "e{epoch:02d}.weights.h5"), save_weights_only=True
        ),
    ]


@pytest.fixture(scope="module")
def stock_runs(tmp_path_factory):
    """The same fit with callbacks.TensorBoard first and last in the list."""
    runs = {}
    for position in ("first", "last"):
        tmp = tmp_path_factory.mktemp(f"stock_{position}")
        logdir = str(tmp / "logs")
        tb = callbacks.TensorBoard(logdir)
        others = _stock_list(tmp)
        kh.seed(0)
        model = kh.classifier(lr=0.01)
        cbs = [tb, *others] if position == "first" else [*others, tb]
        history = kh.fit(model, cbs, epochs=10)
        runs[position] = (logdir, history, tmp)
    return runs


@pytest.mark.timeout(120)
@pytest.mark.parametrize("position", ["first", "last"])
def test_stock_callbacks_detected(stock_runs, position):
    logdir, history, tmp = stock_runs[position]
    assert len(history.history["loss"]) == 4  # EarlyStopping stopped after epoch 3
    got = _summary(logdir)
    assert got[0] == ("train_begin", 0, 0, None)
    assert got[-1] == ("train_end", 4 * STEPS, 3, None)
    body = [g for g in got[1:-1]]
    saves = [g for g in body if g[0] == "checkpoint_saved"]
    assert saves == [("checkpoint_saved", (e + 1) * STEPS, e, "ModelCheckpoint") for e in range(4)]
    others = [g for g in body if g[0] != "checkpoint_saved"]
    assert others == [
        ("lr_change", STEPS, 1, "TableScheduler"),  # on_epoch_begin of epoch 1
        ("lr_change", 3 * STEPS, 2, "ReduceLROnPlateau"),  # on_epoch_end of epoch 2
        ("early_stop", 4 * STEPS, 3, "EarlyStopping"),
        ("weights_restored", 4 * STEPS, 3, "EarlyStopping"),
    ]
    by_kind = {e.kind: e for e in kh.events(logdir)}
    table, plateau = [e for e in kh.events(logdir, "lr_change")]
    assert (table.data["old"], table.data["new"]) == (0.01, 0.02)
    assert (plateau.data["old"], plateau.data["new"]) == (0.02, 0.01)
    assert plateau.data["monitor"] == "loss" and plateau.data["patience"] == 2
    assert plateau.message.endswith("learning rate 0.02 -> 0.01")
    stop = by_kind["early_stop"]
    assert stop.data["monitor"] == "loss" and stop.data["patience"] == 3 and stop.data["wait"] == 3
    assert stop.data["best_epoch"] == 0
    assert math.isclose(stop.data["best"], history.history["loss"][0], rel_tol=1e-6)
    assert "loss did not improve for 3 epochs" in stop.message and "stopped at epoch 4" in stop.message
    assert by_kind["weights_restored"].data["best_epoch"] == 0
    end = by_kind["train_end"]
    assert end.data["reason"] == "early_stop" and end.data["epochs"] == 10 and end.data["steps"] == STEPS
    begin = by_kind["train_begin"]
    assert begin.data["epochs"] == 10 and begin.data["learning_rate"] == 0.01
    assert "ReduceLROnPlateau" in begin.data["callbacks"]
    save = kh.events(logdir, "checkpoint_saved")[1]
    assert save.data["filepath"] == str(tmp / "ckpt" / "e02.weights.h5") and os.path.exists(
        save.data["filepath"]
    )
    assert math.isclose(save.data["value"], history.history["val_loss"][1], rel_tol=1e-6)


@pytest.mark.timeout(60)
def test_position_does_not_change_events(stock_runs):
    first = [(k, s, e, src) for k, s, e, src in _summary(stock_runs["first"][0])]
    last = [(k, s, e, src) for k, s, e, src in _summary(stock_runs["last"][0])]
    assert first == last


@pytest.mark.timeout(60)
def test_epoch_end_steps_recorded(stock_runs):
    from tensorboard.util import tensor_util

    acc = kh.accumulate(os.path.join(stock_runs["first"][0], "train"))
    (tag,) = [t for t in acc.Tags()["tensors"] if t.startswith("callback_events/epochs/")]
    marks = [(e.step, int(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
    assert marks == [((epoch + 1) * STEPS, epoch) for epoch in range(4)]


# ---------------------------------------------------------------- users' callbacks


class StopAtMinLoss(keras.callbacks.Callback):
    """The early stopper of Keras's guide: stops when loss stops improving, restores the best weights."""

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


@pytest.mark.timeout(120)
def test_custom_scheduler_and_stopper(tmp_path):
    logdir = str(tmp_path)
    kh.seed(1)
    model = kh.classifier(lr=0.01)
    cbs = [
        TableScheduler([(1, 0.05), (2, 0.05), (3, 0.002)]),
        callbacks.TensorBoard(logdir),
        StopAtMinLoss(patience=1, min_delta=100),
    ]
    history = kh.fit(model, cbs, epochs=8)
    assert len(history.history["loss"]) == 2
    got = _summary(logdir)
    assert got == [
        ("train_begin", 0, 0, None),
        ("lr_change", STEPS, 1, "TableScheduler"),
        ("early_stop", 2 * STEPS, 1, "StopAtMinLoss"),
        # Its self.model.set_weights(self.best_weights), of weights taken at epoch 0.
        ("weights_restored", 2 * STEPS, 1, "StopAtMinLoss"),
        ("train_end", 2 * STEPS, 1, None),
    ]
    assert kh.events(logdir, "weights_restored")[0].data["best_epoch"] == 0
    stop = kh.events(logdir, "early_stop")[0]
    # Facts of a user's stopper, read from its attributes where they exist.
    assert stop.data["patience"] == 1 and stop.data["wait"] == 1 and stop.data["stopped_epoch"] == 1
    assert kh.events(logdir, "train_end")[0].data["reason"] == "early_stop"


@pytest.mark.timeout(120)
def test_lambda_callback(tmp_path):
    logdir = str(tmp_path)
    kh.seed(2)
    model = kh.classifier(lr=0.01)

    def set_lr(epoch, logs):
        if epoch == 2:
            model.optimizer.learning_rate.assign(0.003)  # assign on the variable works too

    def stop(epoch, logs):
        if epoch == 3:
            model.stop_training = True

    cbs = [
        callbacks.TensorBoard(logdir),
        keras.callbacks.LambdaCallback(on_epoch_begin=set_lr, on_epoch_end=stop),
    ]
    kh.fit(model, cbs, epochs=8)
    assert _summary(logdir) == [
        ("train_begin", 0, 0, None),
        ("lr_change", 2 * STEPS, 2, "LambdaCallback"),
        ("early_stop", 4 * STEPS, 3, "LambdaCallback"),
        ("train_end", 4 * STEPS, 3, None),
    ]
    change = kh.events(logdir, "lr_change")[0]
    assert (change.data["old"], change.data["new"]) == (0.01, 0.003)
    assert change.data["hook"] == "on_epoch_begin"


@pytest.mark.timeout(120)
def test_batch_level_stop_and_schedule_decay(tmp_path):
    """A stop set in a batch hook is an early stop at that step; a schedule's decay is no event."""
    logdir = str(tmp_path)
    kh.seed(3)
    model = kh.classifier()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=1, decay_rate=0.5)
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy")

    done = []  # global batches: on JAX the optimizer's counter is not synced mid-epoch

    def maybe_stop(batch, logs):
        done.append(batch)
        if len(done) == 7:
            model.stop_training = True

    cbs = [keras.callbacks.LambdaCallback(on_train_batch_end=maybe_stop), callbacks.TensorBoard(logdir)]
    kh.fit(model, cbs, epochs=5)
    got = _summary(logdir)
    assert got == [
        ("train_begin", 0, 0, None),
        ("early_stop", 7, 1, "LambdaCallback"),
        ("train_end", 7, 1, None),
    ]
    assert kh.events(logdir, "early_stop")[0].data["batch"] == 1
    assert kh.events(logdir, "train_end")[0].data["reason"] == "early_stop"


@pytest.mark.timeout(60)
def test_stop_after_last_epoch_is_not_early(tmp_path):
    logdir = str(tmp_path)
    model = kh.classifier()
    cbs = [
        callbacks.TensorBoard(logdir),
        keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", True)
        ),
    ]
    kh.fit(model, cbs, epochs=1)
    assert kh.kinds(logdir) == ["train_begin", "train_end"]
    assert kh.events(logdir, "train_end")[0].data["reason"] == "completed"


def test_fit_initial_epoch_is_where_the_timeline_begins(tmp_path):
    # fit(initial_epoch=N) without any BackupAndRestore: the session reads N
    # from fit's frame (it once took it for a dict and the fit crashed).
    logdir = str(tmp_path)
    kh.fit(kh.classifier(), [callbacks.TensorBoard(logdir)], epochs=4, initial_epoch=2)
    begin, end = kh.events(logdir, "train_begin") + kh.events(logdir, "train_end")
    assert (begin.epoch, begin.data["initial_epoch"]) == (2, 2)
    assert (end.data["reason"], end.data["last_epoch"]) == ("completed", 3)
    assert kh.kinds(logdir) == ["train_begin", "train_end"]


# ---------------------------------------------------------------- NaN


@pytest.mark.timeout(120)
@pytest.mark.parametrize("raise_error", [False, True])
@pytest.mark.parametrize("flavour", ["stock", "drop-in"])
def test_nan_divergence(tmp_path, raise_error, flavour):
    if raise_error and not NAN_CAN_RAISE:
        pytest.skip(f"Keras {keras.version()}'s TerminateOnNaN has no raise_error")
    logdir = str(tmp_path)
    kh.seed(4)
    model = kh.diverging_regressor(1e3)
    cls = keras.callbacks.TerminateOnNaN if flavour == "stock" else callbacks.TerminateOnNaN
    cbs = [callbacks.TensorBoard(logdir), cls(raise_error=True) if raise_error else cls()]
    if raise_error:
        with pytest.raises(RuntimeError, match="NaN or Inf loss"):
            kh.fit(model, cbs, epochs=3)
        # Recorded before the error left fit, on disk already.
    else:
        kh.fit(model, cbs, epochs=3)
    got = kh.events(logdir)
    assert [e.kind for e in got] == ["train_begin", "nan_terminated", "train_end"]
    nan, end = got[1], got[2]
    assert nan.source == "TerminateOnNaN"
    assert not math.isfinite(nan.data["loss"])
    assert nan.epoch == 0 and nan.data["batch"] == nan.step - 1
    assert f"at batch {nan.data['batch']} of epoch 1" in nan.message
    assert ("detected" in nan.data) == (flavour == "stock")
    assert end.data["reason"] == "nan" and end.step == nan.step
    if raise_error:
        assert end.data["exception"] == "RuntimeError"


# ---------------------------------------------------------------- interruptions


class Preempted(keras.callbacks.Callback):
    """Simulates the job being killed at the end of an epoch."""

    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("simulated preemption")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flavour", ["stock", "drop-in"])
def test_backup_and_restore_resumes(tmp_path, flavour):
    logdir, backup = str(tmp_path / "logs"), str(tmp_path / "backup")
    cls = keras.callbacks.BackupAndRestore if flavour == "stock" else callbacks.BackupAndRestore
    kh.seed(5)
    model = kh.classifier()
    with pytest.raises(RuntimeError, match="simulated preemption"):
        kh.fit(model, [cls(backup), Preempted(at_epoch=2), callbacks.TensorBoard(logdir)], epochs=5)
    first = kh.events(logdir)
    assert [e.kind for e in first] == ["train_begin", "train_end"]
    assert first[1].data["reason"] == "interrupted" and first[1].data["exception"] == "RuntimeError"
    assert first[1].step == 3 * STEPS and first[1].epoch == 2
    assert "simulated preemption" in first[1].message

    model = kh.classifier()  # a fresh process would rebuild the model
    history = kh.fit(model, [callbacks.TensorBoard(logdir), cls(backup)], epochs=5)
    resumed_at = 3 if RESUMES_AT_EPOCH else 0
    assert len(history.history["loss"]) == 5 - resumed_at  # epochs 3 and 4
    second = [e for e in kh.events(logdir) if e.wall_time > first[1].wall_time]
    assert [e.kind for e in second] == ["train_begin", "backup_restored", "train_end"]
    restored = second[1]
    assert restored.data["initial_epoch"] == resumed_at and restored.epoch == resumed_at
    assert restored.source == "BackupAndRestore"
    assert ("detected" in restored.data) == (flavour == "stock")
    assert restored.data["backup_dir"] == backup
    assert second[2].data["reason"] == "completed" and second[2].epoch == 4


class InterruptingModel(keras.Sequential):
    """Raises KeyboardInterrupt inside a training step, as Ctrl-C would."""

    interrupt_at = 7
    steps = 0

    def train_step(self, *args):  # (data), or (state, data) on JAX
        if self.steps == self.interrupt_at:
            raise KeyboardInterrupt
        self.steps += 1
        return super().train_step(*args)


@pytest.mark.timeout(120)
def test_keyboard_interrupt_in_step_ends_run_at_once(tmp_path):
    logdir = str(tmp_path)
    model = InterruptingModel([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", run_eagerly=True)
    train_function = None
    try:
        kh.fit(model, [callbacks.TensorBoard(logdir)], epochs=3)
    except KeyboardInterrupt:
        # Still inside the handler: fit's frame is alive, yet train_end is on disk.
        got = kh.events(logdir)
        train_function = model.train_function
    assert [e.kind for e in got] == ["train_begin", "train_end"]
    end = got[1]
    assert end.data["reason"] == "interrupted" and end.data["exception"] == "KeyboardInterrupt"
    assert end.step == 7 and end.epoch == 1
    # The step function guard is gone again.
    assert type(train_function).__name__ != "_StepGuard"


class UnreadableValidation(keras.utils.PyDataset):
    def __len__(self):
        return 2

    def __getitem__(self, index):
        raise ValueError("validation shard unreadable")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("search_library", [None, "optuna"])
def test_error_outside_hooks_and_steps_ends_run_when_fit_is_gone(tmp_path, search_library):
    import gc

    if search_library is not None:
        # With a search library loaded, each fit looks for its trial in the
        # callers' frames: that look must not keep the failed fit alive.
        pytest.importorskip(search_library)
    logdir = str(tmp_path)
    x, y = kh.digits()
    model = kh.classifier()
    cbs = [callbacks.TensorBoard(logdir)]
    with pytest.raises(ValueError, match="unreadable") as caught:
        model.fit(
            x, y, batch_size=64, epochs=2, verbose=0, validation_data=UnreadableValidation(), callbacks=cbs
        )
    # The traceback keeps fit's frame (and its CallbackList) alive; once the
    # error is dropped, the list goes and the run gets its train_end.
    # train_begin is not durable on return: it reaches disk within flush_secs.
    if keras.backend.backend() == "tensorflow":
        # Elsewhere Keras re-raises with fit's frames filtered out of the
        # traceback, so the list may be collected (and the run ended) by any
        # garbage collection from here on.
        deadline = time.monotonic() + 10
        while kh.kinds(logdir) != ["train_begin"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert kh.kinds(logdir) == ["train_begin"]
    del caught
    gc.collect()
    got = kh.events(logdir)
    assert [e.kind for e in got] == ["train_begin", "train_end"]
    assert got[1].data["reason"] == "interrupted"
    assert (got[1].step, got[1].epoch) == (6, 0)


@pytest.mark.timeout(120)
def test_observers_removed_after_fit(tmp_path):
    model = kh.classifier()
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=1)
    lam = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: None)
    own_lambda = lam.__dict__["on_epoch_end"]
    kh.fit(model, [stopper, lam, callbacks.TensorBoard(str(tmp_path))], epochs=2)
    assert "on_epoch_end" not in stopper.__dict__ and "on_train_end" not in stopper.__dict__
    assert lam.__dict__["on_epoch_end"] is own_lambda
    variable = model.optimizer._learning_rate
    assert "assign" not in variable.__dict__
    assert type(model.train_function).__name__ != "_StepGuard"
    # A second fit of the same model and callbacks records a second run of events.
    kh.fit(model, [stopper, lam, callbacks.TensorBoard(str(tmp_path))], epochs=2)
    assert kh.kinds(str(tmp_path)).count("train_begin") == 2


# ---------------------------------------------------------------- users' own events


class Marker(callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            self.log_event("marker.test", "second epoch done", value=np.float32(1.5), seen=np.arange(3))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("position", ["first", "last"])
def test_log_event_recorded(tmp_path, position):
    logdir = str(tmp_path)
    tb = callbacks.TensorBoard(logdir)
    marker = Marker()
    kh.fit(kh.classifier(), [marker, tb] if position == "last" else [tb, marker], epochs=3)
    (event,) = kh.events(logdir, "marker.test")
    assert (event.step, event.epoch, event.source, event.message) == (
        2 * STEPS,
        1,
        "Marker",
        "second epoch done",
    )
    assert event.data == {"value": 1.5, "seen": [0, 1, 2]}
    assert marker.events == []


@pytest.mark.timeout(60)
def test_log_event_without_tensorboard_kept_without_warning(caplog):
    marker = Marker()
    caplog.set_level(logging.DEBUG, logger="tb_callbacks_plugin.callbacks")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kh.fit(kh.classifier(), [marker], epochs=3)
        marker.log_event("marker.again", "once more")
    assert [w for w in caught if "callbacks.TensorBoard" in str(w.message)] == []
    said = [r for r in caplog.records if "no callbacks.TensorBoard" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.DEBUG]  # once, at debug level
    assert [(e.kind, e.step, e.epoch) for e in marker.events] == [
        ("marker.test", 2 * STEPS, 1),
        ("marker.again", 15, 2),
    ]
    assert marker.events[0].data == {"value": 1.5, "seen": [0, 1, 2]}


def test_log_event_rejects_bad_input():
    marker = Marker()
    with pytest.raises(ValueError, match="kind"):
        marker.log_event("Not A Kind")
    with pytest.raises(ValueError, match="kind"):
        marker.log_event("x" * 65)
    with pytest.raises(TypeError, match="JSON"):
        marker.log_event("ok", data=object())
    assert marker.events == []


@pytest.mark.timeout(60)
def test_builtin_kinds_are_reserved_for_the_callbacks(tmp_path):
    # A user's "lr_change" would be counted as a learning-rate change by
    # `tb-callbacks summary`; the rate their callback sets is recorded anyway.
    class Pretender(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for kind in BUILTIN_KINDS:
                with pytest.raises(ValueError, match="built-in"):
                    self.log_event(kind, "not really")
            if epoch == 0:
                self.model.optimizer.learning_rate = 0.005
                self.log_event("my.lr_change", "set by hand")

    logdir = str(tmp_path)
    pretender = Pretender()
    kh.fit(kh.classifier(lr=0.01), [pretender, callbacks.TensorBoard(logdir)], epochs=2)
    got = [(e.kind, e.source) for e in kh.events(logdir) if e.kind not in ("train_begin", "train_end")]
    # The change is detected once the hook returns, after what the hook logged.
    assert got == [("my.lr_change", "Pretender"), ("lr_change", "Pretender")]
    assert [e.data["new"] for e in kh.events(logdir, "lr_change")] == [0.005]


def test_log_event_warns_once_when_the_message_is_cut(tmp_path):
    marker = Marker()
    long = "x" * (event_format.MAX_MESSAGE_BYTES + 1)
    with pytest.warns(UserWarning, match=f"longer than {event_format.MAX_MESSAGE_BYTES} bytes") as caught:
        marker.log_event("long.one", long)
        marker.log_event("long.two", long)
    assert len([w for w in caught if "was cut" in str(w.message)]) == 1
    assert all(len(e.message.encode()) <= event_format.MAX_MESSAGE_BYTES for e in marker.events)
    assert [e.message.endswith(event_format.TRUNCATION_MARK) for e in marker.events] == [True, True]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Marker().log_event("short", "x" * event_format.MAX_MESSAGE_BYTES)  # at the limit: kept whole
        Marker().log_event("wide", "é" * (event_format.MAX_MESSAGE_BYTES // 2))


# ---------------------------------------------------------------- multi-worker


@pytest.mark.timeout(60)
def test_non_chief_worker_writes_nothing(tmp_path, monkeypatch):
    cluster = {"worker": ["localhost:1", "localhost:2"]}
    monkeypatch.setenv(
        "TF_CONFIG", f'{{"cluster": {cluster!r}, "task": {{"type": "worker", "index": 1}}}}'.replace("'", '"')
    )
    logdir = tmp_path / "logs"
    kh.fit(
        kh.classifier(),
        [callbacks.TensorBoard(str(logdir), histogram_freq=1), callbacks.EarlyStopping()],
        epochs=2,
    )
    assert not logdir.exists()
    monkeypatch.setenv(
        "TF_CONFIG", f'{{"cluster": {cluster!r}, "task": {{"type": "worker", "index": 0}}}}'.replace("'", '"')
    )
    kh.fit(kh.classifier(), [callbacks.TensorBoard(str(logdir))], epochs=1)
    assert kh.kinds(str(logdir)) == ["train_begin", "train_end"]


def test_log_event_warns_once_when_the_data_is_cut(tmp_path):
    marker = Marker()
    big = {"blob": "y" * event_format.MAX_DATA_BYTES}
    with pytest.warns(UserWarning, match=f"larger than {event_format.MAX_DATA_BYTES} bytes") as caught:
        marker.log_event("big.one", "a", **big)
        marker.log_event("big.two", "b", **big)
    assert len([w for w in caught if "replaced by a preview" in str(w.message)]) == 1
    assert [set(e.data) for e in marker.events] == [{"_truncated", "_preview"}] * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Just under the limit as JSON (the key, quotes and braces count): kept whole.
        fits = {"blob": "z" * (event_format.MAX_DATA_BYTES - len('{"blob":""}'))}
        kept = Marker()
        kept.log_event("fits", "c", **fits)
        assert kept.events[0].data == fits


def test_histograms_are_of_the_weights_at_each_epoch_end(tmp_path):
    """The writer's thread makes the histograms later: of a copy taken at the epoch's end."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.util import tensor_util

    from tb_callbacks_plugin.eventfiles import records

    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        """After TensorBoard's hook: keeps the weights it saw, then moves them at once,
        before the writer's thread can have made their histogram."""

        def on_epoch_end(self, epoch, logs=None):
            kernel = self.model.layers[0].kernel
            snapshots.append(np.array(keras.ops.convert_to_numpy(kernel)))
            kernel.assign(kernel + 1.0)

    logdir = tmp_path / "logs"
    kh.fit(kh.classifier(), [callbacks.TensorBoard(str(logdir), histogram_freq=1), Snapshot()], epochs=3)
    by_step: dict[int, list[np.ndarray]] = {}
    for name in os.listdir(logdir / "train"):
        for record in records.iter_records((logdir / "train" / name).read_bytes()):
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                if value.tag.endswith("/histogram"):
                    by_step.setdefault(event.step, []).append(tensor_util.make_ndarray(value.tensor))
    assert sorted(by_step) == [0, 1, 2]
    for epoch, weights in enumerate(snapshots):
        # The first kernel (64 x 8) is the one histogram of its size (older
        # Kerases tag every kernel alike, "kernel/histogram").
        (buckets,) = [b for b in by_step[epoch] if b[:, 2].sum() == weights.size]
        assert buckets[0, 0] == pytest.approx(weights.min())
        assert buckets[-1, 1] == pytest.approx(weights.max())


EXIT_RACE_CHILD = r"""
import sys, threading, time
import numpy as np
import keras
from tb_callbacks_plugin import callbacks

class StopTrial(Exception):
    pass

at_report, released = threading.Event(), threading.Event()

class Report(keras.callbacks.Callback):
    # A search's report: it blocks until the driver answers, then ends the trial.
    def on_epoch_end(self, epoch, logs=None):
        at_report.set()
        released.wait()
        time.sleep(1.0)  # a loaded machine: the trial's thread resumes late
        raise StopTrial("the scheduler stopped this trial")

def train():
    x = np.random.rand(32, 4).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[Report(), callbacks.TensorBoard(sys.argv[1])])

threading.Thread(target=train, daemon=True).start()
at_report.wait()
released.set()  # and the main thread returns: the process exits as the trial ends
"""


@pytest.mark.timeout(180)
def test_a_fit_ending_in_another_thread_as_the_process_exits_writes_its_own_train_end(tmp_path):
    """Ray's cleanup of a stopped trial does not wait for the training thread it told to stop."""
    import subprocess
    import sys

    script = tmp_path / "child.py"
    script.write_text(EXIT_RACE_CHILD)
    logdir = tmp_path / "logs"
    done = subprocess.run(
        [sys.executable, str(script), str(logdir)], capture_output=True, text=True, timeout=150
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = kh.events(str(logdir))
    assert [e.kind for e in got] == ["train_begin", "train_end"]
    # The trial's own end, with its exception, not the exit hooks' bare "interrupted".
    assert got[1].data["reason"] == "interrupted" and got[1].data.get("exception") == "StopTrial"
    assert got[1].epoch == 0
