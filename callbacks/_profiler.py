"""`profile_batch` as keras.callbacks.TensorBoard understands it, on Keras's backend profiler."""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

from . import _keras

logger = logging.getLogger(__name__)


def parse_profile_batch(profile_batch: Any) -> tuple[int, int]:
    """`(start, stop)` batches to profile; `(0, 0)` disables profiling.

    Accepts what Keras accepts: a non-negative int, a pair of ints, or the
    legacy string "start,stop" / "start".
    """
    error = ValueError(
        "profile_batch must be a non-negative integer or 2-tuple of positive integers. "
        "A pair of positive integers signifies a range of batches to profile. "
        f"Found: {profile_batch}"
    )
    if isinstance(profile_batch, str):
        try:
            profile_batch = [int(part) for part in profile_batch.split(",")]
        except ValueError:
            raise error from None
        if len(profile_batch) == 1:
            profile_batch = profile_batch[0]
    if isinstance(profile_batch, int) and not isinstance(profile_batch, bool):
        start = stop = profile_batch
    elif isinstance(profile_batch, (tuple, list)) and len(profile_batch) == 2:
        start, stop = profile_batch
    else:
        raise error
    if start < 0 or stop < start:
        raise error
    return start, stop


def check_backend(profile_batch: Any) -> Any:
    """`profile_batch`, or 0 where the backend cannot profile (as Keras decides)."""
    if not profile_batch:
        return profile_batch
    name = _keras.backend_name()
    if name not in ("jax", "tensorflow"):
        raise ValueError(
            f"Profiling is not yet available with the {name} backend. "
            f"Received: profile_batch={profile_batch} (must be 0)"
        )
    if name == "jax" and sys.version_info < (3, 12):
        warnings.warn(f"Profiling with the {name} backend requires python >= 3.12.", stacklevel=3)
        return 0
    return profile_batch


class Profiler:
    """Starts and stops the backend profiler around a range of batches."""

    def __init__(self, start: int, stop: int) -> None:
        self.start_batch = start
        self.stop_batch = stop
        self.enabled = not (start == 0 and stop == 0)
        self.started = False
        self.tracing = False
        self._batch_context = None
        if start > 0:
            # Warm-up, as Keras does: the first session is slow to start.
            self._start("")
            self._stop(save=False)

    def _start(self, logdir: str) -> None:
        if self.started:
            return
        try:
            _keras.profiler().start_trace(logdir)
            self.started = True
        except Exception as e:  # noqa: BLE001 - profiler errors are not fatal
            logger.error("Failed to start profiler: %s", e)

    def _stop(self, save: bool = True) -> None:
        if not self.started:
            return
        try:
            _keras.profiler().stop_trace(save=save)
        except Exception as e:  # noqa: BLE001 - profiler errors are not fatal
            logger.error("Failed to stop profiler: %s", e)
        finally:
            self.started = False

    def batch_begin(self, global_batch: int, batch: int, logdir: str) -> None:
        if global_batch == self.start_batch:
            self._start(logdir)
            self.tracing = True
        start_batch_trace = getattr(_keras.profiler(), "start_batch_trace", None)  # Keras >= 3.1
        if self.started and start_batch_trace is not None:
            self._batch_context = start_batch_trace(batch)

    def batch_end(self, global_batch: int) -> None:
        if not self.tracing:
            return
        if self.started and self._batch_context is not None:
            _keras.profiler().stop_batch_trace(self._batch_context)
            self._batch_context = None
        if global_batch >= self.stop_batch:
            self.finish()

    def finish(self) -> None:
        if self.tracing:
            self._stop()
            self.tracing = False
