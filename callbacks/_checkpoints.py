"""Seeing that a ModelCheckpoint wrote its file.

A save is recognised by its effect: the file the callback's `filepath`
pattern names for this epoch/batch changed (appeared, or its mtime, size or
inode moved) during the hook. Comparing before with after, rather than the
mtime with the clock, also holds on file systems with coarse timestamps.
This needs nothing private from ModelCheckpoint and works for a stock
instance as for the drop-in.
"""

from __future__ import annotations

import math
import os
from typing import Any

from . import _decision, _describe


def checkpoint_path(callback: Any, epoch: int, batch: int | None, logs: dict | None) -> str | None:
    """The path `callback` formats for `epoch`/`batch`, as ModelCheckpoint does."""
    logs = dict(logs or {})
    try:
        if batch is None or "batch" in logs:
            return callback.filepath.format(epoch=epoch + 1, **logs)
        return callback.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
    except (KeyError, IndexError, ValueError, AttributeError):
        return None


def file_state(path: str | None) -> tuple[int, int, int] | None:
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


# previous_best not seen: the detector only sees the file appear, after Keras updated `best`.
_UNSEEN: Any = object()


def saved_event(
    callback: Any, path: str, logs: dict | None, previous_best: Any = _UNSEEN
) -> tuple[str, dict[str, Any]]:
    """(message, data) of a checkpoint_saved event."""
    monitor = getattr(callback, "monitor", None)
    value = _describe.plain((logs or {}).get(monitor)) if monitor else None
    save_best_only = bool(getattr(callback, "save_best_only", False))
    data = {
        "filepath": path,
        "monitor": monitor,
        "value": value,
        "best": _describe.plain(getattr(callback, "best", None)),
        "save_best_only": save_best_only,
        "weights_only": bool(getattr(callback, "save_weights_only", False)),
    }
    seen = previous_best is not _UNSEEN
    if seen and isinstance(previous_best, float) and math.isinf(previous_best):
        previous_best = None  # Keras 3.0 starts `best` at +-inf, later Kerases at None: no save before
    if save_best_only:
        # What the save beat: the best before it (None on the first save), compared as Keras did.
        if seen:
            data["previous_best"] = _describe.plain(previous_best)
        data.update(_decision.settings(callback))
    previous = previous_best if seen else None
    message = _describe.checkpoint_saved(path, monitor, value, save_best_only, previous)
    return message, data
