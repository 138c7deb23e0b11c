"""`TerminateOnNaN`: keras.callbacks.TerminateOnNaN that records where the loss went bad."""

from __future__ import annotations

from . import _describe
from ._keras import keras, same_signature
from .callback import Callback


@same_signature
class TerminateOnNaN(Callback, keras.callbacks.TerminateOnNaN):
    """Stops training on a NaN or infinite loss, and says where.

    The same arguments and training behaviour as
    `keras.callbacks.TerminateOnNaN`. When it acts it records a
    `nan_terminated` event (data: `batch`, `loss`, `raise_error`) at the step
    of the bad batch; the fit's `train_end` then has reason "nan", also with
    `raise_error=True`, where the error ends `fit` without `on_train_end`.

    Args:
      raise_error: raise a `RuntimeError` at once instead of setting
        `model.stop_training` (which lets the epoch finish its hooks).

    Example:

    ```python
    model.fit(x, y, epochs=10, callbacks=[
        callbacks.TerminateOnNaN(),
        callbacks.TensorBoard("logs/run1"),
    ])
    ```
    """

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or not _describe.is_bad_loss(loss):
            return super().on_batch_end(batch, logs)
        session = self._fit_session
        epoch = session.current_epoch() if session is not None else None
        # tf-keras's and Keras < 3.x's TerminateOnNaN never raise.
        raise_error = bool(getattr(self, "raise_error", False))
        self._log(
            "nan_terminated",
            _describe.nan_terminated(loss, epoch, batch, raised=raise_error),
            step=session.step(batch) if session is not None else None,
            data={"batch": batch, "loss": _describe.plain(loss), "raise_error": raise_error},
        )
        try:
            super().on_batch_end(batch, logs)
        except RuntimeError as e:
            if session is not None:
                # fit ends here without on_train_end: close the run now.
                session.hook_failed(self, "on_batch_end", e, logs, batch)
            raise
