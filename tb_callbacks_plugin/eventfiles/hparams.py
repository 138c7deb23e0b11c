"""Each experiment's hyperparameters, read from TensorBoard HParams data without TensorFlow.

TensorBoard's hparams API (`hp.hparams(...)`, its Keras callback, and
KerasTuner through it) writes a session's hyperparameters once, when the
session starts, as a summary tagged `_hparams_/session_start_info` whose
plugin content is an `HParamsPluginData` proto. The HParams dashboard treats
the run holding it as the session, and its runs below (`train`,
`validation`) as the session's metric runs: the same grouping as
`conventions.experiment_of`, which names each session here.

Files that do not contain the tag's bytes are skipped with one `bytes.find`,
so a metric file of a million scalars costs a read, not a parse.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf import struct_pb2
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

from tb_callbacks_plugin.conventions import experiment_of
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.eventfiles import records
from tb_callbacks_plugin.eventfiles.fits import fit_of, fit_starts

if TYPE_CHECKING:
    from tb_callbacks_plugin.eventfiles.storage import Contents

HPARAMS_PLUGIN = "hparams"  # tensorboard.plugins.hparams.metadata.PLUGIN_NAME
SESSION_START_TAG = "_hparams_/session_start_info"  # metadata.SESSION_START_INFO_TAG
_MARKER = SESSION_START_TAG.encode()

HParamValue = float | str | bool


@dataclass(frozen=True)
class Session:
    """One `session_start_info` record: a session (a fit, for the Keras callback) began.

    Attributes:
      run: the run whose event file holds it (the experiment's own folder
        for the Keras callback and KerasTuner).
      experiment: `conventions.experiment_of(run)`.
      wall_time: when the record was written (seconds), which places it
        among the fits of a run dir (`fits.fit_of`).
      hparams: name -> value (numbers as floats).
      group_name: the session group (KerasTuner's trial id), "" when unset.
    """

    run: str
    experiment: str
    wall_time: float
    hparams: dict[str, HParamValue] = field(default_factory=dict)
    group_name: str = ""


def value_of(value: struct_pb2.Value) -> HParamValue | None:
    """A `google.protobuf.Value` as the number, string or bool it holds; None for others."""
    which = value.WhichOneof("kind")
    if which == "number_value":
        return float(value.number_value)
    if which == "string_value":
        return str(value.string_value)
    if which == "bool_value":
        return bool(value.bool_value)
    return None


def buffer_sessions(buf: Contents, run: str, *, name: str = "<buffer>") -> Iterator[Session]:
    """The sessions started in one event file's bytes, in file order."""
    if buf.find(_MARKER) == -1:
        return
    for data in records.iter_records(buf, name=name, marker=_MARKER):
        try:
            event = event_pb2.Event.FromString(data)
        except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
            continue  # damage is reported once by the events reader
        for summary_value in event.summary.value:
            plugin = summary_value.metadata.plugin_data
            if summary_value.tag != SESSION_START_TAG or plugin.plugin_name != HPARAMS_PLUGIN:
                continue
            try:
                content = plugin_data_pb2.HParamsPluginData.FromString(plugin.content)
            except Exception:  # noqa: BLE001 - as above
                continue
            if not content.HasField("session_start_info"):
                continue
            info = content.session_start_info
            hparams = {}
            for key in sorted(info.hparams):
                number = value_of(info.hparams[key])
                if number is not None:
                    hparams[key] = number
            yield Session(
                run=run,
                experiment=experiment_of(run),
                wall_time=float(event.wall_time),
                hparams=hparams,
                group_name=info.group_name,
            )


def read_sessions(
    logdir: str | os.PathLike,
    *,
    runs: Iterable[str] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> list[Session]:
    """Every session started below `logdir`, sorted by run, then wall time.

    Args:
      logdir: a directory, or a URL such as `s3://bucket/logs`.
      runs: only these runs (names as `find_runs` gives them); for a caller
        that wants one experiment: its folder and its `train`/`validation`.
      storage_options: options for the fsspec file system of a URL.
    """
    # Imported here: the event reader imports this module to attach hyperparameters to events.
    from tb_callbacks_plugin.eventfiles.event_reader import file_contents, find_runs

    found = find_runs(logdir, storage_options=storage_options)
    if runs is not None:
        wanted = set(runs)
        found = {run: paths for run, paths in found.items() if run in wanted}
    sessions: list[Session] = []
    for run, path, buf in file_contents(logdir, found, storage_options=storage_options):
        sessions.extend(buffer_sessions(buf, run, name=path))
    return sorted(sessions, key=lambda s: (s.run, s.wall_time))


def read_hparams(
    logdir: str | os.PathLike,
    *,
    runs: Iterable[str] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, dict[str, HParamValue]]:
    """Experiment -> its hyperparameters, for every experiment below `logdir` that has any.

    Experiments are named by `conventions.experiment_of` ("trial_3" for the
    runs "trial_3", "trial_3/train" and "trial_3/validation"). When one
    experiment started several sessions (fits into one log_dir), the last
    one's hyperparameters win; `read_sessions` has them all.

    Example:

    ```python
    read_hparams("logs")  # {"trial_3": {"learning_rate": 0.01, "units": 32.0}, ...}
    ```
    """
    out: dict[str, dict[str, HParamValue]] = {}
    for session in sorted(
        read_sessions(logdir, runs=runs, storage_options=storage_options), key=lambda s: s.wall_time
    ):
        out[session.experiment] = dict(session.hparams)
    return dict(sorted(out.items()))


def by_fit(sessions: Iterable[Session], starts: list[float]) -> dict[int, dict[str, HParamValue]]:
    """fit -> the hyperparameters of one experiment's fits, whose `train_begin` times are `starts`.

    A session belongs to the fit that had begun when it was written (the
    hparams callback writes in its `on_train_begin`, the TensorBoard drop-in
    at the fit's `train_begin` time); a fit without its own session keeps
    the one before it (or the first, for a session written before any fit).
    """
    own: dict[int, dict[str, HParamValue]] = {}
    for session in sorted(sessions, key=lambda s: s.wall_time):
        own[fit_of(session.wall_time, starts)] = session.hparams
    if not own:
        return {}
    out: dict[int, dict[str, HParamValue]] = {}
    current = own[min(own)]
    for fit in range(max(len(starts), max(own) + 1)):
        current = own.get(fit, current)
        out[fit] = current
    return out


def attach(events: list[Event], sessions: Iterable[Session]) -> list[Event]:
    """`events` (sorted, `fit` set), each given its experiment's (its fit's) hyperparameters; returns them."""
    of_experiment: dict[str, list[Session]] = {}
    for session in sessions:
        of_experiment.setdefault(session.experiment, []).append(session)
    if not of_experiment:
        return events
    by_experiment: dict[str, list[Event]] = {}
    for event in events:
        if event.run is not None:
            by_experiment.setdefault(experiment_of(event.run), []).append(event)
    for experiment, group in by_experiment.items():
        found = of_experiment.get(experiment)
        if not found:
            continue
        per_fit = by_fit(found, fit_starts(group))
        for event in group:
            # The dataclass is frozen for users; the reader fills this in once.
            object.__setattr__(event, "hparams", per_fit.get(event.fit, per_fit[min(per_fit)]))
    return events
