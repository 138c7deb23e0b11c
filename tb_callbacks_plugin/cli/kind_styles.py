"""How `plot` shows each kind of event: the tab's colours, and which kinds are routine.

The colours are the tab's light theme (frontend/src/colors.ts; a test keeps
the two tables equal), so a kind looks the same in the tab, the report and a
plotted figure, and none of them is a metric line's colour (the lines are
drawn in `LINE_COLOR`). Which kinds are routine follows the tab's markers
(frontend/src/markers.ts): drawn as short ticks at the top of a panel, so
thirty checkpoints do not hide the curves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tb_callbacks_plugin.event_format import Event

BUILTIN_COLORS = {
    "train_begin": "#2e7d32",
    "train_end": "#546e7a",
    "lr_change": "#ef6c00",
    "early_stop": "#c62828",
    "nan_terminated": "#ad1457",
    "checkpoint_saved": "#1565c0",
    "weights_restored": "#6a1b9a",
    "backup_restored": "#00838f",
}
# Users' own kinds: picked by a hash of the name, as the tab picks them.
USER_COLORS = ("#5d4037", "#283593", "#00695c", "#9e9d24", "#4527a0", "#37474f", "#ad1457", "#2e7d32")
# The metric lines: near-black, unlike every kind (earlier fits in lighter shades of it).
LINE_COLOR = "#1b1b1b"

# Why a fit ended early: never routine.
ENDINGS = frozenset({"early_stop", "nan_terminated"})
ROUTINE = frozenset({"checkpoint_saved"})
# Any other kind this many times per run or more is routine too (train_begin/train_end never).
ROUTINE_PER_RUN = 10


def _name_hash(text: str) -> int:
    """FNV-1a over UTF-16 code units, 32 bits: the tab's hash (colors.ts)."""
    data = text.encode("utf-16-le")
    h = 2166136261
    for i in range(0, len(data), 2):
        h = ((h ^ int.from_bytes(data[i : i + 2], "little")) * 16777619) & 0xFFFFFFFF
    return h


def kind_color(kind: str) -> str:
    """The kind's colour in the tab's light theme."""
    return BUILTIN_COLORS.get(kind) or USER_COLORS[_name_hash(kind) % len(USER_COLORS)]


def kind_order(kinds: Iterable[str]) -> list[str]:
    """Built-in kinds in their natural order, then the rest by name (the tab's order)."""
    unique = set(kinds)
    return [k for k in BUILTIN_COLORS if k in unique] + sorted(unique - set(BUILTIN_COLORS))


def routine_kinds(events: Iterable[Event]) -> set[str]:
    """Kinds drawn as ticks among `events`: checkpoints, and any other kind
    (not an ending, not train_begin/train_end) seen `ROUTINE_PER_RUN` times per
    run that has it. None when every kind shown would be one: they are then
    what there is to see."""
    counts: Counter[str] = Counter()
    runs: dict[str, set[str | None]] = {}
    for e in events:
        counts[e.kind] += 1
        runs.setdefault(e.kind, set()).add(e.run)
    routine = {
        kind
        for kind, n in counts.items()
        if kind not in ENDINGS
        and (kind in ROUTINE or (not kind.startswith("train_") and n >= ROUTINE_PER_RUN * len(runs[kind])))
    }
    return set() if routine == set(counts) else routine
