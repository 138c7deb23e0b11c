"""A matplotlib figure of metric curves with callback events marked on them.

One row per experiment (see `conventions.experiment_of`), one column per metric.
Each panel draws the metric of every run of the experiment (train and
validation) and a vertical line at every event, coloured by kind, with one
legend of kinds for the whole figure. The x axis is the training step when
`callbacks.TensorBoard` recorded where epochs ended (epoch-indexed metrics are
moved to those steps, so they line up with events); otherwise epoch-indexed
metrics are drawn by epoch and events at their epoch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tb_callbacks_plugin import conventions
from tb_callbacks_plugin.cli.experiments import group_by_experiment
from tb_callbacks_plugin.event_format import BUILTIN_KINDS, Event
from tb_callbacks_plugin.eventfiles.scalar_reader import RunMetrics

if TYPE_CHECKING:
    from matplotlib.axes import Axes  # the `plot` extra

MAX_ROWS = 24
_LINE_STYLES = {conventions.TRAIN_RUN: "-", conventions.VALIDATION_RUN: "--"}


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


def kind_colors(kinds: Sequence[str]) -> dict[str, tuple]:
    """A fixed colour per kind: built-in kinds keep theirs across figures."""
    plt = _import_pyplot()
    palette = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors
    ordered = [k for k in BUILTIN_KINDS] + sorted(set(kinds) - set(BUILTIN_KINDS))
    return {kind: palette[i % len(palette)] for i, kind in enumerate(ordered) if kind in kinds}


def _x_of_points(tag: str, steps: list[int], epoch_steps: dict[int, int], by_step: bool) -> list[float]:
    if conventions.is_epoch_tag(tag) and by_step:
        return [float(epoch_steps.get(s, math.nan)) for s in steps]
    return [float(s) for s in steps]


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
    epoch_steps: dict[int, int],
    by_step: bool,
) -> None:
    blended = ax.get_xaxis_transform()
    all_values: list[float] = []
    for run in members:
        series = run in metrics and metrics[run].scalars.get(tag)
        if not series:
            continue
        xs = _x_of_points(tag, series.steps, epoch_steps, by_step)
        ys = [v if math.isfinite(v) else math.nan for v in series.values]
        all_values += ys
        name = conventions.run_label(run) or run
        # A learning rate holds for the whole epoch it is logged at the end of.
        drawstyle = "steps-pre" if "learning_rate" in tag else "default"
        (line,) = ax.plot(
            xs,
            ys,
            _LINE_STYLES.get(name, "-"),
            marker=".",
            markersize=3,
            label=name,
            linewidth=1.4,
            drawstyle=drawstyle,
        )
        bad = [x for x, v in zip(xs, series.values, strict=True) if not math.isfinite(v)]
        if bad:  # NaN/Inf cannot be drawn as a point: an x on the top edge says where
            ax.plot(
                bad,
                [1.0] * len(bad),
                "x",
                color=line.get_color(),
                transform=blended,
                clip_on=False,
                markersize=7,
                label=f"{name}: NaN/Inf",
            )
    if _use_log(all_values, tag):
        ax.set_yscale("log")


def _draw_events(ax: Axes, events: Sequence[Event], by_step: bool, colors: dict[str, tuple]) -> None:
    """A vertical line per event and a marker in a lane per kind, so coincident events all show."""
    blended = ax.get_xaxis_transform()
    kinds = [k for k in colors if any(e.kind == k for e in events)]
    for lane, kind in enumerate(kinds):
        placed = (e.step if by_step else e.epoch for e in events if e.kind == kind)
        xs = [x for x in placed if x is not None]
        if not xs:
            continue
        ax.vlines(xs, 0, 1, transform=blended, colors=[colors[kind]], linewidth=1.0, alpha=0.6)
        ax.plot(
            xs,
            [0.96 - 0.05 * lane] * len(xs),
            "v",
            color=colors[kind],
            transform=blended,
            markersize=5,
            label="_event_" + kind,
        )


def plot(
    runs: Sequence[str],
    events: Sequence[Event],
    metrics: Mapping[str, RunMetrics],
    output: str | os.PathLike,
    *,
    tags: Sequence[str] | None = None,
    title: str | None = None,
) -> list[str]:
    """Draws the figure into `output` (format from its extension, e.g. .png).

    Args:
      runs: the runs to draw.
      events: their callback events.
      metrics: run -> `RunMetrics`.
      output: the image file to write.
      tags: scalar tags to draw (default: `default_metrics`).
      title: the figure's title.

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
    colors = kind_colors(sorted({e.kind for e in events}))

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
        present = [t for t in tags if any(run in metrics and metrics[run].scalars.get(t) for run in members)]
        epoch_steps: dict[int, int] = {}
        for run in members:
            if run in metrics:
                epoch_steps.update(metrics[run].epoch_steps)
        by_step = bool(epoch_steps) or not any(conventions.is_epoch_tag(t) for t in present)
        for col, tag in enumerate(tags or [""]):
            ax = axes[row][col]
            if tag not in present and (present or col > 0):
                ax.axis("off")
                ax.text(
                    0.5,
                    0.5,
                    f"{experiment}: no {tag}",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="grey",
                    fontsize=8,
                )
                continue
            if tag in present:
                _draw_metric(ax, members, metrics, tag, epoch_steps, by_step)
                ax.set_title(f"{experiment} · {tag}", fontsize=9)
            else:  # no metric at all: the events alone, on their steps
                ax.set_yticks([])
                ax.set_title(f"{experiment} · events", fontsize=9)
            _draw_events(ax, exp_events, by_step, colors)
            ax.set_xlabel("step" if by_step else "epoch", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="best")
    if colors:
        from matplotlib.lines import Line2D

        handles = [Line2D([0], [0], color=color, linewidth=2, marker="v") for color in colors.values()]
        fig.legend(
            handles,
            list(colors),
            loc="outside lower center",
            ncol=min(len(colors), 6),
            fontsize=8,
            frameon=False,
        )
    if title:
        fig.suptitle(title, fontsize=11)
    try:
        fig.savefig(output, dpi=100)
    finally:
        plt.close(fig)
    return tags
