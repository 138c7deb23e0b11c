"""What a monitoring callback decided with, for drawing its decision later.

An event says *that* EarlyStopping stopped; to draw *why*, a reader also needs
the comparison Keras made (mode, min_delta, baseline), when monitoring began
(start_from_epoch), and which epochs the patience window covered. Keras keeps
the first three on the callback, but in its own form: `min_delta` is stored
negated in "min" mode and "auto" is resolved only inside `monitor_op`. Here
they are read back as a person would state them.
"""

from __future__ import annotations

from typing import Any

from . import _describe

# Settings copied as they are when the callback has them (and they are set).
_SETTINGS = ("baseline", "start_from_epoch", "cooldown", "min_lr", "restore_best_weights")


def resolved_mode(callback: Any) -> str | None:
    """'min' or 'max' as Keras resolved the callback's mode, or None when not yet known.

    Keras 3 and tf-keras's EarlyStopping compare with a function named
    less/greater (`keras.ops` or numpy); tf-keras's ReduceLROnPlateau with a
    lambda, so its own rule for "auto" is applied there ("acc" in the name
    means max).
    """
    name = getattr(getattr(callback, "monitor_op", None), "__name__", "")
    if name in ("less", "greater"):
        return "min" if name == "less" else "max"
    mode = getattr(callback, "mode", None)
    if mode in ("min", "max"):
        return str(mode)
    monitor = getattr(callback, "monitor", None)
    if mode == "auto" and isinstance(monitor, str) and name == "<lambda>":
        return "max" if "acc" in monitor else "min"
    return None


def settings(callback: Any) -> dict[str, Any]:
    """min_delta (as given: never negative), resolved mode, and the other decision settings it has."""
    facts: dict[str, Any] = {}
    min_delta = _describe.plain(getattr(callback, "min_delta", None))
    if isinstance(min_delta, (int, float)) and not isinstance(min_delta, bool):
        facts["min_delta"] = abs(min_delta)
    mode = resolved_mode(callback)
    if mode is not None:
        facts["mode"] = mode
    for name in _SETTINGS:
        value = _describe.plain(getattr(callback, name, None))
        if value is not None:
            facts[name] = value
    return facts


class PatienceWindow:
    """The first epoch of the current run of epochs without improvement.

    Keras counts that run in `wait` (reset to 0 by an improvement or a cut)
    but not where it began; an epoch whose monitor was missing, or before
    `start_from_epoch`, leaves `wait` unchanged and so does not move it.
    """

    def __init__(self) -> None:
        self.first: int | None = None

    def update(self, wait_before: Any, wait_after: Any, epoch: int) -> None:
        if not isinstance(wait_after, int) or wait_after <= 0:
            self.first = None
        elif wait_before == 0 or self.first is None:
            self.first = epoch - wait_after + 1

    def span(self, epoch: int, waited: Any = None) -> dict[str, int]:
        """`window_first_epoch`/`window_last_epoch` of a decision taken at `epoch`."""
        first = self.first
        if isinstance(waited, int) and waited > 0 and (first is None or waited == 1):
            first = epoch - waited + 1
        if first is None:
            return {}
        return {"window_first_epoch": first, "window_last_epoch": epoch}


def window_of(callback: Any) -> PatienceWindow:
    """The callback's PatienceWindow, made on first use (the drop-ins keep Keras's __init__)."""
    window = getattr(callback, "_tbcb_window", None)
    if window is None:
        window = PatienceWindow()
        callback._tbcb_window = window
    return window
