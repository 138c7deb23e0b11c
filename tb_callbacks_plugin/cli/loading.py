"""Reading a logdir for a command: its runs, their events and metrics, with a progress bar."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
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
    runs: dict[str, list[str]], passes: Sequence[Callable[[str, str], None]], progress: bool
) -> None:
    """Calls each of `passes` with (run, path) for every file, advancing one progress bar."""
    paths = [path for run_paths in runs.values() for path in run_paths]
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
    bar = _progress_bar(sum(sizes.values()) * len(passes), unit, progress)
    try:
        for read in passes:
            for run, run_paths in runs.items():
                for path in run_paths:
                    try:
                        read(run, path)
                    except FileNotFoundError:
                        continue  # removed since listing (a run being cleaned up)
                    except OSError as e:
                        raise CliError(f"cannot read {path}: {e.strerror or e}") from e
                    if bar is not None:
                        bar.update(sizes[path])
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
    collected = reader.EventCollector()
    metrics: dict[str, RunMetrics] = {}
    # One reader for every file: the layouts learned from one trial's file read the next's in bulk.
    scalar_reader = scalar_layout.FileReader(compiled=_worth_compiling(runs))

    def read_file(run: str, path: str) -> None:
        # One read for events, sessions and scalars: a URL's file would otherwise be fetched twice.
        buf = storage.read_bytes(path)
        if not scalars:
            collected.add(buf, path, run)
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", records.CorruptRecordWarning)  # the events reader's to say
            found = scalar_reader.read_buffer(buf, path)
        # The scalar reader checked every record: events are read from the others alone.
        events = collected.add(buf, path, run, checked=found.others)
        add_scalars(metrics.setdefault(run, RunMetrics(run=run)), found, path, events)

    def read_events(run: str, path: str) -> None:
        if problems is None:
            read_file(run, path)
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            read_file(run, path)
        for warning in caught:
            if issubclass(warning.category, records.CorruptRecordWarning):
                # As the tab says it: of the run, not of a path on this machine.
                text = str(warning.message).removeprefix(f"{path}: ")
                problems.setdefault(run, []).append(f"{os.path.basename(path)}: {text}")
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)

    _for_each_file(runs, [read_events], progress)
    return runs, collected.events(), metrics


def read_scalar_parts(runs: dict[str, list[str]], logdir: str, progress: bool) -> Iterator[dict[str, Any]]:
    """The selected runs' scalar columns one experiment after another (only one in
    memory at a time), skipping experiments without scalars."""
    from tb_callbacks_plugin.cli.export import experiment_groups
    from tb_callbacks_plugin.eventfiles.scalar_frame import iter_scalar_columns

    try:
        parts = iter_scalar_columns(logdir, experiment_groups(runs), progress=progress)
        while True:
            try:
                part = next(parts)
            except StopIteration:
                return
            if len(part["step"]):
                yield part
    except OSError as e:
        raise CliError(f"cannot read {logdir}: {e.strerror or e}") from e


def read_scalars(
    runs: dict[str, list[str]], logdir: str, progress: bool, tags: re.Pattern[str] | None = None
) -> dict[str, Any]:
    """The selected runs' scalars as `read_scalar_columns` gives them (every tag, or those of `tags`)."""
    from tb_callbacks_plugin.eventfiles.scalar_frame import read_scalar_columns

    try:
        return read_scalar_columns(logdir, runs=list(runs), tags=tags, progress=progress)
    except OSError as e:
        raise CliError(f"cannot read {logdir}: {e.strerror or e}") from e


def logdir_name(logdir: str) -> str:
    """The logdir's own folder name: what its top-level runs' experiment is called (not ".")."""
    local = storage.local_path(logdir)
    path = os.path.abspath(local) if local is not None else logdir.rstrip("/")
    return os.path.basename(path.rstrip(os.sep)) or path
