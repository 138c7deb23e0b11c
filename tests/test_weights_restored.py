"""A user's own callback that puts its best weights back is seen: `weights_restored`.

The TF guide's EarlyStoppingAtMinLoss keeps `self.model.get_weights()` at its
best epoch and calls `self.model.set_weights(self.best_weights)` when it stops
(or in `on_train_end`). Real fits; the "best" epoch is decided by the test so
that the restored epoch is known.
"""

from __future__ import annotations

import keras
import keras_helpers as kh
import numpy as np
import pytest

from tb_callbacks_plugin import callbacks

BEST, PATIENCE, EPOCHS = 1, 2, 8


class StopAtBest(keras.callbacks.Callback):
    """Stops PATIENCE epochs after epoch BEST and restores that epoch's weights.

    `keep`: how it keeps them (`get_weights`, or copies of the variables);
    `restore_in`: the hook it restores in.
    """

    def __init__(self, keep: str = "get_weights", restore_in: str = "on_epoch_end") -> None:
        super().__init__()
        self.keep, self.restore_in = keep, restore_in
        self.kept_at: dict[int, list[np.ndarray]] = {}

    def on_train_begin(self, logs=None):
        self.wait, self.best_weights = 0, None

    def _weights(self):
        if self.keep == "get_weights":
            return self.model.get_weights()
        return [keras.ops.convert_to_numpy(v).copy() for v in self.model.weights]

    def on_epoch_end(self, epoch, logs=None):
        self.kept_at[epoch] = [w.copy() for w in self._weights()]
        if epoch <= BEST:
            self.wait, self.best_weights = 0, self._weights()
            return
        self.wait += 1
        if self.wait >= PATIENCE:
            self.model.stop_training = True
            if self.restore_in == "on_epoch_end":
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.restore_in == "on_train_end" and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("restore_in", ["on_epoch_end", "on_train_end"])
def test_users_own_restore_is_recorded_with_the_epoch_that_came_back(tmp_path, restore_in):
    logdir = str(tmp_path)
    stopper = StopAtBest(restore_in=restore_in)
    model = kh.classifier()
    kh.fit(model, [stopper, callbacks.TensorBoard(logdir)], epochs=EPOCHS)
    stopped = BEST + PATIENCE
    for now, then in zip(model.get_weights(), stopper.kept_at[BEST], strict=True):
        np.testing.assert_array_equal(now, then)  # the test's own premise
    acted = [e for e in kh.events(logdir) if e.kind not in ("train_begin", "train_end")]
    got = [(e.kind, e.epoch, e.source) for e in acted]
    assert got == [("early_stop", stopped, "StopAtBest"), ("weights_restored", stopped, "StopAtBest")]
    (restored,) = kh.events(logdir, "weights_restored")
    assert restored.data["best_epoch"] == BEST
    assert restored.data["hook"] == restore_in and restored.data["detected"] is True
    # Keras's console numbering in the message, 0-based in the field.
    assert restored.message == f"restored the weights from the end of epoch {BEST + 1}"
    assert kh.events(logdir, "train_end")[0].data["reason"] == "early_stop"


@pytest.mark.timeout(90)
def test_restore_of_weights_not_taken_with_get_weights_has_no_epoch_to_claim(tmp_path):
    logdir = str(tmp_path)
    kh.fit(kh.classifier(), [StopAtBest(keep="copies"), callbacks.TensorBoard(logdir)], epochs=EPOCHS)
    (restored,) = kh.events(logdir, "weights_restored")
    assert (restored.source, restored.data["best_epoch"]) == ("StopAtBest", None)
    assert restored.message == "restored earlier weights"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flavour", ["stock", "drop-in"])
def test_early_stopping_restore_recorded_once(tmp_path, flavour):
    logdir = str(tmp_path)
    lib = keras.callbacks if flavour == "stock" else callbacks
    stopper = lib.EarlyStopping(monitor="loss", min_delta=100, patience=2, restore_best_weights=True)
    kh.fit(kh.classifier(), [callbacks.TensorBoard(logdir), stopper], epochs=EPOCHS)
    (restored,) = kh.events(logdir, "weights_restored")
    assert (restored.source, restored.data["best_epoch"]) == ("EarlyStopping", stopper.best_epoch)
    assert ("detected" in restored.data) == (flavour == "stock")
    human = stopper.best_epoch + 1
    assert restored.message.startswith(f"restored the weights from the end of epoch {human} (")


@pytest.mark.timeout(60)
def test_set_weights_outside_a_fit_is_not_an_event(tmp_path):
    logdir = str(tmp_path)
    model = kh.classifier()
    kept = model.get_weights()
    kh.fit(model, [callbacks.TensorBoard(logdir)], epochs=1)
    model.set_weights(kept)
    assert kh.events(logdir, "weights_restored") == []
    assert "set_weights" not in model.__dict__  # the watch is gone with the fit
