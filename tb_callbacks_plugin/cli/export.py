"""`tb-callbacks export`: events and scalars as files any query engine reads.

```
DIR/events.parquet/<name>-<hash>/part-0.parquet
DIR/scalars.parquet/<name>-<hash>/part-0.parquet
```

One directory per dataset, partitioned into one folder per experiment
(`<log_dir>` of a `callbacks.TensorBoard`, see `conventions.experiment_of`).
The experiment is exact in the `experiment` column of every file; its
folder is named by `partition_name`, short whatever the run path's depth.
DuckDB, Polars, pandas and pyarrow read a whole sweep at once.

An export is built in a hidden folder inside DIR and renamed into place only
when complete (`publish`): a failing export (a full disk, an interrupt)
leaves the previous one as it was and no temporary folder behind.

events: `experiment, run, kind, step, epoch, fit, wall_time, source,
message, data` (`fit` as in `events_dataframe`: which fit of the run dir;
`data` as a strict JSON string, non-finite numbers as "NaN", "Infinity",
"-Infinity"), `hparams` (the experiment's hyperparameters as a JSON object
string, as `Event.hparams`; null outside a search) and the built-in kinds'
common data fields as typed columns `data_<field>` (null where an event
lacks the field or holds another type). Which learning rates ended in NaN:

```sql
SELECT hparams->>'learning_rate' AS lr, count(*) FROM 'DIR/events.parquet/*/*.parquet'
WHERE kind = 'train_end' AND data_reason = 'nan' GROUP BY lr
``` scalars: `experiment, run, tag, step, wall_time, value`, each experiment's
file written a run at a time as it is read (a Parquet row group per run), so
only one run's rows are ever in memory.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from tb_callbacks_plugin.cli.formatting import strict_dumps
from tb_callbacks_plugin.conventions import experiment_of
from tb_callbacks_plugin.event_format import Event

if TYPE_CHECKING:
    import pyarrow as pa  # the `parquet` extra

FORMATS = ("parquet", "csv", "jsonl")
# The fields that built-in kinds share (DESIGN's kinds table), with their type.
FLAT_FIELDS: tuple[tuple[str, str], ...] = (
    ("reason", "string"),
    ("monitor", "string"),
    ("best", "float"),
    ("best_epoch", "int"),
    ("patience", "int"),
    ("wait", "int"),
    ("old", "float"),
    ("new", "float"),
    ("value", "float"),
    ("filepath", "string"),
    ("batch", "int"),
    ("loss", "float"),
    ("initial_epoch", "int"),
    ("epochs", "int"),
    ("steps", "int"),
)
EVENT_COLUMNS = (
    "experiment",
    "run",
    "kind",
    "step",
    "epoch",
    "fit",
    "wall_time",
    "source",
    "message",
    "data",
    "hparams",
    *(f"data_{name}" for name, _ in FLAT_FIELDS),
)
SCALAR_COLUMNS = ("experiment", "run", "tag", "step", "wall_time", "value")


@dataclass
class Written:
    """What one dataset of an export holds."""

    path: str
    rows: int
    experiments: int


# How much of the experiment's name its folder shows; the hash makes it unique.
_READABLE_CHARS = 60
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def partition_name(experiment: str) -> str:
    """The folder of `experiment`'s partition: the end of its name, made safe, and a hash of all of it.

    At most 73 ASCII bytes however deep the experiment's path (a file name
    may have 255), one folder per experiment (the hash is of the exact
    name), never hidden (readers skip names starting with `.` or `_`). No
    `=` in it: a `key=value` folder is a Hive partition column to DuckDB
    and pyarrow, whose value would stand in for the exact `experiment`
    column of the files.
    """
    readable = _UNSAFE.sub("_", experiment)[-_READABLE_CHARS:].lstrip("._-") or "experiment"
    digest = hashlib.sha256(experiment.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{readable}-{digest}"


def partition_dir(dataset: str, experiment: str) -> str:
    return os.path.join(dataset, partition_name(experiment))


def _typed(value: Any, kind: str) -> Any:
    # bool is an int to Python, but a flag is not a count or a value.
    if kind == "string":
        return value if isinstance(value, str) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if kind == "int":
        return (
            int(value) if isinstance(value, int) or (math.isfinite(value) and value == int(value)) else None
        )
    return float(value)


def event_columns(events: Sequence[Event]) -> dict[str, list]:
    """The events dataset's columns for `events` (one list per column)."""
    columns: dict[str, list] = {
        "experiment": [experiment_of(e.run or ".") for e in events],
        "run": [e.run for e in events],
        "kind": [e.kind for e in events],
        "step": [int(e.step) for e in events],
        "epoch": [e.epoch for e in events],
        "fit": [int(e.fit) for e in events],
        "wall_time": [float(e.wall_time) for e in events],
        "source": [e.source for e in events],
        "message": [e.message for e in events],
        "data": [strict_dumps(e.data) for e in events],
        "hparams": [None if e.hparams is None else strict_dumps(e.hparams) for e in events],
    }
    for name, kind in FLAT_FIELDS:
        columns[f"data_{name}"] = [_typed(e.data.get(name), kind) for e in events]
    return columns


def _arrow_events(columns: dict[str, list]) -> pa.Table:
    import pyarrow as pa

    types = {
        "step": pa.int64(),
        "epoch": pa.int64(),
        "fit": pa.int64(),
        "wall_time": pa.float64(),
        **{
            f"data_{n}": {"string": pa.string(), "int": pa.int64(), "float": pa.float64()}[k]
            for n, k in FLAT_FIELDS
        },
    }
    return pa.table(
        {name: pa.array(values, type=types.get(name, pa.string())) for name, values in columns.items()}
    )


def _arrow_scalars(
    experiment: str, names: list[str], codes: np.ndarray, tags: list[str], rows: dict
) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            # One dictionary entry for every row, without a Python string per row.
            "experiment": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(len(codes), dtype=np.int32)), pa.array([experiment], type=pa.string())
            ),
            "run": pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), pa.array(names)),
            "tag": pa.DictionaryArray.from_arrays(
                pa.array(rows["tag_code"], type=pa.int32()), pa.array(tags)
            ),
            "step": pa.array(rows["step"], type=pa.int64()),
            "wall_time": pa.array(rows["wall_time"], type=pa.float64()),
            "value": pa.array(rows["value"], type=pa.float64()),
        }
    )


def _write_rows(
    f: TextIO, fmt: str, header: Sequence[str], rows: Iterable[Sequence[Any]], *, first: bool
) -> None:
    """`rows` as CSV (after the header, when `first`) or JSON Lines, into the open file `f`."""
    if fmt == "csv":
        writer = csv.writer(f)
        if first:
            writer.writerow(header)
        writer.writerows(rows)
        return
    for row in rows:
        f.write(strict_dumps(dict(zip(header, row, strict=True))))
        f.write("\n")


def _text_file(path: str) -> TextIO:
    return open(path, "w", newline="", encoding="utf-8")  # newline="": csv writes its own line ends


def _csv_cell(value: Any) -> Any:
    # Empty for null (what DuckDB and pandas read back as missing).
    return "" if value is None else value


def write_events(out: str, events: Sequence[Event], fmt: str) -> Written:
    """Writes the events dataset under `out`, one partition per experiment."""
    dataset = os.path.join(out, f"events.{fmt}")
    # The columns of every event at once, then each partition's rows taken from them: a
    # search's thousands of experiments would each pay for building ~25 columns.
    columns = event_columns(events)
    by_experiment: dict[str, list[int]] = {}
    for i, experiment in enumerate(columns["experiment"]):
        by_experiment.setdefault(experiment, []).append(i)
    table = _arrow_events(columns) if fmt == "parquet" else None
    for experiment, rows in sorted(by_experiment.items()):
        folder = partition_dir(dataset, experiment)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"part-0.{fmt}")
        if table is not None:
            import pyarrow.parquet as pq

            pq.write_table(table.take(rows), path)
        else:
            picked: Iterable[Sequence[Any]] = ([values[i] for values in columns.values()] for i in rows)
            if fmt == "csv":
                picked = ([_csv_cell(v) for v in row] for row in picked)
            with _text_file(path) as f:
                _write_rows(f, fmt, list(columns), picked, first=True)
    return Written(dataset, len(events), len(by_experiment))


def _experiment_parts(columns: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(experiment, its rows) of `read_scalar_columns`' answer, in experiment order, each
    experiment's rows still sorted by run, tag and step."""
    runs = columns["run"]
    experiments = sorted({experiment_of(run) for run in runs})
    experiment_code = {name: i for i, name in enumerate(experiments)}
    of_run = np.array([experiment_code[experiment_of(run)] for run in runs], dtype=np.int32)
    row_experiment = of_run[columns["run_code"]] if len(runs) else np.zeros(0, dtype=np.int32)
    if len(experiments) == 1:
        yield experiments[0], columns
        return
    order = np.argsort(row_experiment, kind="stable")  # stable: rows stay sorted by run, tag, step
    cuts = np.flatnonzero(np.diff(row_experiment[order])) + 1
    for part in np.split(order, cuts) if len(order) else []:
        rows = {key: columns[key][part] for key in ("run_code", "tag_code", "step", "wall_time", "value")}
        yield experiments[int(row_experiment[part[0]])], {"run": runs, "tag": columns["tag"], **rows}


class _ScalarPartition:
    """One experiment's scalars file, written a part (a run's rows) at a time: a Parquet
    row group per part (`pyarrow.parquet.ParquetWriter`), or lines appended."""

    def __init__(self, dataset: str, experiment: str, fmt: str) -> None:
        folder = partition_dir(dataset, experiment)
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, f"part-0.{fmt}")
        self.experiment, self.fmt = experiment, fmt
        self._parquet: Any = None
        self._text: TextIO | None = None

    def write(self, rows: dict[str, Any]) -> None:
        runs, tags = rows["run"], rows["tag"]
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            table = _arrow_scalars(self.experiment, runs, rows["run_code"], tags, rows)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table)
            return
        first = self._text is None
        if self._text is None:
            self._text = _text_file(self.path)
        cells = zip(
            [self.experiment] * len(rows["step"]),
            np.array(runs, dtype=object)[rows["run_code"]].tolist(),
            np.array(tags, dtype=object)[rows["tag_code"]].tolist(),
            rows["step"].tolist(),
            rows["wall_time"].tolist(),
            rows["value"].tolist(),
            strict=True,
        )
        _write_rows(self._text, self.fmt, SCALAR_COLUMNS, cells, first=first)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._text is not None:
            self._text.close()


DATASETS = ("events", "scalars")
_STAGING_PREFIX = ".tb-callbacks-export-"


def experiment_groups(runs: Iterable[str]) -> list[list[str]]:
    """`runs` grouped by experiment (one scalars partition each), in experiment order."""
    groups: dict[str, list[str]] = {}
    for run in sorted(runs):
        groups.setdefault(experiment_of(run), []).append(run)
    return [groups[name] for name in sorted(groups)]


def write_scalars_streamed(out: str, parts: Iterable[dict[str, Any]], fmt: str) -> Written:
    """Writes the scalars dataset under `out` from `read_scalar_columns`' answers as they
    come, in experiment order (`loading.load_columns(per_run=True)`: a run at a time), each
    appended to its experiment's file: one run's rows in memory at a time."""
    dataset = os.path.join(out, f"scalars.{fmt}")
    rows = 0
    done: set[str] = set()
    current: _ScalarPartition | None = None
    try:
        for columns in parts:
            for experiment, part in _experiment_parts(columns):
                if current is None or current.experiment != experiment:
                    if current is not None:
                        current.close()
                    if experiment in done:  # its file is closed: a second one would replace it
                        raise ValueError(f"scalars of experiment {experiment!r} came after another's")
                    done.add(experiment)
                    current = _ScalarPartition(dataset, experiment, fmt)
                current.write(part)
                rows += len(part["step"])
    finally:
        if current is not None:
            current.close()
    return Written(dataset, rows, len(done))


def publish(
    out: str, fmt: str, scalars: Iterable[dict[str, Any]], events: Callable[[], Sequence[Event]]
) -> list[Written]:
    """Writes both datasets of format `fmt` under `out`, replacing an earlier export's.

    `scalars` are columns an experiment at a time (see write_scalars_streamed),
    written as they come; `events` gives the events once they are all read.
    Everything is written into a fresh folder inside `out` (same file
    system, so a rename moves it) and each dataset is swapped in by rename
    only when all are written; a dataset this export does not produce is
    removed, so no stale partition stays. Any failure before the swap leaves
    the earlier export untouched; the staging folder is always removed. With
    neither events nor scalars nothing is swapped and nothing is returned.
    """
    created = not os.path.isdir(out)
    os.makedirs(out, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out)
    written: list[Written] = []
    try:
        streamed = write_scalars_streamed(stage, scalars, fmt)
        every = events()
        written = [write_events(stage, every, fmt)] if every else []
        if streamed.rows:
            written.append(streamed)
        if written:
            _swap_in(stage, out, fmt)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not written:
            with contextlib.suppress(OSError):
                os.rmdir(out)  # made here for an export that wrote nothing
    return [Written(os.path.join(out, os.path.basename(w.path)), w.rows, w.experiments) for w in written]


def _swap_in(stage: str, out: str, fmt: str) -> None:
    """Moves the staged datasets over the ones in `out`; the old ones go into `stage` (deleted after).

    A directory cannot be renamed over a non-empty one, so each old dataset
    is first moved aside (and put back if the new one cannot take its place).
    """
    for name in DATASETS:
        dataset = f"{name}.{fmt}"
        target, new, old = (
            os.path.join(out, dataset),
            os.path.join(stage, dataset),
            os.path.join(stage, "old-" + dataset),
        )
        aside = os.path.lexists(target)
        if aside:
            os.rename(target, old)
        if not os.path.exists(new):
            continue
        try:
            os.rename(new, target)
        except OSError:
            if aside:
                os.rename(old, target)
            raise
