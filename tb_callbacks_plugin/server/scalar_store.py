"""Metric series as TensorBoard's data provider serves them, read a chunk of
runs at a time.

The tab asks for one series per run, six requests at a time (the browser's
connection limit). TensorBoard's Rust data server answers a `read_scalars`
of one run's 1,000 points in about 44 ms and of a hundred runs' in about
64 ms (measured here; a small answer takes 0.2 ms): the time is a fixed
delay per answer, not the data. So a series that is not kept is read
together with the same tag of the runs around it (`chunk_runs` runs in name
order, the order the tab asks in), and the others' requests find theirs.

Freshness: every request first lists its own run and tag (a small, fast
answer); a kept series is served only while its `(max_step,
max_wall_time)` is the listed one, else its chunk is read again. Kept
series are bounded in points and the least recently used go first.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tensorboard.data import provider
from tensorboard.plugins.scalar import metadata as scalar_metadata

from tb_callbacks_plugin.server import provider_reads
from tb_callbacks_plugin.server.provider_reads import KEEP_ALL, answer_too_large

DEFAULT_CHUNK_RUNS = 64
DEFAULT_MAX_POINTS = 4_000_000


@dataclass(frozen=True, slots=True)
class Series:
    """One run's points of one tag, in the order the data provider gave them."""

    steps: np.ndarray  # int64
    wall_times: np.ndarray  # float64
    values: np.ndarray  # float64

    @classmethod
    def from_data(cls, points: Sequence[Any]) -> Series:
        n = len(points)
        return cls(
            steps=np.fromiter((p.step for p in points), dtype=np.int64, count=n),
            wall_times=np.fromiter((p.wall_time for p in points), dtype=np.float64, count=n),
            values=np.fromiter((p.value for p in points), dtype=np.float64, count=n),
        )

    @property
    def version(self) -> tuple[int, float] | None:
        """What `list_scalars` says of these points: (max_step, max_wall_time)."""
        if not len(self.steps):
            return None
        return int(self.steps.max()), float(self.wall_times.max())


class ScalarStore:
    """Scalar series of TensorBoard's scalars plugin, kept while current.

    Args:
      data_provider: TensorBoard's `DataProvider` (`context.data_provider`).
      chunk_runs: runs read together when one of them is asked for.
      max_points: bound on the points kept over all series.

    Example:

    ```python
    store = ScalarStore(context.data_provider)
    series = store.series(ctx, experiment_id="", run="exp/train", tag="epoch_loss", all_runs=names)
    ```
    """

    def __init__(
        self,
        data_provider: provider.DataProvider,
        *,
        chunk_runs: int = DEFAULT_CHUNK_RUNS,
        max_points: int = DEFAULT_MAX_POINTS,
    ) -> None:
        self._provider = data_provider
        self._chunk_runs = max(1, chunk_runs)
        self._max_points = max_points
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._kept: collections.OrderedDict[tuple[str, str, str], Series] = collections.OrderedDict()
        self._points = 0

    def series(
        self, ctx: Any, *, experiment_id: str, run: str, tag: str, all_runs: Sequence[str]
    ) -> Series | None:
        """The points of `tag` in `run`, or None when the run has no such tag.

        `all_runs` are the experiment's run names, sorted; the chunk read
        with `run` is taken from them.
        """
        listing = self._provider.list_scalars(
            ctx,
            experiment_id=experiment_id,
            plugin_name=scalar_metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        listed = listing.get(run, {}).get(tag)
        if listed is None:
            return None
        version = (listed.max_step, listed.max_wall_time)
        key = (experiment_id, tag, run)
        found = self._current(key, version)
        if found is not None:
            return found
        # One reader at a time: the requests of one chunk arrive together,
        # and all but the first then find their series read.
        with self._read_lock:
            found = self._current(key, version)
            if found is not None:
                return found
            read = self._read(ctx, experiment_id, tag, self._chunk_of(run, all_runs))
            if run not in read:
                read.update(self._read(ctx, experiment_id, tag, [run]))
            self._keep(experiment_id, tag, read)
        return read.get(run)

    def many(self, ctx: Any, *, experiment_id: str, tag: str, runs: list[str] | None) -> dict[str, Series]:
        """The points of `tag` in each of `runs` (every run when None) that
        has it: one listing, then reads (`provider_reads.READ_CHUNK_RUNS`
        runs each) of the series not kept or changed (TensorBoard's Python
        loader converts each point on every read, ~30 us a point, so a
        search's every series is read once, not per load)."""
        listing = self._provider.list_scalars(
            ctx,
            experiment_id=experiment_id,
            plugin_name=scalar_metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=runs, tags=[tag]),
        )
        found: dict[str, Series] = {}
        stale: list[str] = []
        for run in sorted(listing):
            listed = listing[run].get(tag)
            if listed is None:
                continue
            kept = self._current((experiment_id, tag, run), (listed.max_step, listed.max_wall_time))
            if kept is None:
                stale.append(run)
            else:
                found[run] = kept
        if stale:
            with self._read_lock:
                for chunk in provider_reads.chunks(stale):
                    read = self._read(ctx, experiment_id, tag, chunk)
                    if len(read) < len(chunk):
                        # Over the data server's answer limit: fewer runs at a time.
                        for start in range(0, len(chunk), self._chunk_runs):
                            read.update(
                                self._read(ctx, experiment_id, tag, chunk[start : start + self._chunk_runs])
                            )
                    self._keep(experiment_id, tag, read)
                    found.update(read)
            if provider_reads.is_large(stale):
                provider_reads.return_freed_memory()
        return found

    def _current(self, key: tuple[str, str, str], version: tuple[int, float]) -> Series | None:
        with self._lock:
            series = self._kept.get(key)
            if series is None or series.version != version:
                return None
            self._kept.move_to_end(key)
            return series

    def _chunk_of(self, run: str, all_runs: Sequence[str]) -> list[str]:
        try:
            index = list(all_runs).index(run)
        except ValueError:
            return [run]
        start = index - index % self._chunk_runs
        return list(all_runs[start : start + self._chunk_runs])

    def _read(self, ctx: Any, experiment_id: str, tag: str, runs: list[str] | None) -> dict[str, Series]:
        try:
            data = self._provider.read_scalars(
                ctx,
                experiment_id=experiment_id,
                plugin_name=scalar_metadata.PLUGIN_NAME,
                downsample=KEEP_ALL,
                run_tag_filter=provider.RunTagFilter(runs=runs, tags=[tag]),
            )
        except Exception as e:
            # An answer too large for the data server's gRPC channel: the
            # caller falls back to the one run it needs.
            if (runs is None or len(runs) > 1) and answer_too_large(e):
                return {}
            raise
        return {r: Series.from_data(tags[tag]) for r, tags in data.items() if tag in tags}

    def _keep(self, experiment_id: str, tag: str, read: dict[str, Series]) -> None:
        with self._lock:
            for run, series in read.items():
                key = (experiment_id, tag, run)
                old = self._kept.pop(key, None)
                if old is not None:
                    self._points -= len(old.steps)
                self._kept[key] = series
                self._points += len(series.steps)
            while self._points > self._max_points and self._kept:
                _, evicted = self._kept.popitem(last=False)
                self._points -= len(evicted.steps)
