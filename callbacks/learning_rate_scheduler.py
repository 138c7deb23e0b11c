"""`LearningRateScheduler`: keras.callbacks.LearningRateScheduler that records each change."""

from __future__ import annotations

from typing import Any

from . import _describe, _model_state
from ._keras import keras, same_signature
from .callback import Callback


@same_signature
class LearningRateScheduler(Callback, keras.callbacks.LearningRateScheduler):
    """Sets the learning rate from a schedule at each epoch start, and says so.

    The same arguments and training behaviour as
    `keras.callbacks.LearningRateScheduler`. Each epoch where the schedule
    changes the rate is recorded as an `lr_change` event (data: `old`,
    `new`, `schedule`); epochs where the rate stays the same record nothing.

    Args:
      schedule: function `(epoch, lr) -> new_lr` (or `(epoch) -> new_lr`),
        epoch 0-based, returning a float.
      verbose: 1 to print a message at each update.

    Example:

    ```python
    def halve_every_5(epoch, lr):
        return lr * 0.5 if epoch and epoch % 5 == 0 else lr

    model.fit(x, y, epochs=20, callbacks=[
        callbacks.LearningRateScheduler(halve_every_5),
        callbacks.TensorBoard("logs/run1"),
    ])
    ```
    """

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        before = [(name, _model_state.lr_value(opt)) for name, opt in _model_state.optimizers(self.model)]
        super().on_epoch_begin(epoch, logs)
        after = [_model_state.lr_value(opt) for _, opt in _model_state.optimizers(self.model)]
        schedule = getattr(self.schedule, "__name__", type(self.schedule).__name__)
        for (name, old), new in zip(before, after, strict=True):
            if old == new:
                continue
            data: dict[str, Any] = {"old": old, "new": new, "schedule": schedule}
            if name is not None:
                data["optimizer"] = name
            why = f"{schedule} at the start of epoch {_describe.human_epoch(epoch)}: "
            self._log("lr_change", _describe.lr_change(old, new, why, name), epoch=epoch, data=data)
