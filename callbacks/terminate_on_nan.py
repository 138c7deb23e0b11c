"""`TerminateOnNaN`: keras.callbacks.TerminateOnNaN that records where the loss went bad."""

from __future__ import annotations

from typing import Any

from . import _describe
from ._keras import keras, same_signature
from .callback import Callback


@same_signature
class TerminateOnNaN(Callback, keras.callbacks.TerminateOnNaN):
    """Stops training on a NaN or infinite loss, and says where.

    The same arguments and training behaviour as
    `keras.callbacks.TerminateOnNaN`. When it acts it records a
    `nan_terminated` event (data: `batch`, `loss`, `raise_error`, and
    `last_finite_batch`/`last_finite_loss`: the batch before it whose loss
    was finite, when this fit had one) at the step of the bad batch; the
    fit's `train_end` then has reason "nan", also with `raise_error=True`,
    where the error ends `fit` without `on_train_end`.

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

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._last_finite: tuple[int, Any, Any] | None = None
        super().on_train_begin(logs)

    def _last_finite_facts(self, session: Any) -> dict[str, Any]:
        """The last batch of this fit whose loss was finite, as `last_finite_*` data."""
        last = getattr(self, "_last_finite", None)
        if last is None or last[2] is not session:
            return {}
        batch, loss, _ = last
        return {"last_finite_batch": batch, "last_finite_loss": _describe.plain(loss)}

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        session = self._fit_session
        if loss is None or not _describe.is_bad_loss(loss):
            if loss is not None:
                self._last_finite = (batch, loss, session)
            return super().on_batch_end(batch, logs)
        epoch = session.current_epoch() if session is not None else None
        # tf-keras's and Keras < 3.x's TerminateOnNaN never raise.
        raise_error = bool(getattr(self, "raise_error", False))
        self._log(
            "nan_terminated",
            _describe.nan_terminated(loss, epoch, batch, raised=raise_error),
            step=session.step(batch) if session is not None else None,
            data={
                "batch": batch,
                "loss": _describe.plain(loss),
                "raise_error": raise_error,
                **self._last_finite_facts(session),
            },
        )
        try:
            super().on_batch_end(batch, logs)
        except RuntimeError as e:
            if session is not None:
                # fit ends here without on_train_end: close the run now.
                session.hook_failed(self, "on_batch_end", e, logs, batch)
            raise
