"""Which fit a record belongs to, when several fits wrote into one log_dir.

A second `model.fit` into the same log_dir continues the step count (same
model) or restarts it at 0 (a fresh model), and Keras numbers every fit's
epochs from its `initial_epoch`: neither steps nor epochs tell the fits
apart. Fits are numbered by their `train_begin` events' wall times
(`fit_starts`), and a record belongs to a fit by the file it is in
(`FitRule`): each fit writes its own file (a writer per fit), so a file
holding a `train_begin` is that fit's, whatever the clock says; two
processes fitting into one log_dir at once interleave in time but never in
a file. A file without one (a validation run's, another tool's) belongs to
the last fit begun by then by the same process (host and pid, from the
file's name), else by anyone. Where no file is known (`fit_of`, the
TensorBoard data provider's points) a record belongs to the last fit begun
when it was written.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# events.out.tfevents.<time>.<host>.<pid>.<n>[suffix]: our writer's names
# and TensorBoard's (whose <n> is a counter or a uid).
_WRITER_NAME = re.compile(r"tfevents\.\d+\.(?P<process>.+?\.\d+)\.\d+")


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


def split_points(
    points: Iterable[tuple[int, float, float]],
    starts: Sequence[float],
    *,
    files: Sequence[str] | None = None,
    rule: FitRule | None = None,
) -> list[FitSeries]:
    """(step, wall_time, value) points grouped by fit; only fits with points, in fit order.

    With `files` (the event file of each point) and `rule`, a point's fit is
    its file's (`FitRule`); else the last fit begun when it was written.
    """
    listed = list(points)
    by_fit: dict[int, dict[int, float]] = {}
    for (step, _, value), fit in zip(listed, _fits(listed, 1, starts, files, rule), strict=True):
        by_fit.setdefault(fit, {})[step] = value
    out = []
    for fit in sorted(by_fit):
        by_step = by_fit[fit]
        steps = sorted(by_step)
        out.append(FitSeries(fit=fit, steps=steps, values=[by_step[s] for s in steps]))
    return out


def split_epoch_steps(
    records: Iterable[tuple[int, int, float]],
    starts: Sequence[float],
    *,
    files: Sequence[str] | None = None,
    rule: FitRule | None = None,
) -> dict[int, dict[int, int]]:
    """(epoch, step, wall_time) epoch-end records as fit -> {epoch: global step}.

    `files` and `rule` as for `split_points`.
    """
    listed = list(records)
    paired = zip(listed, _fits(listed, 2, starts, files, rule), strict=True)
    out: dict[int, dict[int, int]] = {}
    for (epoch, step, _), fit in sorted(paired, key=lambda pair: pair[0][2]):
        out.setdefault(fit, {})[epoch] = step
    return out


def _fits(
    rows: Sequence[tuple[Any, ...]],
    wall_column: int,
    starts: Sequence[float],
    files: Sequence[str] | None,
    rule: FitRule | None,
) -> list[int]:
    """The fit of each row: by its file when `files` and `rule` are given, else by its time."""
    if files is not None and rule is not None:
        return [rule.fit(path, row[wall_column]) for row, path in zip(rows, files, strict=True)]
    return [fit_of(row[wall_column], starts) for row in rows]


def writer_process(path: str) -> str | None:
    """`host.pid` of the process that wrote an event file, from its name; None when the name lacks it."""
    match = _WRITER_NAME.search(os.path.basename(path))
    return match.group("process") if match else None


class FitRule:
    """The fit of a record from the file it is in (see the module's docstring).

    Args:
      begins: `(event file, wall time)` of each `train_begin` event.
    """

    def __init__(self, begins: Iterable[tuple[str, float]]) -> None:
        begins = list(begins)
        self.starts = sorted({wall_time for _, wall_time in begins})
        self._index = {start: i for i, start in enumerate(self.starts)}
        self._by_file: dict[str, list[float]] = {}
        self._by_process: dict[str | None, list[float]] = {}
        for path, wall_time in begins:
            self._by_file.setdefault(path, []).append(wall_time)
            self._by_process.setdefault(writer_process(path), []).append(wall_time)
        self._by_process.pop(None, None)
        for begun in (*self._by_file.values(), *self._by_process.values()):
            begun[:] = sorted(set(begun))

    def fit(self, path: str, wall_time: float) -> int:
        """The 0-based fit of a record written at `wall_time` into the file `path`."""
        own = self._by_file.get(path) or self._by_process.get(writer_process(path))
        if not own:
            return fit_of(wall_time, self.starts)
        return self._index[own[max(0, bisect.bisect_right(own, wall_time) - 1)]]


def file_fits(files: Sequence[tuple[str, Sequence[Any]]]) -> list[list[int]]:
    """The fit of each record of each `(path, records)` file of one run dir.

    Records have `.kind` and `.wall_time` (`Event`s); see `FitRule`.
    """
    rule = FitRule((path, r.wall_time) for path, recs in files for r in recs if r.kind == "train_begin")
    return [[rule.fit(path, r.wall_time) for r in recs] for path, recs in files]


def experiment_fits(events: Sequence[Any], starts: Sequence[float]) -> list[int]:
    """Each event's fit among `starts` (its experiment's: every run's `fit_starts`), from the
    `fit` the reader gave it within its run (`FitRule`, by file) rather than from its time."""
    by_run: dict[Any, list[Any]] = {}
    for event in events:
        by_run.setdefault(event.run, []).append(event)
    run_starts = {run: fit_starts(run_events) for run, run_events in by_run.items()}
    index = {start: i for i, start in enumerate(starts)}
    out = []
    for event in events:
        own = run_starts[event.run]
        begun = own[event.fit] if event.fit < len(own) else None
        out.append(index[begun] if begun in index else fit_of(event.wall_time, starts))
    return out
