"""What a search's table shows of one run, from its events: a few hundred
bytes instead of its every event.

The tab's table of trials needs, per trial, how it ended and at which
epoch, its rate changes and checkpoints, its first and last event's time
and the events drawn on its sparkline. At 3,000 trials every event is ~18 MB
of JSON that the browser parses for a second before it can draw a row;
these digests are ~0.5 MB. The rules are the table's (frontend/src/trials.ts,
`addEvent` and `endingOf`), so a row reads the same from a digest as from
the run's events: the last `train_end` (by wall time, the later in the
run's order on a tie) names the ending (its `reason`, else "completed") and
epoch (its `last_epoch`, else its own epoch, counted from 1 as Keras's
console does); the last `early_stop` or `nan_terminated` stands in when no
`train_end` was written.
"""

from __future__ import annotations

import json
from typing import Any

from tb_callbacks_plugin.server.event_store import RunEvents

# Kinds that end a fit without a train_end (Keras never reached on_train_end), and their ending.
STOP_ENDINGS = {"early_stop": "early_stop", "nan_terminated": "nan"}
# Kinds drawn as ticks on a trial's sparkline.
TICK_KINDS = frozenset({"lr_change", "checkpoint_saved", "early_stop", "nan_terminated", "weights_restored"})
# Kinds whose epoch or data the digest needs (the others are counted, never parsed).
_PARSED = TICK_KINDS | {"train_end"}

_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def _number(value: Any) -> int | float | None:
    """A JSON number as the table takes one (bools are not numbers there)."""
    return None if isinstance(value, bool) or not isinstance(value, int | float) else value


def digest(run: RunEvents) -> dict[str, Any]:
    """The table's facts of `run`: `end` and `stop` as [wall time, ending,
    epoch counted from 1 or null] or null, `lr_changes`, `checkpoints`,
    `first` and `last` (wall times of events with one, or null), `ticks`
    ([epoch from 0, kind] in the run's order)."""
    end: list[Any] | None = None
    stop: list[Any] | None = None
    ticks: list[list[Any]] = []
    first = last = None
    for event in run.events:
        if event.wall_time > 0:
            first = event.wall_time if first is None else min(first, event.wall_time)
            last = event.wall_time if last is None else max(last, event.wall_time)
        if event.kind not in _PARSED:
            continue
        obj = json.loads(event.json)
        epoch = _number(obj.get("epoch"))
        if event.kind == "train_end" and (end is None or event.wall_time >= end[0]):
            data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
            reason = data.get("reason")
            last_epoch = _number(data.get("last_epoch"))
            at = last_epoch if last_epoch is not None else epoch
            end = [
                event.wall_time,
                reason if isinstance(reason, str) else "completed",
                None if at is None else at + 1,
            ]
        if event.kind in STOP_ENDINGS and (stop is None or event.wall_time >= stop[0]):
            stop = [event.wall_time, STOP_ENDINGS[event.kind], None if epoch is None else epoch + 1]
        if event.kind in TICK_KINDS and epoch is not None:
            ticks.append([epoch, event.kind])
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
