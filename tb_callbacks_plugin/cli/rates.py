"""The learning rate as `plot` draws it: the rate each step actually trained with.

Keras's TensorBoard logs `epoch_learning_rate` of epoch e as the rate during
e when it runs before ReduceLROnPlateau in the callback list, and as the rate
after that epoch's end-of-epoch cut when it runs after it; the scalar's epoch
cannot be trusted (docs/architecture.md, "The learning-rate line"). The
`lr_change` events can: one at step s (optimizer iterations when it acted, at
an epoch's end or at the next epoch's begin alike) sets the rate from step
s + 1 on. The tab draws by the same rule (frontend/src/fits.ts,
`trainedRates`); the report is the tab's own bundle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RateChange:
    """One `lr_change`: its step, the rates (None when not a finite number), and its x on the plot."""

    step: float
    old: float | None
    new: float | None
    x: float


def rate_or_none(value: object) -> float | None:
    """An event's `old` or `new` as a rate, None when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def trained_rates(
    xs: Sequence[float], ys: Sequence[float], steps: Sequence[float], changes: Sequence[RateChange]
) -> tuple[list[float], list[float], list[bool]]:
    """The line through a fit's learning-rate points: `(xs, ys, real)`.

    At each recorded point the rate its last step trained with, from the
    changes when the fit has any (the recorded value when its step is NaN,
    unknown); between points, corners where the changes happened (at their
    `x`, kept between the two points). Without changes (a constant rate, a
    LearningRateSchedule's smooth decay) the points as recorded. `real`
    marks the recorded points.
    """
    ordered = sorted((c for c in changes if math.isfinite(c.step)), key=lambda c: c.step)
    if not ordered:
        return list(xs), list(ys), [True] * len(xs)
    out_x: list[float] = []
    out_y: list[float] = []
    real: list[bool] = []
    rate = ordered[0].old
    pending = iter(ordered)
    change = next(pending, None)
    for i, (x, y, step) in enumerate(zip(xs, ys, steps, strict=True)):
        if not math.isfinite(step):
            out_x.append(x)
            out_y.append(y)
            real.append(True)
            continue
        while change is not None and change.step < step:
            # Corners only between two drawn points: the line starts at the first.
            if i > 0 and out_x and change.new != rate:
                last = out_x[-1]
                at = min(max(change.x, last), x) if math.isfinite(change.x) else last
                if at != last or out_y[-1] != rate:
                    out_x.append(at)
                    out_y.append(math.nan if rate is None else rate)
                    real.append(False)
                out_x.append(at)
                out_y.append(math.nan if change.new is None else change.new)
                real.append(False)
            rate = change.new
            change = next(pending, None)
        out_x.append(x)
        out_y.append(y if rate is None else rate)
        real.append(True)
    return out_x, out_y, real
