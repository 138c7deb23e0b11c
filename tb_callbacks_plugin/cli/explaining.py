"""Explanations of events for the CLI: `tb_callbacks_plugin.explain` fed with what the CLI read.

`events` explains from the events alone (it reads no scalars, so whether the
monitor was written is left unsaid); `plot --explain` also gives each event
its monitored metric's epoch series, of the event's own fit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from tb_callbacks_plugin import explain
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.eventfiles import fits
from tb_callbacks_plugin.eventfiles.scalar_reader import RunMetrics

# Keras's TensorBoard writes the loss of each batch as this (update_freq="batch" or N).
BATCH_LOSS = "batch_loss"


def event_fields(event: Event) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "step": event.step,
        "epoch": event.epoch,
        "source": event.source,
        "data": event.data,
    }


def monitored_series(
    event: Event,
    metrics: Mapping[str, RunMetrics],
    starts: Sequence[float],
    known_runs: Collection[str],
) -> dict[int, float] | None:
    """Epoch -> value of the metric `event` monitored, in its fit; {} when it was never written.

    None when that cannot be told: no monitor, or its run exists but was not read.
    """
    monitor = event.data.get("monitor")
    if not isinstance(monitor, str) or not monitor or event.run is None:
        return None
    run, tag = explain.monitor_source(event.run, monitor)
    if run not in metrics:
        return None if run in known_runs else {}
    points = metrics[run].points.get(tag)
    if not points:
        return {}
    parts = fits.split_points(points, starts)
    mine = [p for p in parts if p.fit == event.fit] or parts[-1:]
    return dict(zip(mine[0].steps, mine[0].values, strict=True))


def batch_loss_series(
    event: Event, metrics: Mapping[str, RunMetrics], starts: Sequence[float]
) -> dict[int, float] | None:
    """Step -> `batch_loss` of the event's run and fit (where a NaN stop is drawn), None when not written."""
    run = metrics.get(event.run) if event.run is not None else None
    points = run.points.get(BATCH_LOSS) if run is not None else None
    if not points:
        return None
    parts = fits.split_points(points, starts)
    mine = [p for p in parts if p.fit == event.fit] or parts[-1:]
    return dict(zip(mine[0].steps, mine[0].values, strict=True))


def sentence(event: Event) -> str:
    """The explanation's sentence of `event` from its data alone, or "" when it has none."""
    out = explain.explain(event_fields(event))
    return out["sentence"] if out else ""
