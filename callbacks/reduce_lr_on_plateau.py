"""`ReduceLROnPlateau`: keras.callbacks.ReduceLROnPlateau that records each reduction."""

from __future__ import annotations

from . import _decision, _describe, _model_state
from ._keras import keras, same_signature
from .callback import Callback


@same_signature
class ReduceLROnPlateau(Callback, keras.callbacks.ReduceLROnPlateau):
    """Reduces the learning rate when a metric has stopped improving, and says so.

    The same arguments and training behaviour as
    `keras.callbacks.ReduceLROnPlateau`. Each reduction is recorded as an
    `lr_change` event (data: `old`, `new`, `monitor`, `value`, `best`,
    `patience`, `wait` (the epochs it waited: at least 1, also with
    `patience=0`), `factor`, `min_delta`, `mode` (as Keras resolved
    "auto"), `cooldown`, `min_lr`, `window_first_epoch`/`window_last_epoch`
    (the epochs without improvement before the cut); message like "val_loss did not improve for 2
    epochs (best 0.31): learning rate 0.001 -> 0.0001").

    Args:
      monitor: quantity to monitor, e.g. `"val_loss"`.
      factor: factor by which the rate is reduced: `new_lr = lr * factor`.
      patience: epochs without improvement after which the rate is reduced.
      verbose: 1 to print a message at each reduction.
      mode: `"auto"`, `"min"` or `"max"`.
      min_delta: smallest change that counts as an improvement.
      cooldown: epochs to wait after a reduction before resuming normal work.
      min_lr: lower bound on the learning rate.
      **kwargs: passed on to `keras.callbacks.ReduceLROnPlateau`.

    Example:

    ```python
    model.fit(x, y, epochs=50, validation_split=0.2, callbacks=[
        callbacks.ReduceLROnPlateau(factor=0.5, patience=2),
        callbacks.TensorBoard("logs/run1"),
    ])
    ```
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        before = [(name, _model_state.lr_value(opt)) for name, opt in _model_state.optimizers(self.model)]
        wait_before = self.wait
        waited = wait_before + 1
        super().on_epoch_end(epoch, logs)
        window = _decision.window_of(self)
        span = window.span(epoch, waited)
        window.update(wait_before, self.wait, epoch)
        after = [_model_state.lr_value(opt) for _, opt in _model_state.optimizers(self.model)]
        value = _describe.plain((logs or {}).get(self.monitor))
        for (name, old), new in zip(before, after, strict=True):
            if old == new:
                continue
            best = _describe.plain(self.best)
            why = _describe.plateau_reason({"monitor": self.monitor, "best": best}, waited)
            data = {
                "old": old,
                "new": new,
                "monitor": self.monitor,
                "value": value,
                "best": best,
                "patience": self.patience,
                "wait": waited,
                "factor": self.factor,
                **_decision.settings(self),
                **span,
            }
            if name is not None:
                data["optimizer"] = name
            self._log("lr_change", _describe.lr_change(old, new, why, name), epoch=epoch, data=data)
