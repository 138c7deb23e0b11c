"""`Callback`: a Keras callback that can put events on the TensorBoard timeline."""

from __future__ import annotations

import json
import warnings
from typing import Any

import keras

from callbacks._model_state import read_step
from callbacks._session import FitSession
from tb_callbacks_plugin import event_format
from tb_callbacks_plugin.event_format import Event


class Callback(keras.callbacks.Callback):
    """A `keras.callbacks.Callback` with `log_event` for your own events.

    An event logged during `fit` is recorded by the `callbacks.TensorBoard` of
    the same fit (wherever it sits in the callback list) in the train run, at
    the current global step (optimizer iterations) and 0-based epoch, with
    this callback's class name as its source. With no `callbacks.TensorBoard`
    in the fit, events are kept in `self.events` and one warning says so.

    Subclass it exactly like `keras.callbacks.Callback`; nothing else changes.

    Example:

    ```python
    class WarmupDone(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.log_event("warmup_done", "warm-up finished",
                               val_loss=logs["val_loss"])

    model.fit(x, y, epochs=10, validation_split=0.2,
              callbacks=[WarmupDone(), callbacks.TensorBoard("logs/run1")])
    ```
    """

    # Read by the session's detectors (see `_detectors.REPORTS_OWN_EVENTS`):
    # the drop-ins report their own actions, so no detector watches them.
    _reports_own_events = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[Event] = []
        self._fit_session: FitSession | None = None
        self._warned_no_writer = False

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        self._fit_session = FitSession.attach(self, model)

    def log_event(
        self,
        kind: str,
        message: str = "",
        *,
        step: int | None = None,
        epoch: int | None = None,
        wall_time: float | None = None,
        **data: Any,
    ) -> None:
        """Records an event of `kind` with a one-line `message` and JSON `data`.

        Args:
          kind: event kind, matching `[a-z0-9_.-]{1,64}` (e.g. "warmup_done").
          message: one sentence a person understands.
          step: global step; defaults to the optimizer's iterations now.
          epoch: 0-based epoch; defaults to the current epoch of the fit.
          wall_time: seconds since the epoch; defaults to now.
          **data: JSON-representable values (numbers, strings, lists, dicts;
            numpy scalars and arrays are converted).

        Raises:
          ValueError: `kind` is not a valid kind name.
          TypeError: `data` holds something that is not JSON-representable.
        """
        source = type(self).__name__
        # Validate now, so that a bad event fails where it is logged, with or
        # without a writer (and on every worker alike).
        encoded = event_format.make_event_json(
            kind, message, epoch=epoch, source=source, wall_time=wall_time, data=data
        )
        session = self._fit_session
        if session is not None and session.record(
            kind, message, source=source, data=data, step=step, epoch=epoch, wall_time=wall_time
        ):
            return
        if step is None:
            step = session.step() if session is not None else read_step(self._model) if self._model else 0
        if epoch is None and session is not None:
            epoch = session.epoch
        item = json.loads(encoded)
        item["epoch"] = epoch
        self.events.append(event_format.event_from_dict(None, step, item))
        if not self._warned_no_writer:
            self._warned_no_writer = True
            warnings.warn(
                f"{source} logged a {kind!r} event, but there is no callbacks.TensorBoard in this fit: "
                f"events are kept in memory in {source}.events",
                UserWarning,
                stacklevel=2,
            )
