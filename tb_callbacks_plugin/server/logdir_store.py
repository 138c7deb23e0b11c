"""Callback events read from the logdir's event files by the plugin itself.

On TensorBoard's Python loader (`--load_fast=false`) the multiplexer loads
runs one after another (~30 ms each): at 3,000 runs a run's data is there
minutes after TensorBoard's run list names it, and anything read through
the data provider waits for it. The plugin reads its own records instead,
from the files TensorBoard reads (`eventfiles.record_tail`: only our
records are decoded, each once, as files grow), so it lists a run as soon
as its directory holds them. TensorBoard is then told to keep one record
per tag of ours (`loader.py`): it still marks the tab active, and does not
hold a second copy of every event.

Runs are found and named as TensorBoard names them
(`event_reader.find_runs`: symbolic links followed, loops skipped) for a
listing of every run, shared by requests that overlap in time; a request
for a few runs looks in their folders only. The answers are `EventStore`'s: the same
`RunEvents`, the same JSON per event, the same warnings for records of a
newer format or damaged metadata. Only for a local logdir: a remote one is
read through TensorBoard (its file systems, its credentials).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tensorboard.compat.proto import types_pb2

from tb_callbacks_plugin import event_format, metadata
from tb_callbacks_plugin.eventfiles import event_reader
from tb_callbacks_plugin.eventfiles.record_tail import FileTail
from tb_callbacks_plugin.server.event_store import RunEvents, StoredEvent, decode_events, run_events
from tb_callbacks_plugin.server.shared_calls import SharedCalls

logger = logging.getLogger(__name__)

# Files whose epoch records are kept (the runs whose metrics are drawn).
MAX_EPOCH_FILES = 512

_EVENTS_MARKER = event_format.EVENTS_TAG_PREFIX.encode()
_EPOCHS_MARKER = event_format.EPOCHS_TAG_PREFIX.encode()


@dataclass
class _FileEvents:
    tail: FileTail
    events: list[StoredEvent] = field(default_factory=list)
    bad: int = 0


@dataclass
class _FileEpochs:
    tail: FileTail
    epochs: list[tuple[int, int, float]] = field(default_factory=list)  # (epoch, step, wall_time)


class LogdirEventStore:
    """`EventStore`'s queries, answered from a local logdir's event files.

    Args:
      logdir: TensorBoard's `--logdir` (a local path).

    Example:

    ```python
    store = LogdirEventStore(context.logdir)
    for run in store.runs(ctx, experiment_id=""):
        print(run.run, len(run.events), run.kinds)
    ```
    """

    def __init__(self, logdir: str) -> None:
        self._logdir = os.path.expanduser(logdir)
        # Reading, merging and forgetting, one request at a time: requests
        # arriving together wait for one read rather than each reading the
        # same new bytes (with the GIL they would not run in parallel anyway).
        self._lock = threading.Lock()
        self._files: dict[str, _FileEvents] = {}
        self._epochs: collections.OrderedDict[str, _FileEpochs] = collections.OrderedDict()
        self._merged: dict[str, tuple[tuple, RunEvents]] = {}
        self._listings: SharedCalls[dict[str, list[str]]] = SharedCalls()

    def start_reading(self) -> threading.Thread:
        """Reads every run now, in a daemon thread: TensorBoard builds the
        plugin before it serves, so the tab's first listing finds the reading
        under way or done (a request waits for it, then reads only what was
        written since)."""
        thread = threading.Thread(target=self._read_all, name="callback_events-read", daemon=True)
        thread.start()
        return thread

    def _read_all(self) -> None:
        try:
            self.runs(None, experiment_id="")
        except Exception:  # noqa: BLE001 - a request reads again and reports what fails
            logger.warning("callback_events: reading %s failed", self._logdir, exc_info=True)

    # ------------------------------------------------------------ queries (EventStore's)

    def runs(self, ctx: Any, *, experiment_id: str, only: Iterable[str] | None = None) -> list[RunEvents]:
        """Every run that holds callback event records (or those of `only`), sorted by name."""
        files = self._every_run() if only is None else {run: self._run_files(run) for run in set(only)}
        with self._lock:
            self._read_events([path for paths in files.values() for path in paths])
            found = [self._run_events(run, paths) for run, paths in sorted(files.items())]
        return [run for run in found if run is not None]

    def run(self, ctx: Any, *, experiment_id: str, run: str) -> RunEvents | None:
        """The events of `run`, or None when it holds no callback events."""
        paths = self._run_files(run)
        with self._lock:
            self._read_events(paths)
            return self._run_events(run, paths)

    def epoch_records(
        self, ctx: Any, *, experiment_id: str, runs: Iterable[str]
    ) -> list[tuple[int, int, float]]:
        """Every (epoch, global step, wall time) epoch end recorded in `runs`."""
        paths = [path for run in runs for path in self._run_files(run)]
        out: list[tuple[int, int, float]] = []
        with self._lock:
            for path in paths:
                kept = self._epochs.pop(path, None) or _FileEpochs(FileTail(path, _EPOCHS_MARKER))
                self._epochs[path] = kept  # the most recently asked last
                found, restarted = kept.tail.read_new(metadata.role_or_reason)
                if restarted:
                    kept.epochs = []
                kept.epochs.extend(
                    epoch
                    for record in found
                    if record.role == metadata.ROLE_EPOCHS
                    and (epoch := _epoch(record.tensor, record.step, record.wall_time)) is not None
                )
                out.extend(kept.epochs)
            while len(self._epochs) > MAX_EPOCH_FILES:
                self._epochs.popitem(last=False)
        return out

    # ------------------------------------------------------------ internals

    def _every_run(self) -> dict[str, list[str]]:
        """run -> its event files, listed afresh (shared by requests that overlap)."""
        runs = self._listings.call("runs", self._list_now)
        with self._lock:
            # Files and runs that are gone: forget them.
            kept = {path for paths in runs.values() for path in paths}
            for path in [p for p in self._files if p not in kept]:
                del self._files[path]
            for run in [r for r in self._merged if r not in runs]:
                del self._merged[run]
        return runs

    def _list_now(self) -> dict[str, list[str]]:
        try:
            return event_reader.find_runs(self._logdir)
        except FileNotFoundError:
            return {}  # TensorBoard waits for a logdir that does not exist yet; so do we

    def _run_files(self, run: str) -> list[str]:
        """The event files of `run` (its folder below the logdir), in name order;
        none for a name that is not a folder below the logdir."""
        parts = run.split("/")
        if run != "." and any(part in ("", ".", "..") for part in parts):
            return []
        folder = self._logdir if run == "." else os.path.join(self._logdir, *parts)
        try:
            with os.scandir(folder) as entries:
                names = sorted(e.name for e in entries if event_reader.is_event_file(e.name) and e.is_file())
        except OSError:
            return []
        return [os.path.join(folder, name) for name in names]

    def _read_events(self, paths: list[str]) -> None:
        """Reads what was added to `paths` since the last read (under `_lock`)."""
        for path in paths:
            run = _run_of(path, self._logdir)
            kept = self._files.get(path)
            if kept is None:
                kept = self._files[path] = _FileEvents(FileTail(path, _EVENTS_MARKER))
            found, restarted = kept.tail.read_new(metadata.role_or_reason)
            if restarted:
                kept.events, kept.bad = [], 0
            for record in found:
                if record.role != metadata.ROLE_EVENTS:
                    continue
                tensor = record.tensor
                if tensor.dtype != types_pb2.DT_STRING:
                    kept.bad += 1
                    continue
                writer = event_format.tag_writer(record.tag)
                decoded = decode_events(run, record.step, list(tensor.string_val), writer)
                kept.events.extend(decoded.events)
                kept.bad += decoded.bad

    def _run_events(self, run: str, paths: list[str]) -> RunEvents | None:
        """The run's events merged from its files, or None when none holds
        our tags (under `_lock`, after `_read_events`)."""
        files = [kept for path in paths if (kept := self._files.get(path)) is not None]
        if not any(kept.tail.roles for kept in files):
            return None
        version = tuple((kept.tail.path, kept.tail.size, len(kept.events), kept.bad) for kept in files)
        cached = self._merged.get(run)
        if cached is not None and cached[0] == version:
            return cached[1]
        warnings = sorted({why for kept in files for _, why in kept.tail.roles.values() if why})
        merged = run_events(run, [kept.events for kept in files], sum(k.bad for k in files), warnings)
        self._merged[run] = (version, merged)
        return merged


def _run_of(path: str, logdir: str) -> str:
    """The run name of an event file's folder, as `find_runs` names it."""
    return os.path.relpath(os.path.dirname(path), logdir).replace(os.sep, "/")


def _epoch(tensor: Any, step: int, wall_time: float) -> tuple[int, int, float] | None:
    """An epoch record's (epoch, step, wall time); None for a tensor that is not one integer."""
    values = list(tensor.int64_val) or list(tensor.int_val)
    if len(values) != 1:
        return None
    return int(values[0]), int(step), float(wall_time)
