"""`EarlyStopping`: keras.callbacks.EarlyStopping that records why and when it stopped."""

from __future__ import annotations

from . import _decision, _describe
from ._keras import keras, same_signature
from .callback import Callback


@same_signature
class EarlyStopping(Callback, keras.callbacks.EarlyStopping):
    """Stops training when a monitored metric stops improving, and says so.

    The same arguments and training behaviour as
    `keras.callbacks.EarlyStopping`. In addition it records an `early_stop`
    event when it ends training before the last epoch (data: `monitor`,
    `best`, `best_epoch`, `patience`, `wait`, `value`, `min_delta`, `mode`
    (as Keras resolved "auto"), `baseline`, `start_from_epoch`,
    `restore_best_weights`, `window_first_epoch`/`window_last_epoch` (the
    epochs without improvement that ran out the patience); message like "val_loss did
    not improve for 3 epochs (best 0.412 at epoch 7): stopped at epoch 10"),
    and a `weights_restored` event when it puts the best weights back.
    Messages count epochs from 1, as Keras's console does next to them
    ("Epoch 10: early stopping"); the `epoch` field and `best_epoch` are
    0-based (here 9 and 6), as TensorBoard's epoch axis.

    Args:
      monitor: quantity to monitor, e.g. `"val_loss"`.
      min_delta: smallest change that counts as an improvement.
      patience: epochs without improvement after which training stops.
      verbose: 1 to print a message when stopping.
      mode: `"auto"`, `"min"` or `"max"`.
      baseline: value the monitored quantity must reach.
      restore_best_weights: whether to restore the weights of the best epoch.
      start_from_epoch: epochs to wait before starting to monitor.

    Example:

    ```python
    model.fit(x, y, epochs=100, validation_split=0.2, callbacks=[
        callbacks.EarlyStopping(patience=3, restore_best_weights=True),
        callbacks.TensorBoard("logs/run1"),
    ])
    ```
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        wait_before = self.wait
        super().on_epoch_end(epoch, logs)
        window = _decision.window_of(self)
        window.update(wait_before, self.wait, epoch)
        if self.stopped_epoch != epoch or epoch == 0 or not self.model.stop_training:
            return
        epochs = (self.params or {}).get("epochs")
        if epochs is not None and epoch >= epochs - 1:
            return  # stopping after the last epoch cuts nothing short
        facts = _describe.monitor_facts(self)
        facts["value"] = _describe.plain((logs or {}).get(self.monitor))
        facts.update(_decision.settings(self))
        facts.update(window.span(epoch, self.wait))
        self._log("early_stop", _describe.early_stop(facts, epoch), epoch=epoch, data=facts)

    def on_train_end(self, logs: dict | None = None) -> None:
        restoring = self.restore_best_weights and self.best_weights is not None
        super().on_train_end(logs)
        if restoring:
            best = _describe.plain(self.best)
            self._log(
                "weights_restored",
                _describe.weights_restored(self.best_epoch, self.monitor, best),
                data={"best_epoch": self.best_epoch, "monitor": self.monitor, "best": best},
            )
