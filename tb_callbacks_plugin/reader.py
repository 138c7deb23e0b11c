"""Reading callback events straight from event files, for scripts and the CLI.

The plugin reads through TensorBoard's data provider instead; this module is
for analysis without a server. Runs are named as TensorBoard names them: the
path of the directory holding event files, relative to the logdir ("." for
the logdir itself).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator

from tensorboard.compat.proto import event_pb2

from tb_callbacks_plugin import event_format, metadata, records
from tb_callbacks_plugin.event_format import Event

COLUMNS = ("run", "kind", "step", "epoch", "wall_time", "source", "message", "data")
_MARKER = event_format.TAG_PREFIX.encode()


def is_event_file(name: str) -> bool:
    return "tfevents" in name


def find_runs(logdir: str | os.PathLike) -> dict[str, list[str]]:
    """Maps each run below `logdir` to its event files, in name order."""
    logdir = os.fspath(logdir)
    if not os.path.isdir(logdir):
        raise FileNotFoundError(f"logdir not found: {logdir}")
    runs: dict[str, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(logdir):
        dirnames.sort()
        files = sorted(f for f in filenames if is_event_file(f))
        if files:
            run = os.path.relpath(dirpath, logdir).replace(os.sep, "/")
            runs[run] = [os.path.join(dirpath, f) for f in files]
    return runs


def _ours(buf: bytes, start: int, end: int) -> bool:
    # Cheap pre-filter: most records (scalars, histograms) never mention our
    # tag prefix, and are skipped without a protobuf parse or data CRC.
    return buf.find(_MARKER, start, end) != -1


class _RoleCache:
    """Plugin content -> role, parsed once per distinct content."""

    def __init__(self) -> None:
        self._by_content: dict[bytes, str] = {}

    def role(self, content: bytes) -> str:
        role = self._by_content.get(content)
        if role is None:
            _, role = metadata.parse_plugin_content(content)
            self._by_content[content] = role
        return role


def iter_file_events(path: str, run: str, roles: _RoleCache | None = None) -> Iterator[Event]:
    """Events of one event file, damage skipped with warnings."""
    roles = roles or _RoleCache()
    with open(path, "rb") as f:
        buf = f.read()
    tag_roles: dict[str, str] = {}
    bad = 0
    for data in records.iter_records(buf, name=path, wanted=_ours):
        try:
            event = event_pb2.Event.FromString(data)
        except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
            bad += 1
            continue
        for value in event.summary.value:
            plugin = value.metadata.plugin_data
            if plugin.plugin_name == metadata.PLUGIN_NAME:
                role = roles.role(plugin.content)
                tag_roles[value.tag] = role
            else:
                role = tag_roles.get(value.tag)
            if role != metadata.ROLE_EVENTS:
                continue
            events, unreadable = event_format.decode_bundle(run, event.step, value.tensor)
            bad += unreadable
            yield from events
    if bad:
        warnings.warn(
            f"{path}: {bad} unreadable event record(s) skipped", records.CorruptRecordWarning, stacklevel=2
        )


def sort_events(events: Iterable[Event]) -> list[Event]:
    return sorted(events, key=lambda e: (e.run, e.step, e.wall_time))


def read_events(logdir: str | os.PathLike) -> list[Event]:
    """Every callback event of every run below `logdir`.

    Sorted by run, then step, then wall time. Damaged records are skipped
    with a `CorruptRecordWarning`; a record of a newer format version raises
    `UnsupportedVersionError`.
    """
    roles = _RoleCache()
    events: list[Event] = []
    for run, paths in find_runs(logdir).items():
        for path in paths:
            events.extend(iter_file_events(path, run, roles))
    return sort_events(events)


def events_dataframe(logdir: str | os.PathLike):  # -> pandas.DataFrame
    """`read_events(logdir)` as a pandas DataFrame with one column per field."""
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError("events_dataframe needs pandas: pip install 'tb-callbacks-plugin[pandas]'") from e
    events = read_events(logdir)
    frame = pd.DataFrame(
        {
            "run": [e.run for e in events],
            "kind": [e.kind for e in events],
            "step": pd.array([e.step for e in events], dtype="int64"),
            "epoch": pd.array([e.epoch for e in events], dtype="Int64"),
            "wall_time": pd.array([e.wall_time for e in events], dtype="float64"),
            "source": [e.source for e in events],
            "message": [e.message for e in events],
            "data": [e.data for e in events],
        },
        columns=list(COLUMNS),
    )
    return frame
