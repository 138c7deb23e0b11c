"""Event data and one-line messages, shared by the drop-ins and the detector.

A drop-in (which knows exactly what it did) and the detector (which saw a
stock callback do it) describe the same action the same way.

Two numberings of epochs, each where its readers expect it:

- messages, read by people next to Keras's console, count epochs from 1 as
  the console does ("Epoch 15: early stopping" is "stopped at epoch 15");
- the `epoch` field and every epoch in `data` (`best_epoch`,
  `initial_epoch`, ...) are 0-based, like Keras's `epoch` arguments and
  TensorBoard's epoch axis (`epoch_*` scalars are written at step = epoch).

Batches are 0-based in both, as in Keras's console ("Batch 3: Invalid loss").
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from tb_callbacks_plugin import conventions

# Attributes of monitoring callbacks worth recording when they exist
# (EarlyStopping, ReduceLROnPlateau, and users' stoppers written like them).
_MONITOR_FACTS = (
    "monitor",
    "best",
    "best_epoch",
    "patience",
    "wait",
    "baseline",
    "stopped_epoch",
)


def num(value: Any) -> str:
    """A number for people: 4 significant digits, integers as they are."""
    if value is None:
        return "?"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{value:.4g}"


def plain(value: Any) -> Any:
    """`value` as a JSON-friendly scalar (numpy and backend scalars unwrapped), or None."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) == 0:
        try:
            # np.asarray: a tf.Tensor has no .item() (tf-keras passes them as logs).
            return plain(np.asarray(value).item())
        except (AttributeError, TypeError, ValueError):
            return None
    return None


def human_epoch(epoch: Any) -> str:
    """A 0-based epoch as Keras's console prints it (1-based)."""
    if isinstance(epoch, numbers.Integral) and not isinstance(epoch, bool):
        return str(conventions.console_epoch(int(epoch)))
    return num(epoch)


def epochs(count: Any) -> str:
    return f"{num(count)} epoch" if count == 1 else f"{num(count)} epochs"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_finite_number(value: Any) -> bool:
    value = plain(value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_bad_loss(value: Any) -> bool:
    """True for a NaN or infinite loss value."""
    value = plain(value)
    return isinstance(value, float) and not math.isfinite(value)


def monitor_facts(callback: Any) -> dict[str, Any]:
    """The monitor/best/patience/wait... attributes `callback` has, as plain values."""
    facts = {}
    for name in _MONITOR_FACTS:
        if not hasattr(callback, name):
            continue
        value = plain(getattr(callback, name, None))
        if value is not None:
            facts[name] = value
    return facts


def early_stop(facts: dict[str, Any], epoch: int | None, batch: int | None = None) -> str:
    monitor = facts.get("monitor")
    where = f"at epoch {human_epoch(epoch)}"
    if batch is not None:
        where = f"at batch {batch} of epoch {human_epoch(epoch)}"
    if monitor and "wait" in facts:
        best = ""
        if "best" in facts:
            best = f" (best {num(facts['best'])}"
            best += f" at epoch {human_epoch(facts['best_epoch'])})" if "best_epoch" in facts else ")"
        return f"{monitor} did not improve for {epochs(facts['wait'])}{best}: stopped {where}"
    return f"training stopped early {where}"


def nan_terminated(loss: Any, epoch: int | None, batch: int | None, raised: bool = False) -> str:
    where = f"epoch {human_epoch(epoch)}" if batch is None else f"batch {batch} of epoch {human_epoch(epoch)}"
    how = ": training terminated with an error" if raised else ": training terminated"
    return f"loss became {num(loss)} at {where}{how}"


def lr_change(old: Any, new: Any, why: str = "", optimizer: str | None = None) -> str:
    what = "learning rate" if not optimizer else f"learning rate of {optimizer}"
    return f"{why}{what} {num(old)} -> {num(new)}"


def plateau_reason(facts: dict[str, Any], waited: int | None = None) -> str:
    """Why a plateau callback cut the rate; `waited`: the epochs without improvement.

    Without `waited` (a stock callback, whose `wait` is reset by the cut) it
    is what made the cut due: at least one epoch, and `patience` of them.
    """
    monitor = facts.get("monitor")
    if not monitor:
        return ""
    wait = waited
    if wait is None:
        patience = facts.get("patience")
        wait = max(int(patience), 1) if isinstance(patience, (int, float)) else patience
    best = f" (best {num(facts['best'])})" if "best" in facts else ""
    return f"{monitor} did not improve for {epochs(wait)}{best}: "


def checkpoint_saved(
    filepath: str, monitor: str | None, value: Any, save_best_only: bool, previous: Any = None
) -> str:
    if save_best_only and monitor and value is not None:
        since = f" from {num(previous)}" if is_finite_number(previous) else ""
        return f"{monitor} improved{since} to {num(value)}: saved checkpoint {filepath}"
    return f"saved checkpoint {filepath}"


def weights_restored(best_epoch: Any, monitor: str | None = None, best: Any = None) -> str:
    tail = f" ({monitor} {num(best)})" if monitor and best is not None else ""
    if best_epoch is None:
        return f"restored earlier weights{tail}"
    return f"restored the weights from the end of epoch {human_epoch(best_epoch)}{tail}"


def backup_restored(initial_epoch: int, backup_dir: str | None = None) -> str:
    where = f" in {backup_dir}" if backup_dir else ""
    return f"resumed from the backup{where}: training continues at epoch {human_epoch(initial_epoch)}"


def train_begin(epoch_count: Any, steps: Any, initial_epoch: int) -> str:
    per = f" of {steps} steps" if steps else ""
    start = f", starting at epoch {human_epoch(initial_epoch)}" if initial_epoch else ""
    return f"training started: {epochs(epoch_count)}{per}{start}"


_REASON_TEXT = {
    "completed": "completed",
    "early_stop": "stopped early",
    "nan": "stopped on a NaN/Inf loss",
    "interrupted": "interrupted",
    "pruned": "pruned by the search",
    "stopped_by_scheduler": "stopped by the search's scheduler",
}


def train_end(reason: str, epoch: int | None, exception: BaseException | None = None) -> str:
    text = _REASON_TEXT.get(reason, reason)
    where = f" at epoch {human_epoch(epoch)}" if epoch is not None else ""
    if reason == "pruned" and exception is not None and str(exception):
        return f'training {text}{where} (the pruner: "{truncate(str(exception), 200)}")'
    if exception is not None and reason != "stopped_by_scheduler":  # Ray's stop is a SystemExit(0)
        return f"training {text}{where} by {type(exception).__name__}: {exception}"
    return f"training {text}{where}"
