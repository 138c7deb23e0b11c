"""Reading a logdir for a command: its runs, their events and metrics, with a progress bar."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tb_callbacks_plugin.cli.status import CliError
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.eventfiles import event_reader as reader
from tb_callbacks_plugin.eventfiles import records, scalar_kernels, scalar_layout, storage
from tb_callbacks_plugin.eventfiles.scalar_reader import RunMetrics, add_scalars

if TYPE_CHECKING:
    from tqdm import tqdm  # the `cli` extra

# Seconds of reading before a progress bar appears (tests set it to 0).
PROGRESS_DELAY_ENV = "TB_CALLBACKS_PROGRESS_DELAY"


def select_runs(logdir: str, pattern: str | None) -> dict[str, list[str]]:
    local = storage.local_path(logdir)
    if local is not None and not os.path.exists(local):
        raise CliError(f"logdir not found: {logdir}")
    if local is not None and not os.path.isdir(local):
        raise CliError(f"logdir is not a directory: {logdir}")
    try:
        runs = reader.find_runs(logdir)
    except FileNotFoundError:
        raise CliError(f"logdir not found: {logdir}") from None
    except ImportError as e:  # a URL scheme whose file system is not installed
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(f"cannot read logdir {logdir}: {e.strerror or e}") from None
    if pattern is not None:
        regex = re.compile(pattern)
        runs = {run: paths for run, paths in runs.items() if regex.search(run)}
    return runs


def _progress_bar(total: int, unit: str, enabled: bool) -> tqdm | None:
    """A tqdm bar on stderr that shows itself only once reading is slow."""
    try:
        delay = float(os.environ.get(PROGRESS_DELAY_ENV, "1"))
    except ValueError:
        delay = 1.0
    try:
        from tqdm import tqdm
    except ImportError:  # the `cli` extra is optional: read without a bar
        return None
    return tqdm(
        total=total,
        desc="reading event files",
        unit=unit,
        unit_scale=unit == "B",
        delay=delay,
        leave=False,
        file=sys.stderr,
        disable=not enabled,
        mininterval=0.2,
    )


def _for_each_file(
    groups: list[dict[str, list[str]]], read: Callable[[str, int, str], None], progress: bool
) -> Iterator[dict[str, list[str]]]:
    """Calls `read` with (run, index of the file in the run, path) for every file of each
    group of runs in turn, advancing one progress bar; yields each group once read."""
    paths = [path for runs in groups for run_paths in runs.values() for path in run_paths]
    if all(storage.local_path(path) is not None for path in paths):
        sizes = {}
        for path in paths:
            try:
                sizes[path] = os.path.getsize(storage.local_path(path) or path)
            except OSError:
                sizes[path] = 0
        unit = "B"
    else:  # asking a store for every size would cost a round trip each: count files
        sizes = dict.fromkeys(paths, 1)
        unit = "file"
    bar = _progress_bar(sum(sizes.values()), unit, progress)
    try:
        for runs in groups:
            for run, run_paths in runs.items():
                for index, path in enumerate(run_paths):
                    try:
                        read(run, index, path)
                    except FileNotFoundError:
                        continue  # removed since listing (a run being cleaned up)
                    except OSError as e:
                        raise CliError(f"cannot read {path}: {e.strerror or e}") from e
                    if bar is not None:
                        bar.update(sizes[path])
            yield runs
    finally:
        if bar is not None:
            bar.close()


def _worth_compiling(runs: dict[str, list[str]]) -> bool:
    """Whether the local files of `runs` are enough bytes to pay for loading the compiled
    reader (`scalar_kernels.MIN_BYTES`); a store's files are not asked for sizes."""
    total = 0
    for paths in runs.values():
        for path in paths:
            local = storage.local_path(path)
            if local is None:
                return False
            with contextlib.suppress(OSError):
                total += os.path.getsize(local)
            if total >= scalar_kernels.MIN_BYTES:
                return True
    return False


@dataclass
class Loaded:
    """What `load` read: the selected runs and their files, their events (with their
    hyperparameters) and metrics (with `scalars=True`)."""

    runs: dict[str, list[str]]
    events: list[Event] = field(default_factory=list)
    metrics: dict[str, RunMetrics] = field(default_factory=dict)


def load(
    logdir: str,
    run_pattern: str | None,
    *,
    progress: bool,
    scalars: bool,
    problems: dict[str, list[str]] | None = None,
) -> tuple[dict[str, list[str]], list[Event], dict]:
    """(runs and their files, events with their hyperparameters, metrics); `problems` gets each run's
    reader warnings."""
    runs = select_runs(logdir, run_pattern)
    loaded = Loaded(runs)
    for _ in _read(loaded, [runs], progress=progress, metrics=scalars, problems=problems, columns=False):
        pass
    return loaded.runs, loaded.events, loaded.metrics


def load_columns(
    logdir: str,
    run_pattern: str | None,
    *,
    progress: bool,
    per_run: bool,
    tags: re.Pattern[str] | None = None,
    problems: dict[str, list[str]] | None = None,
) -> tuple[Loaded, Iterator[dict[str, Any]]]:
    """`load`'s events and the scalar columns (`scalar_frame.read_scalar_columns`' answer,
    only the tags `tags` matches) in ONE pass over the files: the columns of every run
    at once, or of one run after another in experiment order (`per_run`: only one run's
    rows in memory at a time; runs without scalars skipped). The `Loaded`'s events are
    there once the columns are exhausted."""
    runs = select_runs(logdir, run_pattern)
    loaded = Loaded(runs)
    if per_run:
        from tb_callbacks_plugin.cli.export import experiment_groups

        groups = [{run: runs[run]} for group in experiment_groups(runs) for run in group]
    else:
        groups = [runs]
    parts: Iterator[dict[str, Any]] = _read(
        loaded, groups, progress=progress, metrics=False, problems=problems, tags=tags
    )
    if per_run:
        parts = (part for part in parts if len(part["step"]))
    return loaded, parts


def _read(
    loaded: Loaded,
    groups: list[dict[str, list[str]]],
    *,
    progress: bool,
    metrics: bool,
    problems: dict[str, list[str]] | None,
    tags: re.Pattern[str] | None = None,
    columns: bool = True,
) -> Iterator[dict[str, Any]]:
    """Reads every file of `groups` once, filling `loaded`; yields each group's scalar columns."""
    from tb_callbacks_plugin.eventfiles.scalar_frame import ColumnsBuilder, tag_filter

    collected = reader.EventCollector()
    builder = ColumnsBuilder(tag_filter(tags))
    # One reader for every file: the layouts learned from one trial's file read the next's in bulk.
    scalar_reader = scalar_layout.FileReader(compiled=_worth_compiling(loaded.runs))
    decode = metrics or columns

    def read_file(run: str, index: int, path: str) -> None:
        # One read for events, sessions and scalars: a URL's file would otherwise be fetched twice.
        buf = storage.read_bytes(path)
        if not decode:
            collected.add(buf, path, run)
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", records.CorruptRecordWarning)  # the events reader's to say
            found = scalar_reader.read_buffer(buf, path)
        # The scalar reader checked every record: events are read from the others alone.
        events = collected.add(buf, path, run, checked=found.others)
        if metrics:
            add_scalars(loaded.metrics.setdefault(run, RunMetrics(run=run)), found, path, events)
        if columns:
            builder.add(run, index, found)

    def read_events(run: str, index: int, path: str) -> None:
        if problems is None:
            read_file(run, index, path)
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            read_file(run, index, path)
        for warning in caught:
            if issubclass(warning.category, records.CorruptRecordWarning):
                # As the tab says it: of the run, not of a path on this machine.
                text = str(warning.message).removeprefix(f"{path}: ")
                problems.setdefault(run, []).append(f"{os.path.basename(path)}: {text}")
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)

    for runs in _for_each_file(groups, read_events, progress):
        if columns:
            for run in runs:
                builder.include(run)
            yield builder.columns()
    loaded.events = collected.events()


def logdir_name(logdir: str) -> str:
    """The logdir's own folder name: what its top-level runs' experiment is called (not ".")."""
    local = storage.local_path(logdir)
    path = os.path.abspath(local) if local is not None else logdir.rstrip("/")
    return os.path.basename(path.rstrip(os.sep)) or path
