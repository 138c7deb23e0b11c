"""`Callback`: a Keras callback that can put events on the TensorBoard timeline."""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

from tb_callbacks_plugin import event_format
from tb_callbacks_plugin.event_format import Event

from ._keras import LEGACY, keras
from ._model_state import read_step
from ._session import FitSession

logger = logging.getLogger(__name__)


class Callback(keras.callbacks.Callback):
    """A `keras.callbacks.Callback` with `log_event` for your own events.

    An event logged during `fit` is recorded by the `callbacks.TensorBoard` of
    the same fit (wherever it sits in the callback list) in the train run, at
    the current global step (optimizer iterations) and 0-based epoch, with
    this callback's class name as its source. With no `callbacks.TensorBoard`
    in the fit, events are kept in `self.events` (said once at debug level:
    like its `keras.callbacks` namesake, a callback without a writer is
    silent).

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

    if LEGACY:
        # Keras 3 keeps the model in `_model` (`model` syncs JAX state on
        # each read); tf-keras only has the plain attribute.
        _model = property(lambda self: self.model)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[Event] = []
        self._fit_session: FitSession | None = None
        self._warned_no_writer = False
        self._warned_cut = False
        self._warned_data_cut = False

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
          kind: event kind, matching `[a-z0-9_.-]{1,64}` (e.g. "warmup_done"),
            other than the built-in kinds (`lr_change`, `early_stop`, ...,
            `tb_callbacks_plugin.BUILTIN_KINDS`): those are recorded by the
            callbacks themselves, whatever callback acted (a rate your
            callback sets is recorded as an `lr_change` with your callback
            as its source), and `tb-callbacks summary` counts them as such.
          message: one sentence a person understands; at most 4 KiB of UTF-8
            (`tb_callbacks_plugin.event_format.MAX_MESSAGE_BYTES`). A longer
            one is cut and marked "…[truncated]", with a `UserWarning` the
            first time.
          step: global step; defaults to the optimizer's iterations now.
          epoch: 0-based epoch; defaults to the current epoch of the fit.
          wall_time: seconds since the epoch; defaults to now.
          **data: JSON-representable values (numbers, strings, lists, dicts;
            numpy scalars and arrays are converted), at most 64 KiB as JSON
            (`event_format.MAX_DATA_BYTES`); larger data is replaced by
            `{"_truncated": ..., "_preview": <its first 32 KiB>}`, with a
            `UserWarning` the first time.

        Raises:
          ValueError: `kind` is not a valid kind name, or is a built-in kind.
          TypeError: `data` holds something that is not JSON-representable.
        """
        if kind in event_format.BUILTIN_KINDS:
            raise ValueError(
                f"{kind!r} is a built-in event kind, recorded by the callbacks themselves "
                f"(what your callback does to the training is detected); name yours otherwise, "
                f"e.g. 'my.{kind}'"
            )
        self._log(kind, message, step=step, epoch=epoch, wall_time=wall_time, data=data)

    def _log(
        self,
        kind: str,
        message: str = "",
        *,
        step: int | None = None,
        epoch: int | None = None,
        wall_time: float | None = None,
        data: dict[str, Any],
    ) -> None:
        """`log_event` for any kind: the drop-ins record their built-in kinds with it."""
        if not self._warned_cut and _is_cut(message):
            self._warned_cut = True
            warnings.warn(
                f"{type(self).__name__}.log_event({kind!r}): the message is longer than "
                f"{event_format.MAX_MESSAGE_BYTES} bytes and was cut (further cuts are not reported)",
                UserWarning,
                stacklevel=3,
            )
        source = type(self).__name__
        # Validate now, so that a bad event fails where it is logged, with or
        # without a writer (and on every worker alike).
        encoded = event_format.make_event_json(
            kind, message, epoch=epoch, source=source, wall_time=wall_time, data=data
        )
        if not self._warned_data_cut and _data_is_cut(encoded):
            self._warned_data_cut = True
            warnings.warn(
                f"{type(self).__name__}.log_event({kind!r}): data is larger than "
                f"{event_format.MAX_DATA_BYTES} bytes as JSON and was replaced by a preview "
                f"(further cuts are not reported)",
                UserWarning,
                stacklevel=3,
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
            # Debug only: keras.callbacks.X says nothing here, and neither may a drop-in.
            self._warned_no_writer = True
            logger.debug(
                "%s logged a %r event, but there is no callbacks.TensorBoard in this fit: "
                "events are kept in memory in %s.events",
                source,
                kind,
                source,
            )


def _is_cut(message: Any) -> bool:
    limit = event_format.MAX_MESSAGE_BYTES
    # A UTF-8 character is at most 4 bytes: most messages need no encoding here.
    if not isinstance(message, str) or len(message) * 4 <= limit:
        return False
    return len(message.encode("utf-8", "surrogatepass")) > limit


def _data_is_cut(encoded: bytes) -> bool:
    # Only a record past half the data limit can hold a cut preview.
    if len(encoded) <= event_format.MAX_DATA_BYTES // 2:
        return False
    return "_truncated" in json.loads(encoded)["data"]
