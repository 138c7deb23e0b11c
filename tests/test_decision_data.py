"""The drop-ins record what a drawing of their decision needs, and it matches Keras's own state.

Each fit monitors a metric that stalls on purpose: a callback placed first in
the list writes a scripted value into the epoch's logs (one logs dict runs
through the callbacks in order), so the epochs of each decision are known in
advance. A stock keras.callbacks twin in the same fit (or in a twin fit for
ReduceLROnPlateau, whose cut would otherwise apply twice) shows the drop-in
decides exactly as Keras does, and the events are compared with the
callback's own `wait`/`best`/`best_epoch` at the end of the fit.
"""

from __future__ import annotations

import math

import keras
import keras_helpers as kh
import pytest

from tb_callbacks_plugin import callbacks


class Scripted(keras.callbacks.Callback):
    """Puts `values[epoch]` into the epoch's logs as `name` (before the monitors read it)."""

    def __init__(self, name: str, values: list[float]) -> None:
        super().__init__()
        self.name, self.values = name, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.name] = self.values[epoch]


def _fit(cbs, logdir, epochs):
    kh.seed(3)
    model = kh.classifier(lr=0.01)
    history = kh.fit(model, [*cbs, callbacks.TensorBoard(logdir)], epochs=epochs)
    return model, history


def test_early_stopping_window_threshold_and_restore_match_keras(tmp_path):
    # best 0.6 at epoch 2; 0.595 and 0.59 do not beat 0.6 - 0.01; epoch 5 runs out patience 3.
    values = [1.0, 0.8, 0.6, 0.595, 0.59, 0.7, 0.5, 0.4]
    args = dict(monitor="val_stall", mode="min", min_delta=-0.01, patience=3, restore_best_weights=True)
    ours, theirs = callbacks.EarlyStopping(**args), keras.callbacks.EarlyStopping(**args)
    logdir = str(tmp_path / "logs")
    _, history = _fit([Scripted("val_stall", values), ours, theirs], logdir, epochs=len(values))
    assert len(history.history["loss"]) == 6
    (stop,) = [e for e in kh.events(logdir, "early_stop") if e.source == "EarlyStopping"]
    d = stop.data
    assert stop.epoch == 5 == theirs.stopped_epoch == ours.stopped_epoch
    keras_state = (theirs.wait, theirs.best, theirs.best_epoch)
    assert (d["wait"], d["best"], d["best_epoch"]) == keras_state == (3, 0.6, 2)
    assert (d["min_delta"], d["mode"], d["patience"], d["start_from_epoch"]) == (0.01, "min", 3, 0)
    assert (d["window_first_epoch"], d["window_last_epoch"]) == (3, 5)
    assert d["value"] == 0.7 and d["restore_best_weights"] is True and "baseline" not in d
    # Ours and the stock twin (detected by the TensorBoard sink) both put epoch 2 back.
    restored = kh.events(logdir, "weights_restored")
    assert [r.data["best_epoch"] for r in restored] == [theirs.best_epoch] * 2 == [2, 2]


def test_early_stopping_baseline_and_start_from_epoch(tmp_path):
    # Monitoring starts at epoch 2; nothing reaches the baseline 0.9, so improvements
    # never reset wait: the window is every monitored epoch, 2..4.
    values = [0.1, 0.2, 0.5, 0.6, 0.55, 0.58, 0.59]
    args = dict(monitor="stall_acc", mode="max", baseline=0.9, patience=2, start_from_epoch=2)
    ours, theirs = callbacks.EarlyStopping(**args), keras.callbacks.EarlyStopping(**args)
    logdir = str(tmp_path / "logs")
    _fit([Scripted("stall_acc", values), ours, theirs], logdir, epochs=len(values))
    (stop,) = kh.events(logdir, "early_stop")
    d = stop.data
    assert stop.epoch == theirs.stopped_epoch == 4
    keras_state = (theirs.wait, theirs.best, theirs.best_epoch)
    assert (d["wait"], d["best"], d["best_epoch"]) == keras_state == (3, 0.6, 3)
    assert (d["mode"], d["baseline"], d["start_from_epoch"], d["min_delta"]) == ("max", 0.9, 2, 0)
    assert (d["window_first_epoch"], d["window_last_epoch"]) == (2, 4)


def test_auto_mode_is_recorded_as_keras_resolved_it(tmp_path):
    # Real metrics with mode "auto": Keras resolves val_loss to min, val_accuracy to max.
    logdir = str(tmp_path / "logs")
    stopper = callbacks.EarlyStopping(monitor="val_loss", min_delta=100, patience=1)
    saver = callbacks.ModelCheckpoint(str(tmp_path / "b.keras"), monitor="val_accuracy", save_best_only=True)
    _fit([saver, stopper], logdir, epochs=5)
    (stop,) = kh.events(logdir, "early_stop")
    assert stop.data["mode"] == "min" and stop.data["min_delta"] == 100
    assert (stop.data["window_first_epoch"], stop.data["window_last_epoch"]) == (1, 1)
    saves = kh.events(logdir, "checkpoint_saved")
    # A ModelCheckpoint that is no MonitorCallback (Keras 3.0) has no min_delta: none is recorded.
    delta = 0 if hasattr(saver, "min_delta") else None
    assert saves and all(s.data["mode"] == "max" and s.data.get("min_delta") == delta for s in saves)
    assert saves[0].data["previous_best"] is None
    for before, after in zip(saves, saves[1:], strict=False):
        # Each save beat the one before it: what it beat is what the last save recorded.
        assert after.data["previous_best"] == before.data["value"] < after.data["value"]
    assert saves[-1].data["best"] == saver.best


def test_reduce_lr_windows_cooldown_and_min_lr_match_keras(tmp_path):
    # Improves until epoch 1 (0.9 beats 1.0 - 0.05), then stalls: cut at 3 (window 2..3),
    # cooldown 2 (epochs 4, 5; wait counts again at 5), cut at 6 (window 5..6) down to min_lr.
    values = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    args = dict(monitor="val_stall", mode="min", min_delta=0.05, patience=2, cooldown=2)
    args.update(factor=0.5, min_lr=0.004)
    rates = {}
    for name, cls in (("ours", callbacks.ReduceLROnPlateau), ("keras", keras.callbacks.ReduceLROnPlateau)):
        cb = cls(**args)
        logdir = str(tmp_path / name)
        _, history = _fit([Scripted("val_stall", values), cb], logdir, epochs=len(values))
        rates[name] = history.history["learning_rate"]
        if name == "ours":
            ours, cuts = cb, kh.events(logdir, "lr_change")
    assert rates["ours"] == pytest.approx(rates["keras"])
    assert [c.epoch for c in cuts] == [3, 6]
    first, second = (c.data for c in cuts)
    assert (first["window_first_epoch"], first["window_last_epoch"], first["wait"]) == (2, 3, 2)
    assert (second["window_first_epoch"], second["window_last_epoch"], second["wait"]) == (5, 6, 2)
    for d in (first, second):
        settings = (d["mode"], d["min_delta"], d["cooldown"], d["min_lr"], d["best"])
        assert settings == ("min", 0.05, 2, 0.004, 0.9)
    assert math.isclose(first["new"], 0.005, rel_tol=1e-6)
    assert math.isclose(second["new"], 0.004, rel_tol=1e-6)
    # Keras's own state at the end: epoch 7 is in the last cut's cooldown; best is what both events name.
    assert ours.best == second["best"] and (ours.wait, ours.cooldown_counter) == (0, 1)


def test_terminate_on_nan_records_the_last_finite_batch(tmp_path):
    seen = []
    watch = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append((b, logs["loss"])))
    logdir = str(tmp_path / "logs")
    kh.seed(0)
    cbs = [watch, callbacks.TerminateOnNaN(), callbacks.TensorBoard(logdir)]
    kh.fit(kh.diverging_regressor(), cbs, epochs=3)
    (nan,) = kh.events(logdir, "nan_terminated")
    finite = [(b, float(v)) for b, v in seen if math.isfinite(float(v))]
    assert finite, "the first batch is expected to be finite"
    assert nan.data["last_finite_batch"] == finite[-1][0]
    assert nan.data["last_finite_loss"] == pytest.approx(finite[-1][1])
