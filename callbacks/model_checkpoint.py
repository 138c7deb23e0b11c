"""`ModelCheckpoint`: keras.callbacks.ModelCheckpoint that records each file it writes."""

from __future__ import annotations

from typing import Any

from . import _checkpoints
from ._keras import keras, same_signature
from .callback import Callback


@same_signature
class ModelCheckpoint(Callback, keras.callbacks.ModelCheckpoint):
    """Saves the model or its weights, and records each save.

    The same arguments and training behaviour as
    `keras.callbacks.ModelCheckpoint`. Each file written is recorded as a
    `checkpoint_saved` event (data: `filepath`, `monitor`, `value`, `best`,
    `save_best_only`, `weights_only`; with `save_best_only` also
    `previous_best` (what the save beat), `mode`, `min_delta`; message like "val_loss improved from
    0.52 to 0.48: saved checkpoint ckpt/best.keras").

    Args:
      filepath: where to save, may hold `{epoch}`, `{batch}` and metric
        placeholders; ends in `.keras` (or `.weights.h5` with
        `save_weights_only=True`).
      monitor: metric deciding `save_best_only`.
      verbose: 1 to print a message at each save.
      save_best_only: save only when `monitor` improved.
      save_weights_only: save only the weights.
      mode: `"auto"`, `"min"` or `"max"`.
      save_freq: `"epoch"` or a number of batches.
      initial_value_threshold: value `monitor` must beat for the first save.

    Example:

    ```python
    model.fit(x, y, epochs=20, validation_split=0.2, callbacks=[
        callbacks.ModelCheckpoint("ckpt/best.keras", save_best_only=True),
        callbacks.TensorBoard("logs/run1"),
    ])
    ```
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq != "epoch":
            return super().on_epoch_end(epoch, logs)
        path = _checkpoints.checkpoint_path(self, epoch, None, logs)
        before, best = _checkpoints.file_state(path), self.best
        super().on_epoch_end(epoch, logs)
        self._report(path, before, best, logs, epoch=epoch)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            return super().on_train_batch_end(batch, logs)
        session = self._fit_session
        epoch = getattr(self, "_current_epoch", None)
        if epoch is None and session is not None:
            epoch = session.current_epoch()
        path = _checkpoints.checkpoint_path(self, epoch or 0, batch, logs)
        before, best = _checkpoints.file_state(path), self.best
        super().on_train_batch_end(batch, logs)
        self._report(path, before, best, logs, step=session.step(batch) if session is not None else None)

    def _report(
        self, path: str | None, before: Any, previous_best: Any, logs: dict | None, **where: Any
    ) -> None:
        after = _checkpoints.file_state(path)
        if path is None or after is None or after == before:
            return
        message, data = _checkpoints.saved_event(self, path, logs, previous_best)
        self._log("checkpoint_saved", message, **where, data=data)
