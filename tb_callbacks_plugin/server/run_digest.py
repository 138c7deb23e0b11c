"""What a search's table shows of one run, from its events: a few hundred
bytes instead of its every event.

The tab's table of trials needs, per trial, how it ended and at which
epoch, its rate changes and checkpoints, its first and last event's time
and the events drawn on its sparkline. At 3,000 trials every event is ~11
MB of JSON (0.36 MB gzip'd) that the browser parses for a second under
load before it can draw a row; these digests are ~1.6 MB (0.07 MB gzip'd)
and need no event parsed. The rules are the table's (frontend/src/trials.ts,
`addEvent` and `endingOf`), so a row reads the same from a digest as from
the run's events: the last `train_end` (by wall time, the later in the
run's order on a tie) names the ending (its `reason`, else "completed") and
epoch (its `last_epoch`, else its own epoch, counted from 1 as Keras's
console does); the last `early_stop` or `nan_terminated` stands in when no
`train_end` was written.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tb_callbacks_plugin.event_format import Event
    from tb_callbacks_plugin.server.event_store import RunEvents

# Kinds that end a fit without a train_end (Keras never reached on_train_end), and their ending.
STOP_ENDINGS = {"early_stop": "early_stop", "nan_terminated": "nan"}
# Kinds drawn as ticks on a trial's sparkline.
TICK_KINDS = frozenset({"lr_change", "checkpoint_saved", "early_stop", "nan_terminated", "weights_restored"})

_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def number(value: Any) -> int | float | None:
    """`value` when it is a number in the served JSON (the table's test:
    bools are not numbers there, and a non-finite float is served as a
    string), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def train_end_of(event: Event) -> tuple[str, int | float | None]:
    """A train_end's (ending, epoch counted from 1 or None): its `reason`
    (else "completed") and its `last_epoch` (else its own epoch)."""
    data = event.data if isinstance(event.data, dict) else {}
    reason = data.get("reason")
    at = number(data.get("last_epoch"))
    if at is None:
        at = number(event.epoch)
    return (reason if isinstance(reason, str) else "completed", None if at is None else at + 1)


def digest(run: RunEvents) -> dict[str, Any]:
    """The table's facts of `run`: `end` and `stop` as [wall time, ending,
    epoch counted from 1 or null] or null, `lr_changes`, `checkpoints`,
    `first` and `last` (wall times of events with one, or null), `ticks`
    ([epoch from 0, kind] in the run's order). Made from what the stores
    kept of each event when they decoded it (no parsing)."""
    end: list[Any] | None = None
    stop: list[Any] | None = None
    ticks: list[list[Any]] = []
    first = last = None
    for event in run.events:
        wall_time = event.wall_time
        if wall_time > 0:
            first = wall_time if first is None or wall_time < first else first
            last = wall_time if last is None or wall_time > last else last
        kind = event.kind
        if kind not in TICK_KINDS:
            if event.ending is not None and (end is None or wall_time >= end[0]):
                end = [wall_time, *event.ending]
            continue
        epoch = event.epoch
        if kind in STOP_ENDINGS and (stop is None or wall_time >= stop[0]):
            stop = [wall_time, STOP_ENDINGS[kind], None if epoch is None else epoch + 1]
        if epoch is not None:
            ticks.append([epoch, kind])
    return {
        "end": end,
        "stop": stop,
        "lr_changes": run.kinds.get("lr_change", 0),
        "checkpoints": run.kinds.get("checkpoint_saved", 0),
        "first": first,
        "last": last,
        "ticks": ticks,
    }


def digest_json(run: RunEvents) -> str:
    """`digest(run)` as JSON, made once per `RunEvents` (the stores keep one
    per run until its events change, so a reload of the tab re-sends it)."""
    if run.digest is None:
        run.digest = _ENCODER.encode(digest(run))
    return run.digest
