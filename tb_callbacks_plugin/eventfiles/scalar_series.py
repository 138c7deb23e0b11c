"""Metric series for drawing beside the events: which runs belong together,
and a series reduced to a bounded number of points as JSON-ready lists."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tb_callbacks_plugin import conventions
from tb_callbacks_plugin.eventfiles import downsample


def sibling_runs(run: str, all_runs: Iterable[str]) -> list[str]:
    """`run` and the runs of the same experiment (`conventions.experiment_of`), sorted.

    Example:

    ```python
    sibling_runs("a/train", ["a", "a/train", "a/validation", "b/train"])
    # ["a", "a/train", "a/validation"]
    ```
    """
    return sibling_groups([run], all_runs)[run]


def sibling_groups(runs: Iterable[str], all_runs: Iterable[str]) -> dict[str, list[str]]:
    """`sibling_runs` of each of `runs`, with `all_runs` grouped once (a
    logdir of thousands of runs would make one scan per run quadratic)."""
    groups = conventions.experiment_groups(set(all_runs))
    out = {}
    for run in runs:
        group = groups.get(conventions.experiment_of(run), [])
        out[run] = group if run in group else sorted([run, *group])
    return out


def x_axis(tag: str) -> str:
    """ "epoch" when the tag's record step counts epochs, else "step"."""
    return "epoch" if conventions.is_epoch_tag(tag) else "step"


def _nearest_epoch_steps(
    epochs: list[int], wall_times: list[float], records: Sequence[tuple[int, int, float]]
) -> list[int | None]:
    by_epoch: dict[int, list[tuple[float, int]]] = {}
    for epoch, step, wall_time in records:
        by_epoch.setdefault(epoch, []).append((wall_time, step))
    for recorded in by_epoch.values():
        recorded.sort()
    out: list[int | None] = []
    for epoch, wall_time in zip(epochs, wall_times, strict=True):
        ends = by_epoch.get(epoch)
        if not ends:
            out.append(None)
            continue
        i = bisect.bisect_left(ends, (wall_time, -math.inf))
        near = [ends[j] for j in (i - 1, i) if 0 <= j < len(ends)]
        out.append(min(near, key=lambda end: abs(end[0] - wall_time))[1])
    return out


def reduced_series(
    steps: np.ndarray,
    wall_times: np.ndarray,
    values: np.ndarray,
    *,
    max_points: int = downsample.DEFAULT_MAX_POINTS,
    epoch_records: Sequence[tuple[int, int, float]] | None = None,
) -> dict[str, Any]:
    """The JSON fields of a reduced series (without run and tag).

    Args:
      steps, wall_times, values: the points, as parallel arrays.
      max_points: most points to return; bucket minima and maxima are kept.
      epoch_records: (epoch, global step, wall time) epoch ends, or None:
        each point takes the step of its epoch's record nearest in time, so
        that with several fits in one directory (each numbering its epochs
        from 0) a point lands at its own fit's step.

    Returns:
      `{"total", "step", "wall_time", "value", "nonfinite", "global_step"}`
      where non-finite values are null in `value` and named
      (`conventions.nonfinite_name`) at the same index of `nonfinite`, which is
      null when every value is finite.
    """
    total = len(steps)
    if total > 1 and np.any(np.diff(steps) < 0):
        # Epochs restart with every fit into the same directory: those points
        # stay in the order they were written (one fit after the other).
        order = np.argsort(wall_times if epoch_records else steps, kind="stable")
        steps, wall_times, values = steps[order], wall_times[order], values[order]
    keep = downsample.minmax_indices(values, max_points)
    steps, wall_times, values = steps[keep], wall_times[keep], values[keep]
    value_list = values.tolist()
    nonfinite: list[str | None] | None = None
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        nonfinite = [None] * len(value_list)
        for i in bad.tolist():
            nonfinite[i] = conventions.nonfinite_name(value_list[i])
            value_list[i] = None
    step_list = steps.tolist()
    global_step = None
    if epoch_records:
        global_step = _nearest_epoch_steps(step_list, wall_times.tolist(), epoch_records)
    wall_list = [w if math.isfinite(w) else None for w in wall_times.tolist()]
    return {
        "total": total,
        "step": step_list,
        "wall_time": wall_list,
        "value": value_list,
        "nonfinite": nonfinite,
        "global_step": global_step,
    }
