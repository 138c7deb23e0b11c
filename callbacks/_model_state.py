"""Reading the training state a callback can change: learning rates, step.

Everything here reads the model as given (not through `Callback.model`, which
on JAX forces a state sync on every access).
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np

from ._keras import LearningRateSchedule, to_numpy
from ._keras import Variable as _KerasVariable


def unwrap(optimizer: Any) -> Any:
    """The optimizer that owns the learning rate (LossScaleOptimizer unwrapped)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def optimizers(model: Any) -> list[tuple[str | None, Any]]:
    """`(name, optimizer)` pairs: one unnamed for a plain optimizer, one per
    part of a multi-optimizer (named as keras.callbacks.TensorBoard names them)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return []
    optimizer = unwrap(optimizer)
    parts = getattr(optimizer, "optimizers", None)
    if parts:
        return [(getattr(p, "name", str(i)), unwrap(p)) for i, p in enumerate(parts)]
    return [(None, optimizer)]


def lr_holder(optimizer: Any) -> Any:
    """What drives the rate: a Variable, a LearningRateSchedule, a callable or a number."""
    return getattr(optimizer, "_learning_rate", None)


def lr_variable(optimizer: Any) -> Any | None:
    holder = lr_holder(optimizer)
    return holder if isinstance(holder, _KerasVariable) else None


def is_scheduled(optimizer: Any) -> bool:
    """True when the rate moves by itself (a schedule or callable decides it)."""
    holder = lr_holder(optimizer)
    if isinstance(holder, LearningRateSchedule):
        return True
    return callable(holder) and not isinstance(holder, _KerasVariable)


def lr_value(optimizer: Any) -> float | None:
    """The rate as a float; a float32 rate as its shortest decimal (0.01, not 0.009999999776)."""
    try:
        value = to_numpy(optimizer.learning_rate)
    except Exception:  # noqa: BLE001 - an optimizer without a readable rate has none to report
        return None
    if getattr(value, "dtype", None) == np.float32:
        return float(str(np.float32(value)))
    return float(value)


def lr_state(model: Any) -> list[tuple[str | None, Any, float | None]]:
    """Per optimizer: (name, identity of what drives the rate, current value).

    A schedule's own decay changes the value but not the identity; anything
    else that changes the rate changes the value of a plain rate or replaces
    the schedule.
    """
    out = []
    for name, opt in optimizers(model):
        holder = lr_holder(opt)
        key = id(holder) if is_scheduled(opt) else None
        out.append((name, key, lr_value(opt)))
    return out


def lr_identity(model: Any) -> tuple:
    return tuple(id(lr_holder(opt)) for _, opt in optimizers(model))


@overload
def read_step(model: Any, default: int = 0) -> int: ...
@overload
def read_step(model: Any, default: None) -> int | None: ...
def read_step(model: Any, default: int | None = 0) -> int | None:
    """Optimizer iterations (the global training step), `default` when not readable."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return default
    try:
        return int(to_numpy(optimizer.iterations))
    except Exception:  # noqa: BLE001 - unbuilt, or (JAX, mid-epoch) its value lives in the trainer
        return default


def learning_rates(model: Any) -> dict[str, float]:
    """`learning_rate` / `learning_rate_<name>` values, as keras.callbacks.TensorBoard logs them."""
    out = {}
    for name, opt in optimizers(model):
        value = lr_value(opt)
        if value is not None:
            out["learning_rate" if name is None else f"learning_rate_{name}"] = value
    return out
