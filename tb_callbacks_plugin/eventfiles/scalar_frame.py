"""`scalars_dataframe`: every scalar below a logdir as one pandas DataFrame.

Which values are scalars, as TensorBoard's Scalars dashboard and tbparse see
them: every `simple_value` (tf.compat.v1, tensorboardX, PyTorch), and every
scalar-shaped tensor of a tag whose plugin metadata (the first a run's files
carry for that tag) names the "scalars" plugin (`tf.summary.scalar`,
`keras.callbacks.TensorBoard`, `callbacks.TensorBoard`). tbparse lists the
first kind under `SummaryReader(...).scalars` and the second under `.tensors`.
Our own `callback_events/*` tensors are not scalars.

Rows are kept as written: a repeated step is two rows (as tbparse gives
them), and NaN and infinities are values. They are sorted by run, tag and
step, and otherwise keep the order of the files (in name order) and of the
records in them.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from tb_callbacks_plugin import metadata
from tb_callbacks_plugin.event_format import EPOCHS_TAG_PREFIX
from tb_callbacks_plugin.eventfiles import event_reader, scalar_kernels, scalar_layout, storage
from tb_callbacks_plugin.eventfiles.scalar_layout import FileScalars

if TYPE_CHECKING:
    import pandas as pd  # the `pandas` extra
    from tqdm import tqdm  # the `cli` extra

COLUMNS = ("run", "tag", "step", "wall_time", "value")
SCALARS_PLUGIN = "scalars"  # tensorboard.plugins.scalar.metadata.PLUGIN_NAME
# Seconds of reading before the progress bar shows itself; the variable is
# the CLI's too (tests set it to 0).
PROGRESS_DELAY = 1.0
PROGRESS_DELAY_ENV = "TB_CALLBACKS_PROGRESS_DELAY"

Selection = str | re.Pattern | Iterable[str] | None
# Files decoded at once (one per core, up to this many): each holds its
# file's bytes while it is decoded.
_MAX_THREADS = 8


def _matcher(selection: Selection, what: str) -> Callable[[str], bool] | None:
    """A predicate for `runs=` / `tags=`: a name, a list of names, or a compiled regex (searched)."""
    if selection is None:
        return None
    if isinstance(selection, re.Pattern):
        return lambda name: selection.search(name) is not None
    if isinstance(selection, str):
        return selection.__eq__
    names = frozenset(selection)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what} must be a name, a list of names or a compiled regular expression")
    return names.__contains__


class _Series:
    """The rows of one run gathered file by file, resolved into scalars at the end."""

    def __init__(self) -> None:
        # One chunk per file and tag, in record order; `record` is dropped
        # (files are ordered by index), saving a quarter of the memory.
        self.chunks: list[tuple[int, scalar_layout.Rows]] = []
        self.plugins: dict[str, tuple[int, int, str]] = {}  # tag -> (file, record, plugin)

    def add(self, file_index: int, found: FileScalars) -> None:
        by_tag: dict[tuple[str, bool], list[scalar_layout.Rows]] = {}
        for rows in found.rows:
            by_tag.setdefault((rows.tag, rows.tensor), []).append(rows)
        empty = np.zeros(0, dtype=np.int64)
        for (tag, tensor), parts in by_tag.items():
            parts.sort(key=lambda r: int(r.record[0]))
            if all(int(a.record[-1]) < int(b.record[0]) for a, b in itertools.pairwise(parts)):
                # One after another (a large file's segments): kept apart, copied once at the end.
                in_order = [(r.step, r.wall_time, r.value) for r in parts]
            else:
                in_order = [_in_order([(0, r) for r in parts], by="record")]
            for step, wall, value in in_order:
                self.chunks.append((file_index, scalar_layout.Rows(tag, tensor, empty, step, wall, value)))
        for record, tag, plugin in found.plugins:
            seen = self.plugins.get(tag)
            if seen is None or (file_index, record) < seen[:2]:
                self.plugins[tag] = (file_index, record, plugin)

    def scalars(self) -> dict[str, list[tuple[int, scalar_layout.Rows]]]:
        by_tag: dict[str, list[tuple[int, scalar_layout.Rows]]] = {}
        for file_index, rows in self.chunks:
            if rows.tensor and self.plugins.get(rows.tag, (0, 0, ""))[2] != SCALARS_PLUGIN:
                continue
            by_tag.setdefault(rows.tag, []).append((file_index, rows))
        return by_tag

    def epochs(self) -> list[tuple[int, int, float]]:
        """`(epoch, step, wall_time)` of this run's epoch-end records (see `event_format`)."""
        out = []
        for _, rows in self.chunks:
            if not rows.tag.startswith(EPOCHS_TAG_PREFIX):
                continue
            if self.plugins.get(rows.tag, (0, 0, ""))[2] != metadata.PLUGIN_NAME:
                continue
            for epoch, step, wall in zip(
                rows.value.tolist(), rows.step.tolist(), rows.wall_time.tolist(), strict=True
            ):
                if math.isfinite(epoch):
                    out.append((int(epoch), step, wall))
        return out


def _in_order(
    chunks: list[tuple[int, scalar_layout.Rows]], by: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chunks' rows concatenated in (file, record) order (`by="record"`, chunks
    of one file) or file order (`by="file"`, one chunk per file and tag)."""
    if len(chunks) == 1:
        rows = chunks[0][1]
        return rows.step, rows.wall_time, rows.value
    if by == "record":
        position = np.concatenate([r.record for _, r in chunks])
    else:
        position = np.repeat([f for f, _ in chunks], [len(r.step) for _, r in chunks])
    order = np.argsort(position, kind="stable") if np.any(np.diff(position) < 0) else None
    columns = []
    for name in ("step", "wall_time", "value"):
        column = np.concatenate([getattr(r, name) for _, r in chunks])
        columns.append(column if order is None else column[order])
    return columns[0], columns[1], columns[2]


def _merge(chunks: list[tuple[int, scalar_layout.Rows]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One tag's rows in (step, file, record) order."""
    step, wall, value = _in_order(chunks, by="file")
    if len(step) > 1 and np.any(np.diff(step) < 0):
        order = np.argsort(step, kind="stable")  # stable: ties keep the file order
        step, wall, value = step[order], wall[order], value[order]
    return step, wall, value


def _decoded(
    logdir: str,
    paths: list[str],
    storage_options: dict[str, Any] | None,
    want_tag: Callable[[str], bool] | None,
) -> Iterator[tuple[str, FileScalars | None]]:
    """Each file's scalars (None for a file removed since it was listed), in the order of `paths`.

    Local files are read and decoded in threads, one file per core at a
    time: the decoding is numpy or compiled loops that release the GIL, and
    only the decoded columns (not the files' bytes) outlive a file. Decoding
    runs at most one file per thread ahead of the consumer; a large file is
    read a segment at a time (`scalar_layout.SEGMENT_BYTES`).
    """
    if storage.local_path(logdir) is not None:
        # Each thread keeps one reader: what it learns of one file's layouts
        # serves the next (see scalar_layout.FileReader).
        compiled = _total_size(paths) >= scalar_kernels.MIN_BYTES
        local = threading.local()

        def read(path: str) -> FileScalars | None:
            reader = getattr(local, "reader", None)
            if reader is None:
                reader = local.reader = scalar_layout.FileReader(want_tag, compiled=compiled)
            return reader.read_path(storage.local_path(path) or path)

        workers = min(len(paths), os.cpu_count() or 1, _MAX_THREADS)
        if workers <= 1:
            yield from ((path, read(path)) for path in paths)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="scalars") as pool:
            ahead: deque[tuple[str, Future[FileScalars | None]]] = deque()
            for path in paths:
                ahead.append((path, pool.submit(read, path)))
                if len(ahead) >= workers:
                    done, future = ahead.popleft()
                    yield done, future.result()
            while ahead:
                done, future = ahead.popleft()
                yield done, future.result()
        return
    # A store answers a batch of files in one round trip (see storage.Backend.read_many).
    contents = storage.backend_for(logdir, storage_options).read_many(paths)
    # Sizes are known only as files arrive: large ones go to a compiled reader.
    small, large = (scalar_layout.FileReader(want_tag, compiled=c) for c in (False, True))
    while True:
        try:
            path, buf = next(contents)
        except StopIteration:
            return
        except Exception as e:  # noqa: BLE001 - every library raises its own
            raise storage.error_for("read", logdir, e) from e
        yield path, (large if len(buf) >= scalar_kernels.MIN_BYTES else small).read_buffer(buf, path)


def _total_size(paths: list[str]) -> int:
    """The bytes of the local files `paths` (those still there)."""
    total = 0
    for path in paths:
        try:
            total += os.path.getsize(storage.local_path(path) or path)
        except OSError:
            continue
    return total


def _progress_delay() -> float:
    try:
        return float(os.environ.get(PROGRESS_DELAY_ENV, PROGRESS_DELAY))
    except ValueError:
        return PROGRESS_DELAY


def _progress_bar(paths: list[str], enabled: bool) -> tuple[tqdm | None, dict[str, int]]:
    if not enabled:
        return None, {}
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional (the `cli` extra): read without a bar
        return None, {}
    local_paths = {p: storage.local_path(p) for p in paths}
    local = all(p is not None for p in local_paths.values())
    sizes: dict[str, int] = dict.fromkeys(paths, 1)  # a size per object would cost a round trip each
    if local:
        for path, on_disk in local_paths.items():
            try:
                sizes[path] = os.path.getsize(on_disk) if on_disk is not None else 0
            except OSError:
                sizes[path] = 0
    bar = tqdm(
        total=sum(sizes.values()),
        desc="reading scalars",
        unit="B" if local else "file",
        unit_scale=local,
        delay=_progress_delay(),
        leave=False,
        file=sys.stderr,
        mininterval=0.2,
    )
    return bar, sizes


def read_scalar_columns(
    logdir: str | os.PathLike,
    *,
    runs: Selection = None,
    tags: Selection = None,
    progress: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns of `scalars_dataframe` as numpy arrays, without pandas.

    Returns:
      `{"run": [names], "tag": [names], "run_code", "tag_code": int32 arrays
      indexing those lists, "step", "wall_time", "value"}`, rows sorted by
      run, tag and step. The name lists are sorted, so codes sort as names do.
      Also `"epochs"`: run -> `(epoch, step, wall_time)` of the epoch ends
      `callbacks.TensorBoard` recorded (for drawing epoch-indexed series on
      the step axis).
    """
    want_run = _matcher(runs, "runs")
    found = event_reader.find_runs(logdir, storage_options=storage_options)
    if want_run is not None:
        found = {run: paths for run, paths in found.items() if want_run(run)}
    return next(_column_groups(logdir, found, [list(found)], tags, progress, storage_options))


def iter_scalar_columns(
    logdir: str | os.PathLike,
    groups: Iterable[list[str]],
    *,
    tags: Selection = None,
    progress: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """`read_scalar_columns` of each group of runs in turn (runs named as `find_runs`
    names them; unknown names are ignored), with only one group's rows in
    memory at a time: `tb-callbacks export` writes a partition per
    experiment as it goes, so a logdir larger than memory exports."""
    found = event_reader.find_runs(logdir, storage_options=storage_options)
    listed = [[run for run in group if run in found] for group in groups]
    return _column_groups(logdir, found, listed, tags, progress, storage_options)


def _column_groups(
    logdir: str | os.PathLike,
    found: dict[str, list[str]],
    groups: list[list[str]],
    tags: Selection,
    progress: bool,
    storage_options: dict[str, Any] | None,
) -> Iterator[dict[str, Any]]:
    want_tag = tag_filter(tags)
    paths = [path for group in groups for run in group for path in found[run]]
    bar, sizes = _progress_bar(paths, progress)
    try:
        decoded = _decoded(os.fspath(logdir), paths, storage_options, want_tag)
        # A store may answer out of order, or not at all for a file removed since listing.
        arrived: dict[str, FileScalars | None] = {}
        for group in groups:
            columns = ColumnsBuilder()
            for run in group:
                columns.include(run)
                for index, path in enumerate(found[run]):
                    while path not in arrived:
                        got = next(decoded, None)
                        if got is None:
                            break
                        arrived[got[0]] = got[1]
                    scalars = arrived.pop(path, None)
                    if scalars is not None:
                        columns.add(run, index, scalars)
                    if bar is not None:
                        bar.update(sizes.get(path, 0))
            yield columns.columns()
    finally:
        if bar is not None:
            bar.close()


def tag_filter(tags: Selection) -> Callable[[str], bool] | None:
    """The tags to keep for `tags=` (None: all), epoch ends always among them: they place
    epoch-indexed series on the step axis."""
    wanted = _matcher(tags, "tags")
    return None if wanted is None else (lambda tag: tag.startswith(EPOCHS_TAG_PREFIX) or wanted(tag))


class ColumnsBuilder:
    """`read_scalar_columns`' answer for a group of runs, from each of their files' `FileScalars`
    as a reader decoded them (file `index` in the run's name order), so a caller that reads
    the files for something else too (the CLI's events) reads them once.

    Args:
      want_tag: only the rows of these tags (`tag_filter`); the reader may have
        been asked for more.
    """

    def __init__(self, want_tag: Callable[[str], bool] | None = None) -> None:
        self.want_tag = want_tag
        self._series: dict[str, _Series] = {}

    def add(self, run: str, index: int, found: FileScalars) -> None:
        if run not in self._series:
            self._series[run] = _Series()
        if self.want_tag is not None:
            kept = [rows for rows in found.rows if self.want_tag(rows.tag)]
            found = FileScalars(rows=kept, plugins=found.plugins)
        self._series[run].add(index, found)

    def include(self, run: str) -> None:
        """Lists `run` among the answer's runs (and their epochs) even if none of its files is added."""
        self._series.setdefault(run, _Series())

    def columns(self) -> dict[str, Any]:
        """The columns of every run added (`read_scalar_columns`); the builder is empty after."""
        series, self._series = self._series, {}
        return _assemble(series)


@contextlib.contextmanager
def _small_pages() -> Iterator[None]:
    """numpy asks Linux for transparent huge pages for arrays of 4 MiB and more; where
    the kernel compacts memory to find them when they are first written (THP
    `defrag` set to `madvise`), filling the result's fresh columns cost 5-20x
    more than with ordinary pages (issue 22: 85-350 ms instead of 18 ms per
    36 MB column). The columns are written once, in order, so huge pages would
    gain nothing here: they are allocated without asking."""
    multiarray = sys.modules.get("numpy._core.multiarray") or sys.modules.get("numpy.core.multiarray")
    _set_madvise_hugepage = getattr(multiarray, "_set_madvise_hugepage", None)
    if _set_madvise_hugepage is None:  # another numpy: allocate as it does
        yield
        return
    before = _set_madvise_hugepage(False)
    try:
        yield
    finally:
        _set_madvise_hugepage(before)


def _steps_ascend(steps: list[np.ndarray]) -> bool:
    """Whether the steps of these chunks, one after another, never go down."""
    last = None
    for step in steps:
        if not len(step):
            continue
        if (last is not None and step[0] < last) or (len(step) > 1 and np.any(step[1:] < step[:-1])):
            return False
        last = step[-1]
    return True


def _code_dtype(count: int) -> type[np.signedinteger]:
    """The integer type pandas gives the codes of a categorical of `count` categories."""
    for dtype in (np.int8, np.int16, np.int32):
        if count < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _assemble(series: dict[str, _Series]) -> dict[str, Any]:
    """The columns, filled run by run and tag by tag into arrays allocated once,
    each run's chunks released as soon as they are copied: the peak is the
    result plus about one copy of it, not several."""
    run_names = sorted(series)
    epochs = {run: series[run].epochs() for run in run_names}
    per_run = {run: series[run].scalars() for run in run_names}
    for run in run_names:
        series[run].chunks = []  # per_run holds the scalars' chunks; the rest goes now
    tag_names = sorted({tag for tags in per_run.values() for tag in tags})
    tag_code = {tag: i for i, tag in enumerate(tag_names)}
    total = sum(len(rows.step) for tags in per_run.values() for chunks in tags.values() for _, rows in chunks)
    with _small_pages():
        out = {
            "run_code": np.empty(total, dtype=_code_dtype(len(run_names))),
            "tag_code": np.empty(total, dtype=_code_dtype(len(tag_names))),
            "step": np.empty(total, dtype=np.int64),
            "wall_time": np.empty(total, dtype=np.float64),
            "value": np.empty(total, dtype=np.float64),
        }
    at = 0
    for r, run in enumerate(run_names):
        tags = per_run.pop(run)
        for tag in sorted(tags):
            chunks = tags.pop(tag)
            if _steps_ascend([rows.step for _, rows in chunks]):
                # The usual case: the chunks are already the tag's rows in order.
                parts = [(rows.step, rows.wall_time, rows.value) for _, rows in chunks]
            else:
                parts = [_merge(chunks)]
            end = at + sum(len(step) for step, _, _ in parts)
            out["run_code"][at:end] = r
            out["tag_code"][at:end] = tag_code[tag]
            for step, wall, value in parts:
                stop = at + len(step)
                out["step"][at:stop] = step
                out["wall_time"][at:stop] = wall
                out["value"][at:stop] = value
                at = stop
    return {"epochs": epochs, "run": run_names, "tag": tag_names, **out}


def scalars_dataframe(
    logdir: str | os.PathLike,
    *,
    runs: Selection = None,
    tags: Selection = None,
    progress: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Every scalar of every run below `logdir`, one row per recorded value.

    Columns `run, tag, step, wall_time, value` (the rows tbparse's
    `SummaryReader(logdir, extra_columns={"dir_name", "wall_time"})` gives,
    `.scalars` and the scalar tags of `.tensors` together, with `dir_name`
    named as TensorBoard names runs: "." for the logdir itself). `run` and
    `tag` are categoricals, `step` int64, `wall_time` and `value` float64.
    No TensorFlow is needed; damaged records are skipped with a
    `CorruptRecordWarning`. A progress bar shows on stderr when reading takes
    over a second (if tqdm is installed).

    Args:
      logdir: a directory, or a URL such as `s3://bucket/logs`.
      runs: only these runs: a name, a list of names, or a compiled regular
        expression searched in each name.
      tags: only these tags, given the same way.
      progress: show the progress bar on slow reads.
      storage_options: options for the fsspec file system of a URL.

    Example:

    ```python
    from tb_callbacks_plugin import scalars_dataframe
    df = scalars_dataframe("logs", tags=["epoch_loss"])
    df.pivot_table(index="step", columns="run", values="value")
    ```
    """
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError("scalars_dataframe needs pandas: pip install 'tb-callbacks-plugin[pandas]'") from e
    columns = read_scalar_columns(
        logdir, runs=runs, tags=tags, progress=progress, storage_options=storage_options
    )
    return pd.DataFrame(
        {
            "run": pd.Categorical.from_codes(columns.pop("run_code"), categories=columns["run"]),
            "tag": pd.Categorical.from_codes(columns.pop("tag_code"), categories=columns["tag"]),
            "step": columns.pop("step"),
            "wall_time": columns.pop("wall_time"),
            "value": columns.pop("value"),
        },
        columns=list(COLUMNS),
        copy=False,  # the arrays are ours alone: no second copy of every column
    )
