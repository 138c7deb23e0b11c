"""Callback events as TensorBoard's data provider serves them, decoded once.

Reads go only through `context.data_provider` (`list_tensors`,
`read_tensors`), so the plugin sees exactly what TensorBoard loaded, from
any logdir TensorBoard can read, with either loader.

Every request lists the tags (cheap: no tensor data) and compares each
tag's `(max_step, max_wall_time)` with what was decoded before. A request
for a few runs lists each of their known tags alone: TensorBoard's
`MultiplexerDataProvider` walks every run's metadata for any listing except
one of a single run and tag, so listing by run would make each request
O(runs). The runs' tags are known from a listing of every run, made at most
once per `max_age` seconds (and whenever a run is not in it); a tag first
written in the last `max_age` seconds into a run already known may be
missing until then. Within a
tag our writer only ever adds records at higher steps, and a record that
replaces others (TensorBoard's restart handling) is newer, so any change of
a tag's content changes that pair; only changed tags are read and decoded
again. Each event is kept as its ready JSON text, so serving 1,000 events is
a join, not 1,000 encodes. The cache is bounded and forgets the least
recently used tags first.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tensorboard.data import provider

from tb_callbacks_plugin import conventions, event_format, metadata
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.server import provider_reads, run_digest
from tb_callbacks_plugin.server.provider_reads import KEEP_ALL, answer_too_large
from tb_callbacks_plugin.server.shared_calls import SharedCalls

logger = logging.getLogger(__name__)

DEFAULT_CACHE_CHARS = 256 * 1024 * 1024
DEFAULT_MAX_AGE = 1.0

_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def event_json(event: Event, writer: str | None = None) -> str:
    """One event as the JSON object the `events` route serves; `writer` names the
    `EventWriter` that wrote it (from its tag: one writer per fit), when known."""
    wall_time = event.wall_time if math.isfinite(event.wall_time) else 0.0
    obj: dict[str, Any] = {
        "kind": event.kind,
        "step": event.step,
        "epoch": event.epoch,
        "wall_time": wall_time,
        "source": event.source,
        "message": event.message,
        "data": event.data,
    }
    if writer is not None:
        obj["writer"] = writer
    try:
        return _ENCODER.encode(obj)
    except ValueError:  # NaN or Infinity somewhere in data: rare, so only then walk it
        obj["data"] = conventions.name_nonfinite(event.data)
        return _ENCODER.encode(obj)


@dataclass(slots=True)
class StoredEvent:
    step: int
    wall_time: float
    kind: str
    json: str
    # What a search's table reads of it (run_digest.py), kept so that a
    # digest needs no parsing: its epoch, and a train_end's ending.
    epoch: int | float | None = None
    ending: tuple[str, int | float | None] | None = None


@dataclass
class DecodedRecord:
    """The events of one bundle record, ready to serve, and how many of its elements were unreadable."""

    events: list[StoredEvent]
    bad: int
    chars: int


@dataclass
class _TagEntry:
    version: tuple[int, float]
    events: list[StoredEvent] = field(default_factory=list)
    # (step, wall_time, elements) -> decoded record: when a tag grows during
    # training it is read again whole, but only its new records are decoded.
    records: dict[tuple[int, float, int], DecodedRecord] = field(default_factory=dict)
    epochs: list[tuple[int, int, float]] = field(default_factory=list)  # (epoch, step, wall_time)
    bad: int = 0
    chars: int = 0


@dataclass
class RunEvents:
    """What one run holds: events sorted by step then wall time, how many of
    each kind, and sentences about anything that could not be read."""

    run: str
    events: list[StoredEvent]
    kinds: dict[str, int]
    warnings: list[str]
    # Its digest for a search's table as JSON, made when first asked for (run_digest.py).
    digest: str | None = None


class EventStore:
    """Decoded callback events of every run, read through a data provider.

    Args:
      data_provider: TensorBoard's `DataProvider` (`context.data_provider`).
      downsample: records per tag to ask `read_tensors` for.
      max_cache_chars: bound on the cached JSON text of events.
      max_age: seconds a listing of every run's tags is used for to find
        the tags of a few runs.

    Example:

    ```python
    store = EventStore(context.data_provider)
    for run in store.runs(ctx, experiment_id=""):
        print(run.run, len(run.events), run.kinds)
    ```
    """

    def __init__(
        self,
        data_provider: provider.DataProvider,
        *,
        downsample: int = KEEP_ALL,
        max_cache_chars: int = DEFAULT_CACHE_CHARS,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self._provider = data_provider
        self._downsample = downsample
        self._max_chars = max_cache_chars
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._tags: collections.OrderedDict[tuple[str, str, str], _TagEntry] = collections.OrderedDict()
        self._chars = 0
        # (experiment, run) -> (versions of its event tags, merged events)
        self._merged: dict[tuple[str, str], tuple[tuple, RunEvents]] = {}
        self._roles: dict[bytes, tuple[str | None, str | None]] = {}
        self._max_age = max_age
        self._now = time.monotonic
        # experiment -> (when listed, run -> our tags), from a listing of every run
        self._known: dict[str, tuple[float, dict[str, dict[str, str | None]]]] = {}
        # The tab asks `runs` and `many_events` together, each listing every
        # run: requests overlapping in time share one listing (shared_calls).
        self._listings: SharedCalls[dict[str, dict[str, tuple[str | None, Any]]]] = SharedCalls()

    # ------------------------------------------------------------ queries

    def runs(self, ctx: Any, *, experiment_id: str, only: Iterable[str] | None = None) -> list[RunEvents]:
        """Every run that holds callback event records (or those of `only`), sorted by name."""
        listing = self._list(ctx, experiment_id, None if only is None else sorted(set(only)))
        if only is None:
            self._forget_missing(experiment_id, listing)
            self._remember_tags(experiment_id, listing)
        # One read for the changed event tags of every run: the Rust data
        # server takes ~40 ms per answer however small, so per run it would
        # add up. Epoch records (one per epoch, ten times the events of a
        # search) are read only for the runs whose metrics are drawn: with
        # them, listing a search of 3,000 trials took seconds more.
        readable = {
            run: [tag for tag, (role, _) in tags.items() if role == metadata.ROLE_EVENTS]
            for run, tags in listing.items()
        }
        self._entries(ctx, experiment_id, listing, readable)
        return [
            self._run_events(ctx, experiment_id, run, tags) for run, tags in sorted(listing.items()) if tags
        ]

    def run(self, ctx: Any, *, experiment_id: str, run: str) -> RunEvents | None:
        """The events of `run`, or None when it holds no callback events."""
        listing = self._list_few(ctx, experiment_id, [run], frozenset({metadata.ROLE_EVENTS, None}))
        tags = listing.get(run)
        if not tags:
            return None
        return self._run_events(ctx, experiment_id, run, tags)

    def epoch_records(
        self, ctx: Any, *, experiment_id: str, runs: Iterable[str]
    ) -> list[tuple[int, int, float]]:
        """Every (epoch, global step, wall time) epoch end recorded in `runs`:
        with several fits in one directory an epoch is recorded once per fit."""
        listing = self._list_few(ctx, experiment_id, list(runs), frozenset({metadata.ROLE_EPOCHS}))
        return [
            record
            for records in self._epochs_by_run(ctx, experiment_id, listing).values()
            for record in records
        ]

    def _epochs_by_run(
        self, ctx: Any, experiment_id: str, listing: dict[str, dict[str, tuple[str | None, Any]]]
    ) -> dict[str, list[tuple[int, int, float]]]:
        wanted = {
            run: [tag for tag, (role, _) in tags.items() if role == metadata.ROLE_EPOCHS]
            for run, tags in listing.items()
        }
        entries = self._entries(ctx, experiment_id, listing, wanted)
        out: dict[str, list[tuple[int, int, float]]] = {}
        for (run, _), entry in entries.items():
            out.setdefault(run, []).extend(entry.epochs)
        return out

    # ------------------------------------------------------------ internals

    def _role(self, content: bytes) -> tuple[str | None, str | None]:
        """(role, None) for a record we read, or (None, why not)."""
        cached = self._roles.get(content)
        if cached is None:
            cached = metadata.role_or_reason(content)
            if len(self._roles) < 10_000:
                self._roles[content] = cached
        return cached

    def _remember_tags(self, experiment_id: str, listing: dict[str, dict[str, Any]]) -> None:
        known = {run: {tag: role for tag, (role, _) in tags.items()} for run, tags in listing.items()}
        with self._lock:
            if len(self._known) >= 64 and experiment_id not in self._known:
                self._known.clear()  # many experiments (a hosted TensorBoard): keep it bounded
            self._known[experiment_id] = (self._now(), known)

    def _known_tags(
        self, ctx: Any, experiment_id: str, runs: list[str]
    ) -> dict[str, dict[str, str | None]] | None:
        """Our tags (and their roles) of each of `runs` from a listing of every run at most
        `max_age` old (made now if older); None when a run is not in it."""
        with self._lock:
            kept = self._known.get(experiment_id)
        if kept is None or self._now() - kept[0] >= self._max_age:
            listing = self._list(ctx, experiment_id, None)
            self._remember_tags(experiment_id, listing)
            with self._lock:
                kept = self._known[experiment_id]
        if not all(run in kept[1] for run in runs):
            return None
        return {run: kept[1][run] for run in runs}

    def _list_few(
        self, ctx: Any, experiment_id: str, runs: list[str], roles: frozenset[str | None]
    ) -> dict[str, dict[str, tuple[str | None, Any]]]:
        """`_list` of a few runs, each known tag of `roles` listed alone (see
        the module's doc): listing a tag walks its records, and a run's
        epoch records outnumber its events tenfold."""
        known = self._known_tags(ctx, experiment_id, runs)
        if known is None:
            return self._list(ctx, experiment_id, runs)
        out: dict[str, dict[str, tuple[str | None, Any]]] = {}
        for run, tags in known.items():
            out[run] = {}
            for tag in [tag for tag, role in tags.items() if role in roles]:
                out[run].update(self._list(ctx, experiment_id, [run], [tag]).get(run, {}))
        return out

    def _list(
        self, ctx: Any, experiment_id: str, runs: list[str] | None, tags: list[str] | None = None
    ) -> dict[str, dict[str, tuple[str | None, Any]]]:
        """run -> tag -> (role or None, the time series or the reason it is unreadable).

        A listing of every run is shared with the requests that ask for it
        while it is made; callers only read it."""
        if runs is None:
            return self._listings.call(experiment_id, lambda: self._list_now(ctx, experiment_id, None, None))
        return self._list_now(ctx, experiment_id, runs, tags)

    def _list_now(
        self, ctx: Any, experiment_id: str, runs: list[str] | None, tags: list[str] | None
    ) -> dict[str, dict[str, tuple[str | None, Any]]]:
        listing = self._provider.list_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=runs, tags=tags) if runs is not None else None,
        )
        out: dict[str, dict[str, tuple[str | None, Any]]] = {}
        for run, run_tags in listing.items():
            out.setdefault(run, {})
            for tag, series in run_tags.items():
                role, why = self._role(series.plugin_content)
                out[run][tag] = (role, series) if role is not None else (None, why)
        return out

    def _entries(
        self,
        ctx: Any,
        experiment_id: str,
        listing: dict[str, dict[str, tuple[str | None, Any]]],
        wanted: dict[str, list[str]],
    ) -> dict[tuple[str, str], _TagEntry]:
        """Up-to-date entries for the `wanted` tags of each run; reads only
        the tags that changed since they were decoded."""
        wanted_keys = [(run, tag) for run, tags in wanted.items() for tag in tags]
        found, stale = self._lookup(experiment_id, listing, wanted_keys)
        if stale:
            # One reader at a time: requests arriving together (the tab asks
            # for several runs at once) wait for one decode instead of each
            # decoding the same records; with the GIL they would not run in
            # parallel anyway.
            with self._read_lock:
                more, stale = self._lookup(experiment_id, listing, list(stale))
                found.update(more)
                if stale:
                    found.update(self._read(ctx, experiment_id, listing, stale))
        return found

    def _lookup(
        self,
        experiment_id: str,
        listing: dict[str, dict[str, tuple[str | None, Any]]],
        keys: list[tuple[str, str]],
    ) -> tuple[dict[tuple[str, str], _TagEntry], dict[tuple[str, str], tuple[int, float]]]:
        """(entries still current, versions of the stale ones) for `keys`."""
        found: dict[tuple[str, str], _TagEntry] = {}
        stale: dict[tuple[str, str], tuple[int, float]] = {}
        with self._lock:
            for run, tag in keys:
                series = listing[run][tag][1]
                version = (series.max_step, series.max_wall_time)
                key = (experiment_id, run, tag)
                entry = self._tags.get(key)
                if entry is not None and entry.version == version:
                    self._tags.move_to_end(key)
                    found[(run, tag)] = entry
                else:
                    stale[(run, tag)] = version
        return found, stale

    def _read_tensors(self, ctx: Any, experiment_id: str, keys: list[tuple[str, str]]) -> dict:
        """`read_tensors` for `keys`, split in halves when one answer would
        be too large for the data server's gRPC channel (256 MiB)."""
        try:
            return self._provider.read_tensors(
                ctx,
                experiment_id=experiment_id,
                plugin_name=metadata.PLUGIN_NAME,
                downsample=self._downsample,
                run_tag_filter=provider.RunTagFilter(
                    runs=sorted({run for run, _ in keys}), tags=sorted({tag for _, tag in keys})
                ),
            )
        except Exception as e:
            if not answer_too_large(e) or len(keys) < 2:
                raise
        half = len(keys) // 2
        data = self._read_tensors(ctx, experiment_id, keys[:half])
        for run, tags in self._read_tensors(ctx, experiment_id, keys[half:]).items():
            data.setdefault(run, {}).update(tags)
        return data

    def _read(
        self,
        ctx: Any,
        experiment_id: str,
        listing: dict[str, dict[str, tuple[str | None, Any]]],
        stale: dict[tuple[str, str], tuple[int, float]],
    ) -> dict[tuple[str, str], _TagEntry]:
        """Reads and decodes the `stale` tags, a chunk of runs at a time."""
        by_run: dict[str, list[tuple[str, str]]] = {}
        for key in sorted(stale):
            by_run.setdefault(key[0], []).append(key)
        runs = list(by_run)
        out: dict[tuple[str, str], _TagEntry] = {}
        for chunk in provider_reads.chunks(runs):
            keys = [key for run in chunk for key in by_run[run]]
            out.update(self._read_chunk(ctx, experiment_id, listing, {key: stale[key] for key in keys}))
        if provider_reads.is_large(runs):
            provider_reads.return_freed_memory()
        return out

    def _read_chunk(
        self,
        ctx: Any,
        experiment_id: str,
        listing: dict[str, dict[str, tuple[str | None, Any]]],
        stale: dict[tuple[str, str], tuple[int, float]],
    ) -> dict[tuple[str, str], _TagEntry]:
        data = self._read_tensors(ctx, experiment_id, sorted(stale))
        out = {}
        for (run, tag), version in stale.items():
            role = listing[run][tag][0]
            with self._lock:
                previous = self._tags.get((experiment_id, run, tag))
            known = previous.records if previous is not None else {}
            entry = _TagEntry(version=version)
            for datum in data.get(run, {}).get(tag, ()):
                if role == metadata.ROLE_EVENTS:
                    _add_record(run, datum, entry, known, event_format.tag_writer(tag))
                else:
                    _decode_epoch(datum, entry)
            out[(run, tag)] = entry
        with self._lock:
            for (run, tag), entry in out.items():
                key = (experiment_id, run, tag)
                old = self._tags.pop(key, None)
                if old is not None:
                    self._chars -= old.chars
                self._tags[key] = entry
                self._chars += entry.chars
            # Oldest first, so what was just read goes last (a read of many
            # runs at once may be larger than the bound by itself).
            while self._chars > self._max_chars and len(self._tags) > 1:
                (eid, run, _), evicted = self._tags.popitem(last=False)
                self._chars -= evicted.chars
                # The run's merged list holds the same events: drop it too,
                # or the memory would not be freed.
                self._merged.pop((eid, run), None)
        return out

    def _run_events(
        self, ctx: Any, experiment_id: str, run: str, tags: dict[str, tuple[str | None, Any]]
    ) -> RunEvents:
        warnings = sorted({why for role, why in tags.values() if role is None})
        event_tags = sorted(tag for tag, (role, _) in tags.items() if role == metadata.ROLE_EVENTS)
        entries = self._entries(ctx, experiment_id, {run: tags}, {run: event_tags})
        versions = (tuple((tag, entries[(run, tag)].version) for tag in event_tags), tuple(warnings))
        cached = self._merged.get((experiment_id, run))
        if cached is not None and cached[0] == versions:
            return cached[1]
        parts = [entries[(run, tag)] for tag in event_tags]
        merged = run_events(run, [p.events for p in parts], sum(p.bad for p in parts), warnings)
        with self._lock:
            self._merged[(experiment_id, run)] = (versions, merged)
        return merged

    def _forget_missing(self, experiment_id: str, listing: dict[str, dict[str, Any]]) -> None:
        """Drops cached runs and tags TensorBoard no longer lists."""
        with self._lock:
            for key in [k for k in self._tags if k[0] == experiment_id and k[2] not in listing.get(k[1], {})]:
                self._chars -= self._tags.pop(key).chars
            for run_key in [k for k in self._merged if k[0] == experiment_id and k[1] not in listing]:
                del self._merged[run_key]


def run_events(run: str, parts: list[list[StoredEvent]], bad: int, warnings: list[str]) -> RunEvents:
    """One run's events from its parts (tags or files, in order), sorted by step then wall time
    (stable: parts' order breaks ties), with its kinds counted and a warning for `bad` records."""
    events = [event for part in parts for event in part]
    events.sort(key=lambda e: (e.step, e.wall_time))
    kinds = collections.Counter(e.kind for e in events)
    if bad:
        warnings = [*warnings, f"{bad} unreadable event record(s) skipped"]
    return RunEvents(run=run, events=events, kinds=dict(sorted(kinds.items())), warnings=warnings)


def _add_record(
    run: str,
    datum: provider.TensorDatum,
    entry: _TagEntry,
    known: dict[tuple[int, float, int], DecodedRecord],
    writer: str | None,
) -> None:
    array = datum.numpy
    size = array.size if isinstance(array, np.ndarray) else -1
    key = (int(datum.step), float(datum.wall_time), size)
    record = known.get(key)
    if record is None:
        record = _decode_record(run, datum, writer)
    entry.records[key] = record
    entry.events.extend(record.events)
    entry.bad += record.bad
    entry.chars += record.chars


def _decode_record(run: str, datum: provider.TensorDatum, writer: str | None) -> DecodedRecord:
    array = datum.numpy
    if not isinstance(array, np.ndarray) or array.dtype != object:
        return DecodedRecord(events=[], bad=1, chars=0)
    return decode_events(run, int(datum.step), array.ravel().tolist(), writer)


def decode_events(run: str, step: int, elements: list[Any], writer: str | None) -> DecodedRecord:
    """The events of one bundle record's `elements` (bytes; anything else is unreadable)."""
    record = DecodedRecord(events=[], bad=0, chars=0)
    raw = [item for item in elements if isinstance(item, bytes)]
    record.bad += len(elements) - len(raw)
    try:
        events, bad = event_format.decode_elements(run, step, raw)
    except Exception:  # noqa: BLE001 - hostile contents must not fail the whole run
        logger.warning("callback_events: unreadable record at step %s of run %r", step, run, exc_info=True)
        record.bad += len(raw)
        return record
    record.bad += bad
    for event in events:
        try:
            text = event_json(event, writer)
        except (ValueError, TypeError, RecursionError):
            record.bad += 1
            continue
        wall_time = event.wall_time if math.isfinite(event.wall_time) else 0.0
        # Thousands of runs hold the same few kinds: one string each.
        kind = sys.intern(event.kind)
        ending = run_digest.train_end_of(event) if kind == "train_end" else None
        record.events.append(
            StoredEvent(event.step, wall_time, kind, text, run_digest.number(event.epoch), ending)
        )
        record.chars += len(text)
    return record


def _decode_epoch(datum: provider.TensorDatum, entry: _TagEntry) -> None:
    array = datum.numpy
    try:
        if array.size != 1 or array.dtype.kind not in "iu":
            raise ValueError(f"epoch record is a {array.dtype} array of shape {array.shape}")
        entry.epochs.append((int(array.reshape(())), int(datum.step), float(datum.wall_time)))
    except (AttributeError, ValueError, TypeError):
        entry.bad += 1
