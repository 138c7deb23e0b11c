"""Reading callback events straight from event files, for scripts and the CLI.

The plugin reads through TensorBoard's data provider instead; this module is
for analysis without a server. Runs are named as TensorBoard names them: the
path of the directory holding event files, relative to the logdir ("." for
the logdir itself). A logdir may be a URL (`s3://bucket/logs`, see
`storage`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from tensorboard.compat.proto import event_pb2

from tb_callbacks_plugin import event_format, metadata
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.eventfiles import hparams, records, storage
from tb_callbacks_plugin.eventfiles.fits import file_fits, fit_of, fit_starts

if TYPE_CHECKING:
    import pandas as pd  # the `pandas` extra

COLUMNS = ("run", "kind", "step", "epoch", "wall_time", "source", "message", "data", "fit")
# events_dataframe's: the event's fields and its experiment's hyperparameters.
DATAFRAME_COLUMNS = (*COLUMNS, "hparams")
_MARKER = event_format.TAG_PREFIX.encode()


def is_event_file(name: str) -> bool:
    return "tfevents" in name


def find_runs(
    logdir: str | os.PathLike, *, storage_options: dict[str, Any] | None = None
) -> dict[str, list[str]]:
    """Maps each run below `logdir` to its event files, in name order.

    Raises:
      FileNotFoundError: `logdir` does not exist.
      OSError: a URL `logdir` cannot be listed.
    """
    local = storage.local_path(logdir)
    if local is None:
        return _find_remote_runs(os.fspath(logdir), storage_options)
    logdir = local
    if not os.path.isdir(logdir):
        raise FileNotFoundError(f"logdir not found: {logdir}")
    runs: dict[str, list[str]] = {}
    for dirpath, filenames in _walk_as_tensorboard(logdir):
        files = sorted(f for f in filenames if is_event_file(f) and os.path.isfile(os.path.join(dirpath, f)))
        if files:
            run = os.path.relpath(dirpath, logdir).replace(os.sep, "/")
            runs[run] = [os.path.join(dirpath, f) for f in files]
    return runs


def _walk_as_tensorboard(logdir: str) -> Iterator[tuple[str, list[str]]]:
    """(folder, file names) of every folder below `logdir`, in name order, as TensorBoard walks it.

    Both of TensorBoard's loaders follow symbolic links to folders and
    files (the data server walks with `walkdir`'s `follow_links(true)`, the
    Python loader with `gfile.walk`, which recurses into whatever `isdir`
    accepts), so a symlinked run folder is a run, under the link's name.
    A link to a folder that is being walked (its own parent, the logdir)
    would be walked forever: like the data server, which reports such a
    loop and skips it, it is skipped. A folder reached by two links that
    are not a loop is walked twice, as TensorBoard does (two runs).
    """
    chain: dict[str, tuple[tuple[int, int], ...]] = {}
    for dirpath, dirnames, filenames in os.walk(logdir, followlinks=True):
        dirnames.sort()
        if dirpath not in chain:  # the logdir itself
            chain[dirpath] = (_identity(dirpath),)
        ancestors = chain.pop(dirpath)
        keep = []
        for name in dirnames:
            try:
                identity = _identity(os.path.join(dirpath, name))
            except OSError:
                continue  # vanished, or a link that cannot be followed
            if identity in ancestors:
                continue  # a loop
            chain[os.path.join(dirpath, name)] = (*ancestors, identity)
            keep.append(name)
        dirnames[:] = keep
        yield dirpath, filenames


def _identity(path: str) -> tuple[int, int]:
    """The folder `path` leads to (device and inode, links followed)."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _find_remote_runs(logdir: str, storage_options: dict[str, Any] | None) -> dict[str, list[str]]:
    backend = storage.backend_for(logdir, storage_options)
    try:
        if not backend.isdir(logdir):
            raise FileNotFoundError(f"logdir not found: {logdir}")
        files = backend.find_files(logdir)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - every library raises its own
        raise storage.error_for("list", logdir, e) from e
    runs: dict[str, list[str]] = {}
    for url in files:
        folder, name = url.rsplit("/", 1)
        if is_event_file(name):
            runs.setdefault(storage.relative(folder, logdir), []).append(url)
    return {run: sorted(runs[run]) for run in sorted(runs)}


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
    """Events of one event file (a path or a URL), damage skipped with warnings."""
    yield from buffer_events(storage.read_bytes(path), path, run, roles)


def buffer_events(
    buf: storage.Contents, path: str, run: str, roles: _RoleCache | None = None
) -> Iterator[Event]:
    """Events of one event file's bytes (read from `path`), damage skipped with warnings."""
    yield from _buffer_events(buf, path, run, roles or _RoleCache())


def _buffer_events(
    buf: storage.Contents,
    path: str,
    run: str,
    roles: _RoleCache,
    checked: tuple[np.ndarray, np.ndarray] | None = None,
) -> Iterator[Event]:
    tag_roles: dict[str, str] = {}
    bad = 0
    if checked is None:
        datas: Iterable[bytes] = records.iter_records(buf, name=path, marker=_MARKER)
    else:  # records already framed and checked (see EventCollector.add)
        spans = zip(checked[0].tolist(), checked[1].tolist(), strict=True)
        datas = (buf[a : a + n] for a, n in spans if buf.find(_MARKER, a, a + n) != -1)
    for data in datas:
        try:
            event = event_pb2.Event.FromString(data)
        except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
            bad += 1
            continue
        for value in event.summary.value:
            plugin = value.metadata.plugin_data
            role: str | None
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


def sort_file_events(files: Iterable[tuple[str, Iterable[Event]]]) -> list[Event]:
    """The events of `(event file, its events)` pairs by run, step and wall time, each with its `fit`.

    A fit is one writer's file (`fits.FitRule`): every event of a file
    holding a fit's `train_begin` is that fit's, even when another process
    fitting into the same log_dir began later.
    """
    by_run: dict[str | None, list[tuple[str, list[Event]]]] = {}
    for path, file_events in files:
        listed = list(file_events)
        if listed:
            by_run.setdefault(listed[0].run, []).append((path, listed))
    out: list[Event] = []
    for run_files in by_run.values():
        for (_, listed), fits_of_file in zip(run_files, file_fits(run_files), strict=True):
            for event, fit in zip(listed, fits_of_file, strict=True):
                # The dataclass is frozen for users; the reader fills this in once.
                object.__setattr__(event, "fit", fit)
            out.extend(listed)
    return sorted(out, key=lambda e: (e.run, e.step, e.wall_time))


def sort_events(events: Iterable[Event]) -> list[Event]:
    """`events` by run, step and wall time, each with its `fit` set by time alone (`fits.fit_of`).

    For events whose files are unknown; `sort_file_events` when they are known.
    """
    ordered = sorted(events, key=lambda e: (e.run, e.step, e.wall_time))
    by_run: dict[str | None, list[Event]] = {}
    for event in ordered:
        by_run.setdefault(event.run, []).append(event)
    for run_events in by_run.values():
        starts = fit_starts(run_events)
        if len(starts) < 2:
            continue  # one fit (or none): every event keeps fit 0
        for event in run_events:
            # The dataclass is frozen for users; the reader fills this in once.
            object.__setattr__(event, "fit", fit_of(event.wall_time, starts))
    return ordered


def read_events(logdir: str | os.PathLike, *, storage_options: dict[str, Any] | None = None) -> list[Event]:
    """Every callback event of every run below `logdir`.

    Sorted by run, then step, then wall time. Each event's `hparams` are its
    experiment's (its fit's, when several fits of one log_dir each started
    an HParams session), as `eventfiles.hparams` reads them. Damaged records
    are skipped with a `CorruptRecordWarning`; a record of a newer format
    version raises `UnsupportedVersionError`.

    Args:
      logdir: a directory, or a URL such as `s3://bucket/logs`.
      storage_options: options for the fsspec file system of a URL.
    """
    collected = EventCollector()
    runs = find_runs(logdir, storage_options=storage_options)
    for run, path, buf in file_contents(logdir, runs, storage_options=storage_options):
        collected.add(buf, path, run)
    return collected.events()


class EventCollector:
    """The events and HParams sessions of files read one by one (each file's bytes read
    once by the caller, who may decode other things from them), for
    `read_events` and the CLI."""

    def __init__(self) -> None:
        self._roles = _RoleCache()
        self._files: list[tuple[str, list[Event]]] = []  # per file: a fit is one writer's file
        self._sessions: list[hparams.Session] = []

    def add(
        self,
        buf: storage.Contents,
        path: str,
        run: str,
        checked: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[Event]:
        """Reads one file's events and sessions; returns its events (damage skipped with warnings).

        `checked`: `(data starts, lengths)` of the file's records that may hold events, each
        framed and CRC-checked already (`scalar_layout.FileScalars.others`, for a file
        without damage); only those are read.
        """
        events = list(_buffer_events(buf, path, run, self._roles, checked))
        self._files.append((path, events))
        self._sessions.extend(hparams.buffer_sessions(buf, run, name=path))
        return events

    def events(self) -> list[Event]:
        """Every event added, as `read_events` gives them (sorted, with fits and hparams)."""
        return hparams.attach(sort_file_events(self._files), self._sessions)


def file_contents(
    logdir: str | os.PathLike, runs: dict[str, list[str]], *, storage_options: dict[str, Any] | None = None
) -> Iterator[tuple[str, str, bytes]]:
    """(run, path, bytes) of every file of `runs` (as `find_runs` gives them), each read once.

    A URL logdir's files are fetched concurrently (see
    `storage.Backend.read_many`): a round trip per file would dominate
    reading a bucket. Its errors come as `OSError` (`storage.error_for`).
    """
    logdir = os.fspath(logdir)
    run_of = {path: run for run, paths in runs.items() for path in paths}
    if storage.local_path(logdir) is not None:
        for path, run in run_of.items():
            yield run, path, storage.read_bytes(path)
        return
    backend = storage.backend_for(logdir, storage_options)
    contents = backend.read_many(list(run_of))
    while True:
        try:
            url, buf = next(contents)
        except StopIteration:
            return
        except Exception as e:  # noqa: BLE001 - every library raises its own
            raise storage.error_for("read", logdir, e) from e
        yield run_of[url], url, buf


def events_dataframe(
    logdir: str | os.PathLike, *, storage_options: dict[str, Any] | None = None
) -> pd.DataFrame:
    """`read_events(logdir)` as a pandas DataFrame with one column per field.

    Columns: run, kind, step, epoch, wall_time, source, message, data, fit
    (which fit of the run dir the event belongs to, 0-based) and hparams
    (the experiment's hyperparameters as a dict, None outside a search).

    Example:

    ```python
    df = events_dataframe("logs")
    df[df.kind == "early_stop"].groupby(["run", "fit"]).step.first()
    # which learning rates ended in NaN
    ends = df[df.kind == "train_end"]
    ends[ends.data.str["reason"] == "nan"].hparams.str["learning_rate"]
    ```
    """
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError("events_dataframe needs pandas: pip install 'tb-callbacks-plugin[pandas]'") from e
    events = read_events(logdir, storage_options=storage_options)
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
            "fit": pd.array([e.fit for e in events], dtype="int64"),
            "hparams": [e.hparams for e in events],
        },
        columns=list(DATAFRAME_COLUMNS),
    )
    return frame
