"""Which fit a record belongs to, when several fits wrote into one log_dir.

A second `model.fit` into the same log_dir continues the step count (same
model) or restarts it at 0 (a fresh model), and Keras numbers every fit's
epochs from its `initial_epoch`: neither steps nor epochs tell the fits
apart. Each fit's `train_begin` event does, by its wall time: a record
belongs to the last fit that had begun when it was written.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def fit_starts(events: Iterable) -> list[float]:
    """Wall times of the `train_begin` events among `events`, ascending.

    A fit's train_begin seen twice (in two runs of an experiment) is one
    start; fits of a small model can begin within a second of each other, so
    only the same time counts as the same fit.
    """
    return sorted({e.wall_time for e in events if e.kind == "train_begin"})


def fit_of(wall_time: float, starts: Sequence[float]) -> int:
    """The 0-based fit a moment belongs to: the last one begun by then (0 before the first)."""
    return max(0, bisect.bisect_right(starts, wall_time) - 1)


@dataclass
class FitSeries:
    """The points of one tag that one fit wrote, sorted by step (a repeated step keeps the last)."""

    fit: int
    steps: list[int]
    values: list[float]


def split_points(points: Iterable[tuple[int, float, float]], starts: Sequence[float]) -> list[FitSeries]:
    """(step, wall_time, value) points grouped by fit; only fits with points, in fit order."""
    by_fit: dict[int, dict[int, float]] = {}
    for step, wall_time, value in points:
        by_fit.setdefault(fit_of(wall_time, starts), {})[step] = value
    out = []
    for fit in sorted(by_fit):
        by_step = by_fit[fit]
        steps = sorted(by_step)
        out.append(FitSeries(fit=fit, steps=steps, values=[by_step[s] for s in steps]))
    return out


def split_epoch_steps(
    records: Iterable[tuple[int, int, float]], starts: Sequence[float]
) -> dict[int, dict[int, int]]:
    """(epoch, step, wall_time) epoch-end records as fit -> {epoch: global step}."""
    out: dict[int, dict[int, int]] = {}
    for epoch, step, wall_time in sorted(records, key=lambda r: r[2]):
        out.setdefault(fit_of(wall_time, starts), {})[epoch] = step
    return out
