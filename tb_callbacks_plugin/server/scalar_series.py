"""Metric series for drawing beside the events: which runs belong together,
and a series reduced to a bounded number of points as JSON-ready lists."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from tb_callbacks_plugin.server import downsample

# Keras's TensorBoard callback writes `epoch_*` tags at step = epoch and
# `batch_*` / `evaluation_*_vs_iterations` at the optimizer step.
EPOCH_TAG_PREFIX = "epoch_"


def parent(run: str) -> str:
    """The directory holding `run`, "" for a top-level run (and for ".")."""
    return run.rsplit("/", 1)[0] if "/" in run else ""


def sibling_runs(run: str, all_runs: Iterable[str]) -> list[str]:
    """`run` and the runs that belong to the same experiment, sorted.

    Siblings share `run`'s parent directory (`exp1/train` and
    `exp1/validation`). A top-level run also takes the runs below it, so
    `exp1` (events written to the experiment directory itself) groups with
    `exp1/train` and `exp1/validation`.

    Example:

    ```python
    sibling_runs("a/train", ["a/train", "a/validation", "b/train"])
    # ["a/train", "a/validation"]
    ```
    """
    return sibling_groups([run], all_runs)[run]


def sibling_groups(runs: Iterable[str], all_runs: Iterable[str]) -> dict[str, list[str]]:
    """`sibling_runs` of each of `runs`, with `all_runs` indexed once (a
    logdir of thousands of runs would make one scan per run quadratic)."""
    names = sorted(set(all_runs))
    by_parent: dict[str, list[str]] = {}
    for name in names:
        by_parent.setdefault(parent(name), []).append(name)
    out = {}
    for run in runs:
        group = {run, *by_parent.get(parent(run), ())}
        if "/" not in run:
            below = run + "/"
            # Names below `run` sort together, right after `below`.
            start = bisect.bisect_left(names, below)
            end = bisect.bisect_left(names, run + "0")  # "0" is the character after "/"
            group.update(names[start:end])
        out[run] = sorted(group)
    return out


def x_axis(tag: str) -> str:
    """ "epoch" when the tag's record step counts epochs, else "step"."""
    return "epoch" if tag.startswith(EPOCH_TAG_PREFIX) else "step"


def _nonfinite_name(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def reduced_series(
    steps: np.ndarray,
    wall_times: np.ndarray,
    values: np.ndarray,
    *,
    max_points: int = downsample.DEFAULT_MAX_POINTS,
    epoch_steps: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """The JSON fields of a reduced series (without run and tag).

    Args:
      steps, wall_times, values: the points, as parallel arrays.
      max_points: most points to return; bucket minima and maxima are kept.
      epoch_steps: epoch -> global step, to map an epoch-indexed series onto
        the step axis, or None.

    Returns:
      `{"total", "step", "wall_time", "value", "nonfinite", "global_step"}`
      where non-finite values are null in `value` and named ("NaN",
      "Infinity", "-Infinity") at the same index of `nonfinite`, which is
      null when every value is finite.
    """
    total = len(steps)
    if total > 1 and np.any(np.diff(steps) < 0):
        order = np.argsort(steps, kind="stable")
        steps, wall_times, values = steps[order], wall_times[order], values[order]
    keep = downsample.minmax_indices(values, max_points)
    steps, wall_times, values = steps[keep], wall_times[keep], values[keep]
    value_list = values.tolist()
    nonfinite = None
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        nonfinite = [None] * len(value_list)
        for i in bad.tolist():
            nonfinite[i] = _nonfinite_name(value_list[i])
            value_list[i] = None
    step_list = steps.tolist()
    global_step = None
    if epoch_steps:
        global_step = [epoch_steps.get(s) for s in step_list]
    wall_list = [w if math.isfinite(w) else None for w in wall_times.tolist()]
    return {
        "total": total,
        "step": step_list,
        "wall_time": wall_list,
        "value": value_list,
        "nonfinite": nonfinite,
        "global_step": global_step,
    }
