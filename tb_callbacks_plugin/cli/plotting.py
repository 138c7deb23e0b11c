"""A matplotlib figure of metric curves with callback events marked on them.

One row per experiment (see `conventions.experiment_of`), one column per metric.
Each panel draws the metric of every run of the experiment (train solid,
validation dashed, in one colour no kind has) and a marker and vertical line
at every event in the tab's colour of its kind (`kind_styles`); routine kinds
(checkpoints, anything that happens every epoch) get a short tick instead of
a line, as in the tab. One legend holds every kind drawn. The x axis is the training step when
`callbacks.TensorBoard` recorded where epochs ended (epoch-indexed metrics are
moved to those steps, so they line up with events); otherwise epoch-indexed
metrics are drawn by epoch and events at their epoch.

Several fits into one log_dir are drawn apart: each fit's points are placed
with that fit's own epoch ends and drawn as their own line ("train · fit 1"),
never joined to another fit's; a point is its event file's fit (one writer's
file), so two processes fitting into one log_dir at once stay apart. A learning rate is drawn as the rate each
step trained with (`rates.trained_rates`), changing at its `lr_change` events.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tb_callbacks_plugin import conventions
from tb_callbacks_plugin.cli import kind_styles, rates
from tb_callbacks_plugin.cli.experiments import file_rule, group_by_experiment, matching_files
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.eventfiles import fits
from tb_callbacks_plugin.eventfiles.scalar_reader import RunMetrics

if TYPE_CHECKING:
    from matplotlib.axes import Axes  # the `plot` extra

MAX_ROWS = 24
_LINE_STYLES = {conventions.TRAIN_RUN: "-", conventions.VALIDATION_RUN: "--"}
_TICK = 0.06  # a routine kind's line: this much of the panel's height


def _import_pyplot() -> Any:  # matplotlib.pyplot, imported only when plotting
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("plotting needs matplotlib: pip install 'tb-callbacks-plugin[plot]'") from e
    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    return plt


def default_metrics(metrics: Mapping[str, RunMetrics]) -> list[str]:
    """epoch_loss and the learning rate when logged, else the first two tags."""
    tags = sorted({tag for m in metrics.values() for tag in m.scalars})
    chosen = [tag for tag in map(conventions.epoch_tag, ("loss", "learning_rate")) if tag in tags]
    return chosen or tags[:2]


def _x_of_points(tag: str, steps: list[int], epoch_steps: dict[int, int], by_step: bool) -> list[float]:
    return _steps_of_points(tag, steps, epoch_steps) if by_step else [float(s) for s in steps]


def _steps_of_points(tag: str, steps: list[int], epoch_steps: dict[int, int]) -> list[float]:
    """Each point's global step (an epoch-indexed one's: where its epoch ended; NaN when unknown)."""
    if conventions.is_epoch_tag(tag):
        return [float(epoch_steps.get(s, math.nan)) for s in steps]
    return [float(s) for s in steps]


def _or_nan(x: float | None) -> float:
    return math.nan if x is None else x


def is_learning_rate(tag: str) -> bool:
    return "learning_rate" in tag or tag == "lr" or tag.endswith("/lr")


def _fit_shade(fit: int, count: int) -> tuple[float, float, float, float]:
    """The lines' colour, earlier fits of several lighter (as the tab shades them)."""
    from matplotlib.colors import to_rgba

    alpha = 1.0 if count < 2 else 0.35 + 0.65 * (fit + 1) / count
    return to_rgba(kind_styles.LINE_COLOR, alpha)


def _use_log(values: list[float], tag: str) -> bool:
    finite = [v for v in values if math.isfinite(v)]
    if not finite or min(finite) <= 0:
        return False
    # Learning rates move by factors; a diverging loss spans many decades.
    return "learning_rate" in tag or tag == "lr" or max(finite) / min(finite) > 1e3


def _draw_metric(
    ax: Axes,
    members: Sequence[str],
    metrics: Mapping[str, RunMetrics],
    tag: str,
    placing: _Placing,
    events: Sequence[Event],
) -> None:
    blended = ax.get_xaxis_transform()
    all_values: list[float] = []
    starts = placing.starts
    for run in members:
        points = metrics[run].points.get(tag) if run in metrics else None
        if not points:
            continue
        name = conventions.run_label(run) or run
        files = matching_files(metrics[run].point_files.get(tag, []), points)
        for part in fits.split_points(points, starts, files=files, rule=placing.rule):
            xs = _x_of_points(tag, part.steps, placing.epoch_steps(part.fit), placing.by_step)
            ys = [v if math.isfinite(v) else math.nan for v in part.values]
            all_values += ys
            label = f"{name} · fit {part.fit}" if len(starts) > 1 else name
            color = _fit_shade(part.fit, len(starts))
            line_x, line_y, real = xs, ys, [True] * len(xs)
            if is_learning_rate(tag):
                changes = [
                    rates.RateChange(
                        step=float(e.step),
                        old=rates.rate_or_none(e.data.get("old")),
                        new=rates.rate_or_none(e.data.get("new")),
                        x=_or_nan(placing.event_x(e)),
                    )
                    for e, fit in zip(events, placing.event_fits, strict=True)
                    if e.kind == "lr_change" and fit == part.fit
                ]
                steps = _steps_of_points(tag, part.steps, placing.epoch_steps(part.fit))
                line_x, line_y, real = rates.trained_rates(xs, ys, steps, changes)
            (line,) = ax.plot(
                line_x, line_y, _LINE_STYLES.get(name, "-"), label=label, linewidth=1.4, color=color
            )
            # Dots on the recorded points only (not on the corners of a step).
            dots = [(x, y) for x, y, r in zip(line_x, line_y, real, strict=True) if r]
            ax.plot(
                [x for x, _ in dots],
                [y for _, y in dots],
                ".",
                color=line.get_color(),
                markersize=3 if len(xs) > 1 else 6,
            )
            bad = [x for x, v in zip(xs, part.values, strict=True) if not math.isfinite(v)]
            if bad:  # NaN/Inf cannot be drawn as a point: an x on the top edge says where
                ax.plot(
                    bad,
                    [1.0] * len(bad),
                    "x",
                    color=line.get_color(),
                    transform=blended,
                    clip_on=False,
                    markersize=7,
                    label=f"{label}: NaN/Inf",
                )
    if _use_log(all_values, tag):
        ax.set_yscale("log")


class _Placing:
    """Where one experiment's points and events go on the x axis, per fit."""

    def __init__(
        self,
        members: Sequence[str],
        metrics: Mapping[str, RunMetrics],
        events: Sequence[Event],
        tags: Sequence[str],
    ) -> None:
        self.starts = fits.fit_starts(events)
        # A fit is one writer's file (two processes fitting into one log_dir at
        # once interleave in time, never in a file): points, epoch ends and
        # events go to their file's fit, by time only where files are unknown.
        self.rule = file_rule(list(members), metrics, self.starts)
        self.event_fits = fits.experiment_fits(events, self.starts)
        self._by_fit: dict[int, dict[int, int]] = {}
        self._merged: dict[int, int] = {}
        for run in members:
            if run in metrics:
                m = metrics[run]
                self._merged.update(m.epoch_steps)
                files = matching_files(m.epoch_files, m.epoch_records)
                split = fits.split_epoch_steps(m.epoch_records, self.starts, files=files, rule=self.rule)
                for fit, steps in split.items():
                    self._by_fit.setdefault(fit, {}).update(steps)
        self.by_step = bool(self._merged) or not any(conventions.is_epoch_tag(t) for t in tags)
        # Each fit's train_begin, by run and the reader's fit of the run (a fit is one writer's file).
        self._begins = {(e.run, e.fit): e for e in events if e.kind == "train_begin"}

    def epoch_steps(self, fit: int) -> dict[int, int]:
        return self._by_fit.get(fit) or self._merged

    def event_x(self, event: Event) -> float | None:
        if self.by_step:
            return float(event.step)
        if event.kind == "lr_change":
            # Where the rate changed, as the rate line turns there: a
            # LearningRateScheduler's event carries the epoch about to begin,
            # but the new rate first trains the step after the event's.
            at = self._step_epoch(event)
            if at is not None:
                return at
        return None if event.epoch is None else float(event.epoch)

    def _step_epoch(self, event: Event) -> float | None:
        """The epoch-axis position of the event's step, from its fit's train_begin (None when unknown)."""
        begin = self._begins.get((event.run, event.fit))
        steps = begin.data.get("steps") if begin is not None else None
        if begin is None or not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
            return None
        initial = begin.data.get("initial_epoch", begin.epoch or 0)
        initial = initial if isinstance(initial, int) and not isinstance(initial, bool) else 0
        return initial - 1 + (event.step - begin.step) / steps


def _draw_events(ax: Axes, events: Sequence[Event], placing: _Placing, routine: set[str]) -> list[str]:
    """A marker per event in a lane per kind (so coincident events all show) and a
    vertical line the panel's height, or a short tick under the marker for a
    routine kind; returns the kinds drawn."""
    blended = ax.get_xaxis_transform()
    drawn = []
    for lane, kind in enumerate(kind_styles.kind_order(e.kind for e in events)):
        placed = (placing.event_x(e) for e in events if e.kind == kind)
        xs = [x for x in placed if x is not None]
        if not xs:
            continue
        color = kind_styles.kind_color(kind)
        y = 0.96 - 0.05 * lane
        low, high = (y - _TICK, y) if kind in routine else (0, 1)
        ax.vlines(
            xs, low, high, transform=blended, colors=[color], linewidth=1.0, alpha=0.6, label=f"_line_{kind}"
        )
        ax.plot(xs, [y] * len(xs), "v", color=color, transform=blended, markersize=5, label="_event_" + kind)
        drawn.append(kind)
    return drawn


def _kinds_legend(fig: Any, drawn: Sequence[str], routine: set[str]) -> None:
    """One legend of the kinds drawn: a line for those drawn full height, a tick for routine ones."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [0],
            [0],
            color=kind_styles.kind_color(kind),
            linewidth=2,
            linestyle="none" if kind in routine else "-",
            marker="v",
        )
        for kind in drawn
    ]
    fig.legend(
        handles, list(drawn), loc="outside lower center", ncol=min(len(drawn), 6), fontsize=8, frameon=False
    )


def plot(
    runs: Sequence[str],
    events: Sequence[Event],
    metrics: Mapping[str, RunMetrics],
    output: str | os.PathLike,
    *,
    tags: Sequence[str] | None = None,
    title: str | None = None,
    root_name: str | None = None,
) -> list[str]:
    """Draws the figure into `output` (format from its extension, e.g. .png).

    Args:
      runs: the runs to draw.
      events: their callback events.
      metrics: run -> `RunMetrics`.
      output: the image file to write.
      tags: scalar tags to draw (default: `default_metrics`).
      title: the figure's title.
      root_name: what to call the experiment at the top of the logdir
        (a log_dir passed itself), instead of ".".

    Returns:
      The tags drawn.

    Example:

    ```python
    from tb_callbacks_plugin import read_events
    from tb_callbacks_plugin.eventfiles.scalar_reader import read_run_metrics
    from tb_callbacks_plugin.eventfiles.event_reader import find_runs
    runs = find_runs("logs")
    metrics = {run: read_run_metrics(run, paths) for run, paths in runs.items()}
    plot(list(runs), read_events("logs"), metrics, "report.png")
    ```
    """
    plt = _import_pyplot()
    tags = list(tags) if tags else default_metrics(metrics)
    groups, events_by_exp = group_by_experiment(runs, events)
    experiments = sorted(groups)[:MAX_ROWS]
    columns = max(1, len(tags))
    drawn_kinds: set[str] = set()
    routine_in_figure: set[str] = set()

    fig, axes = plt.subplots(
        len(experiments) or 1,
        columns,
        figsize=(5.5 * columns, 2.8 * max(1, len(experiments)) + 0.8),
        squeeze=False,
        layout="constrained",
    )
    for row, experiment in enumerate(experiments):
        members = sorted(groups[experiment])
        exp_events = events_by_exp.get(experiment, [])
        shown = root_name if experiment == "." and root_name else experiment
        present = [t for t in tags if any(run in metrics and metrics[run].scalars.get(t) for run in members)]
        placing = _Placing(members, metrics, exp_events, present)
        routine = kind_styles.routine_kinds(exp_events)
        routine_in_figure |= routine
        by_step = placing.by_step
        for col, tag in enumerate(tags or [""]):
            ax = axes[row][col]
            if tag not in present and (present or col > 0):
                ax.axis("off")
                ax.text(
                    0.5,
                    0.5,
                    f"{shown}: no {tag}",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="grey",
                    fontsize=8,
                )
                continue
            if tag in present:
                _draw_metric(ax, members, metrics, tag, placing, exp_events)
                ax.set_title(f"{shown} · {tag}", fontsize=9)
            else:  # no metric at all: the events alone, on their steps
                ax.set_yticks([])
                ax.set_title(f"{shown} · events", fontsize=9)
            drawn_kinds.update(_draw_events(ax, exp_events, placing, routine))
            ax.set_xlabel("step" if by_step else "epoch", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="best")
    if drawn_kinds:
        _kinds_legend(fig, kind_styles.kind_order(drawn_kinds), routine_in_figure)
    if title:
        fig.suptitle(title, fontsize=11)
    try:
        fig.savefig(output, dpi=100)
    finally:
        plt.close(fig)
    return tags
