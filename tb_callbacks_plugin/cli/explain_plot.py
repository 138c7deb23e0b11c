"""`tb-callbacks plot --explain`: each decision of one run drawn on the metric it monitored.

One panel per explained event (`tb_callbacks_plugin.explain`): the monitored
metric's epoch series of the event's fit, the best value, the threshold an
improvement had to pass, the patience window, the baseline, the restored
epoch, the cooldown, and the sentence as the panel's title. Epochs on the x
axis count from 1, as the sentences and Keras's console do. A metric that was
not written is said in its panel, with nothing drawn.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from tb_callbacks_plugin import conventions, explain
from tb_callbacks_plugin.cli import explaining
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.eventfiles import fits
from tb_callbacks_plugin.eventfiles.scalar_reader import RunMetrics

MAX_PANELS = 12
_WRAP = 95
# The marks' colours: one per meaning, so that every panel reads alike.
_COLOURS = {
    "series": "#1f77b4",
    "best": "#2ca02c",
    "threshold": "#2ca02c",
    "window": "#ff7f0e",
    "baseline": "#d62728",
    "restored": "#9467bd",
    "cooldown": "#17becf",
    "decision": "#d62728",
}


def _x(epoch: int) -> int:
    return conventions.console_epoch(epoch)


def _span(ax: Any, epochs: Sequence[int], colour: str, label: str, **style: Any) -> None:
    first, last = epochs
    ax.axvspan(_x(first) - 0.5, _x(last) + 0.5, color=colour, alpha=0.15, label=label, **style)


def _draw_nan(ax: Any, out: dict[str, Any], series: Mapping[int, float] | None) -> None:
    """A NaN stop on the batch loss (by step): the last finite value, and the step that was not finite."""
    if not series:
        ax.text(
            0.5,
            0.5,
            "no batch_loss written (update_freq='epoch'): the epoch is all that is known",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="grey",
        )
        return
    steps = [s for s in sorted(series) if math.isfinite(series[s])]
    ax.plot(steps, [series[s] for s in steps], marker=".", color=_COLOURS["series"], label="batch_loss")
    last, bad = out["last_finite"], out["non_finite"]
    if last and last["step"] is not None:
        ax.plot(
            [last["step"]],
            [last["value"]],
            marker="o",
            markersize=8,
            color=_COLOURS["best"],
            linestyle="none",
            label=f"last finite (batch {last['batch']})",
        )
    if bad and bad["step"] is not None:
        ax.axvline(bad["step"], color=_COLOURS["decision"], linewidth=1.2, label=f"loss {bad['value']}")
    values = [series[s] for s in steps]
    if values and min(values) > 0 and max(values) > 1e3 * min(values):
        ax.set_yscale("log")  # a diverging loss spans orders of magnitude
    ax.set_xlabel("step", fontsize=8)
    ax.legend(fontsize=6, loc="best")


def draw_explanation(ax: Any, out: dict[str, Any], series: Mapping[int, float] | None) -> None:
    """Draws one explanation (`explain.explain`'s dict) and its series on `ax`."""
    ax.set_title("\n".join(textwrap.wrap(out["sentence"], _WRAP)), fontsize=8, loc="left")
    if out["kind"] == "nan_terminated":
        _draw_nan(ax, out, series)
        return
    if out["metric_written"] is False or not series:
        ax.set_xticks([])
        ax.set_yticks([])
        note = "nothing to draw on" if out["metric_written"] is False else "no monitored series"
        ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, color="grey")
        return
    epochs = sorted(series)
    ax.plot(
        [_x(e) for e in epochs],
        [series[e] for e in epochs],
        marker=".",
        color=_COLOURS["series"],
        label=out["monitor"] or "metric",
    )
    if out["window"]:
        _span(ax, out["window"], _COLOURS["window"], "patience window")
    if out["cooldown"]:
        _span(ax, out["cooldown"], _COLOURS["cooldown"], "cooldown", hatch="//")
    if out["threshold"] is not None:
        ax.axhline(
            out["threshold"],
            color=_COLOURS["threshold"],
            linestyle="--",
            linewidth=1,
            label=f"improvement threshold ({out['mode']})",
        )
    if out["baseline"] is not None:
        ax.axhline(
            out["baseline"], color=_COLOURS["baseline"], linestyle=":", linewidth=1.2, label="baseline"
        )
    points = (("best", out["best"], "*", 12, "best"), ("decision", out["decision"], "X", 8, "acted here"))
    for colour, point, marker, size, label in points:
        if point and point["epoch"] is not None:
            ax.plot(
                [_x(point["epoch"])],
                [point["value"]],
                marker=marker,
                markersize=size,
                color=_COLOURS[colour],
                linestyle="none",
                label=label,
            )
    if out["restored_epoch"] is not None:
        ax.axvline(
            _x(out["restored_epoch"]), color=_COLOURS["restored"], linewidth=1.2, label="restored epoch"
        )
    ax.set_xlabel("epoch (from 1, as Keras's console)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, loc="best")


def explained(
    events: Sequence[Event], metrics: Mapping[str, RunMetrics], known_runs: Collection[str]
) -> list[tuple[dict[str, Any], dict[int, float] | None]]:
    """(explanation, monitored series) of each event that has one, in event order."""
    starts = fits.fit_starts(events)
    out = []
    for event in events:
        series = explaining.monitored_series(event, metrics, starts, known_runs)
        explanation = explain.explain(explaining.event_fields(event), series)
        if explanation is None:
            continue
        if event.kind == "nan_terminated":
            series = explaining.batch_loss_series(event, metrics, starts)  # by step, not by epoch
        out.append((explanation, series))
    return out


def plot_explained(
    items: Sequence[tuple[dict[str, Any], dict[int, float] | None]],
    output: str | os.PathLike,
    *,
    title: str | None = None,
) -> int:
    """Draws one panel per explanation (at most MAX_PANELS) into `output`; returns the panels drawn."""
    from tb_callbacks_plugin.cli import plotting

    plt = plotting._import_pyplot()
    shown = list(items)[:MAX_PANELS]
    fig, axes = plt.subplots(
        max(1, len(shown)),
        1,
        figsize=(8.5, 3.2 * max(1, len(shown)) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    try:
        for (out, series), row in zip(shown, axes, strict=False):
            draw_explanation(row[0], out, series)
        if title:
            fig.suptitle(title, fontsize=11)
        fig.savefig(output, dpi=100)
    finally:
        plt.close(fig)  # also when drawing failed: pyplot keeps every open figure
    return len(shown)
