"""One line per experiment: how long it trained, how good it got, how it ended.

An experiment is what one `callbacks.TensorBoard(log_dir=...)` wrote, as
`conventions.experiment_of` decides for the plugin and the tab alike: Keras
puts its runs in `<log_dir>/train` and `<log_dir>/validation`, so those (and
an `eval` run beside them) are grouped under `<log_dir>`.

Several fits into one log_dir (a notebook's habit) restart Keras's epoch
numbering and often the step count: such an experiment gets one line per
fit (`fit`, 0-based, as in `events_dataframe`), each from that fit's own
points and events (see `eventfiles.fits`).
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tb_callbacks_plugin import conventions
from tb_callbacks_plugin.cli.formatting import epoch_cell
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.eventfiles import fits
from tb_callbacks_plugin.eventfiles.scalar_reader import RunMetrics, Series

MAIN_METRIC = conventions.epoch_tag("loss")
# Metric names for which larger is better, when no callback said its mode.
_HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "iou", "r2", "score")


@dataclass
class ExperimentSummary:
    """What `summarize` reports about one experiment, or one fit of it (all fields JSON-ready).

    `fit` is the fit (0-based) the line is about when the experiment's
    log_dir holds several fits, else None (the line is the whole experiment).
    `best_epoch` is 0-based, as the `epoch` field of events and the step of
    `epoch_*` scalars; `ended` is text for people, counting epochs from 1 as
    Keras's console does (the table shows `best_epoch` that way too).
    """

    experiment: str
    fit: int | None
    epochs: int | None
    metric: str | None
    mode: str | None
    best: float | None
    best_epoch: int | None
    final: float | None
    lr_changes: int
    lr: str
    ended: str
    # The last train_end's reason (None without one), and the trial's
    # hyperparameters (None outside a search).
    ending: str | None = None
    hparams: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# How the first line of a search's summary names each ending.
_ENDING_WORDS = {
    "completed": "completed",
    "early_stop": "early stop",
    "nan": conventions.NAN,  # as the name of a non-finite number
    "pruned": "pruned",
    "stopped_by_scheduler": "stopped by scheduler",
    "interrupted": "interrupted",
    None: "no train_end",
}
SORT_KEYS = ("experiment", "best", "final", "epochs", "ending")


def ending_counts(lines: list[ExperimentSummary]) -> str:
    """ "40 trials: 20 completed, 12 early stop, 5 pruned, 3 NaN": how the lines' fits ended, most first."""
    counts: dict[str | None, int] = {}
    for line in lines:
        counts[line.ending] = counts.get(line.ending, 0) + 1
    order = [*conventions.ENDINGS, None]
    parts = sorted(
        counts.items(), key=lambda kv: (-kv[1], order.index(kv[0]) if kv[0] in order else len(order))
    )
    words = ", ".join(f"{n} {_ENDING_WORDS.get(reason, reason)}" for reason, n in parts)
    noun = "trial" if len(lines) == 1 else "trials"
    return f"{len(lines)} {noun}: {words}"


def sort_lines(lines: list[ExperimentSummary], key: str) -> list[ExperimentSummary]:
    """`lines` by `key` (one of `SORT_KEYS`, or a hyperparameter's name); lines without a value last.

    `best` and `final` put the best first, in each line's metric's mode;
    the others sort ascending.
    """

    def value(line: ExperimentSummary) -> Any:
        if key in ("best", "final"):
            number = getattr(line, key)
            if number is None or not math.isfinite(number):
                return None
            return number if line.mode != "max" else -number
        if key == "ending":
            return conventions.ending_code(line.ending) if line.ending else None
        if key in ("experiment", "epochs"):
            return getattr(line, key)
        return (line.hparams or {}).get(key)

    def order(line: ExperimentSummary) -> tuple:
        v = value(line)
        # Numbers before strings: a hyperparameter may be either across trials.
        return (v is None, isinstance(v, str), v if v is not None else 0, line.experiment, line.fit or 0)

    return sorted(lines, key=order)


def group_by_experiment(
    runs: Iterable[str], events: Iterable[Event]
) -> tuple[dict[str, list[str]], dict[str, list[Event]]]:
    """(experiment -> its runs, experiment -> its events); an experiment with events only has no runs."""
    groups: dict[str, list[str]] = {}
    for run in runs:
        groups.setdefault(conventions.experiment_of(run), []).append(run)
    by_experiment: dict[str, list[Event]] = {}
    for event in events:
        if event.run is None:  # kept in memory by a callback, in no run
            continue
        experiment = conventions.experiment_of(event.run)
        by_experiment.setdefault(experiment, []).append(event)
        groups.setdefault(experiment, [])
    return groups, by_experiment


def _mode_for(tag: str, hinted: str | None) -> str:
    if hinted in ("min", "max"):
        return hinted
    name = tag.lower()
    return "max" if any(word in name for word in _HIGHER_IS_BETTER) else "min"


def _monitor_hint(events: list[Event]) -> tuple[str | None, str | None]:
    """(monitor, mode) named by the callbacks that watched a metric, last one wins."""
    monitor = mode = None
    for event in events:
        value = event.data.get("monitor")
        if isinstance(value, str) and value:
            monitor = value
            hinted = event.data.get("mode")
            mode = hinted if hinted in ("min", "max") else mode
    return monitor, mode


def _candidates(experiment: str, runs: list[str], tag: str) -> list[tuple[str, str]]:
    """(run, tag) pairs to try for `tag`, validation first (that is what callbacks monitor)."""

    def order(run: str) -> int:
        return {conventions.VALIDATION_RUN: 0, conventions.TRAIN_RUN: 1}.get(posixpath.basename(run), 2)

    return [(run, tag) for run in sorted(runs, key=order)]


@dataclass
class _Chosen:
    label: str
    run: str
    tag: str
    series: Series
    mode: str


def _choose_metric(
    experiment: str,
    runs: list[str],
    metrics: Mapping[str, RunMetrics],
    events: list[Event],
    wanted: str | None,
) -> _Chosen | None:
    """The main metric of an experiment: `wanted`, else what callbacks monitored, else epoch_loss."""
    monitor, mode = _monitor_hint(events)
    choices: list[tuple[str, str]] = []
    if wanted:
        choices = _candidates(experiment, runs, wanted)
        mode = None
    else:
        if monitor:
            run_name, name = conventions.split_logs_key(monitor)
            if run_name == conventions.VALIDATION_RUN:
                tag = conventions.epoch_tag(name)
                choices += [(r, tag) for r in runs if posixpath.basename(r) == run_name]
            choices += [
                (r, conventions.epoch_tag(monitor))
                for r in runs
                if posixpath.basename(r) != conventions.VALIDATION_RUN
            ]
        choices += _candidates(experiment, runs, MAIN_METRIC)
    for run, tag in choices:
        series = metrics.get(run) and metrics[run].scalars.get(tag)
        if series and series.values:
            label = conventions.run_label(run)
            return _Chosen((f"{label}/{tag}" if label else tag), run, tag, series, _mode_for(tag, mode))
    return None


def _best(series: Series | fits.FitSeries, mode: str) -> tuple[float | None, int | None]:
    finite = [(v, s) for s, v in zip(series.steps, series.values, strict=True) if math.isfinite(v)]
    if not finite:
        return None, None
    # First of equal values, as EarlyStopping keeps the first best epoch.
    pick = min if mode == "min" else max
    value, step = pick(finite, key=lambda vs: vs[0])
    return value, step


def _epochs_trained(runs: list[str], metrics: Mapping[str, RunMetrics], events: list[Event]) -> int | None:
    """Epochs trained: the larger of what the metrics and the last train_end say.

    Epoch-end records and `epoch_*` scalars miss an epoch that was trained but
    interrupted before its end hooks ran (a run resumed by BackupAndRestore);
    the last train_end's epoch misses epochs when a later fit started over.
    """
    counts: list[int] = []
    ends: set[int] = set()
    for run in runs:
        ends.update(metrics[run].epoch_steps if run in metrics else ())
    if ends:
        counts.append(len(ends))
    else:
        for run in sorted(runs, key=lambda r: posixpath.basename(r) != conventions.TRAIN_RUN):
            series = metrics.get(run) and metrics[run].scalars.get(MAIN_METRIC)
            if series:
                counts.append(len(series.steps))
                break
    finished = [
        (e.wall_time, e.step, e.epoch) for e in events if e.kind == "train_end" and e.epoch is not None
    ]
    if finished:
        counts.append(max(finished)[2] + 1)
    return max(counts) if counts else None


def _fmt_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _lr_story(events: list[Event]) -> tuple[int, str]:
    changes = [e for e in events if e.kind == "lr_change"]
    if not changes:
        return 0, ""
    first, last = changes[0].data.get("old"), changes[-1].data.get("new")
    return len(changes), f"{_fmt_number(first)} -> {_fmt_number(last)}"


def _at_epoch(event: Event) -> str:
    return f" at epoch {epoch_cell(event.epoch)}" if event.epoch is not None else f" at step {event.step}"


def _ending(events: list[Event]) -> str:
    """How training ended, following fits in time order (a resumed run has several).

    Text for people, in every format: epochs count from 1, as Keras's console
    and the events' own messages count them ("early_stop at epoch 17" beside
    "Epoch 17: early stopping").
    """
    if not events:
        return "no events"
    by_time = sorted(events, key=lambda e: (e.wall_time, e.step))
    parts: list[str] = []
    fit_open = False
    stop_detail = ""
    for event in by_time:
        if event.kind == "train_begin":
            if fit_open:
                parts.append("no train_end")
            fit_open, stop_detail = True, ""
        elif event.kind == "backup_restored":
            parts.append(f"resumed at epoch {epoch_cell(event.data.get('initial_epoch', event.epoch))}")
        elif event.kind in ("early_stop", "nan_terminated"):
            stop_detail = _at_epoch(event)
        elif event.kind == "weights_restored":
            best = event.data.get("best_epoch")
            stop_detail += ", weights restored" if best is None else f", restored epoch {epoch_cell(best)}"
        elif event.kind == "train_end":
            reason = event.data.get("reason")
            reason = reason if isinstance(reason, str) and reason else "ended"
            detail = stop_detail if reason != "completed" or "restored" in stop_detail else ""
            if reason == "interrupted" and not detail:
                detail = _at_epoch(event)
            parts.append(reason + detail)
            fit_open, stop_detail = False, ""
    if fit_open:
        parts.append("no train_end (killed, or still running)")
    return "; ".join(parts) if parts else "no train_begin/train_end events"


def file_rule(runs: list[str], metrics: Mapping[str, RunMetrics], starts: list[float]) -> fits.FitRule | None:
    """The fit of a point by its file (`fits.FitRule`), when the metrics saw the fits' train_begins."""
    rule = fits.FitRule(begin for run in runs if run in metrics for begin in metrics[run].begins)
    return rule if rule.starts == starts else None


def matching_files(files: list[str], rows: Sequence[object]) -> list[str] | None:
    """`files` when it names the file of each of `rows` (metrics read file by file), else None."""
    return files if len(files) == len(rows) else None


def _fit_epochs(
    fit: int,
    runs: list[str],
    metrics: Mapping[str, RunMetrics],
    starts: list[float],
    series: fits.FitSeries | None,
    events: list[Event],
) -> int | None:
    """Epochs one fit trained: its epoch-end records, else its points, else its train_end."""
    ends: set[int] = set()
    rule = file_rule(runs, metrics, starts)
    for run in runs:
        if run in metrics:
            m = metrics[run]
            files = matching_files(m.epoch_files, m.epoch_records)
            ends.update(fits.split_epoch_steps(m.epoch_records, starts, files=files, rule=rule).get(fit, {}))
    if ends:
        return len(ends)
    if series is not None and series.steps:
        return len(series.steps)
    begin = next((e for e in events if e.kind == "train_begin"), None)
    last = next((e.epoch for e in events if e.kind == "train_end" and e.epoch is not None), None)
    if last is not None:
        first = begin.epoch if begin is not None and begin.epoch is not None else 0
        return last - first + 1
    return None


def _fit_lines(
    experiment: str,
    members: list[str],
    metrics: Mapping[str, RunMetrics],
    exp_events: list[Event],
    starts: list[float],
    metric: str | None,
) -> list[ExperimentSummary]:
    chosen = _choose_metric(experiment, members, metrics, exp_events, metric)
    per_fit: dict[int, fits.FitSeries] = {}
    if chosen is not None:
        points = metrics[chosen.run].points.get(chosen.tag, [])
        files = matching_files(metrics[chosen.run].point_files.get(chosen.tag, []), points)
        rule = file_rule(members, metrics, starts)
        per_fit = {s.fit: s for s in fits.split_points(points, starts, files=files, rule=rule)}
    by_fit: dict[int, list[Event]] = {}
    for event, fit in zip(exp_events, fits.experiment_fits(exp_events, starts), strict=True):
        by_fit.setdefault(fit, []).append(event)
    lines = []
    for fit in range(len(starts)):
        events = by_fit.get(fit, [])
        series = per_fit.get(fit)
        epochs = _fit_epochs(fit, members, metrics, starts, series, events)
        lines.append(_summary_line(experiment, fit, epochs, chosen, series, events))
    return lines


def _summary_line(
    experiment: str,
    fit: int | None,
    epochs: int | None,
    chosen: _Chosen | None,
    series: Series | fits.FitSeries | None,
    events: list[Event],
) -> ExperimentSummary:
    """One line of the summary: `chosen`'s best and final value in `series`, and what `events` did."""
    best = best_at = final = None
    if chosen is not None and series is not None and series.values:
        best, best_at = _best(series, chosen.mode)
        final = series.values[-1]
        if not conventions.is_epoch_tag(chosen.tag):
            best_at = None  # a step, not an epoch: not worth a column of its own
    count, lr = _lr_story(events)
    ends = [e for e in events if e.kind == "train_end"]
    reason = max(ends, key=lambda e: (e.wall_time, e.step)).data.get("reason") if ends else None
    return ExperimentSummary(
        experiment=experiment,
        fit=fit,
        epochs=epochs,
        metric=chosen.label if chosen else None,
        mode=chosen.mode if chosen else None,
        best=best,
        best_epoch=best_at,
        final=final,
        lr_changes=count,
        lr=lr,
        ended=_ending(events),
        ending=reason if isinstance(reason, str) else None,
        hparams=next((dict(e.hparams) for e in events if e.hparams is not None), None),
    )


def summarize(
    runs: Iterable[str],
    events: Iterable[Event],
    metrics: Mapping[str, RunMetrics],
    *,
    metric: str | None = None,
    root_name: str | None = None,
) -> list[ExperimentSummary]:
    """One `ExperimentSummary` per experiment (per fit, for several fits), sorted by name.

    Args:
      runs: run names (as `reader.find_runs` gives them).
      events: their callback events.
      metrics: run -> `RunMetrics` (scalars) for the same runs.
      metric: the scalar tag to rank by (default: what EarlyStopping or
        ModelCheckpoint monitored, else `epoch_loss`, validation run first).
      root_name: the name of the experiment whose runs sit at the top of
        the logdir (a log_dir passed itself as LOGDIR), instead of ".".

    Example:

    ```python
    from tb_callbacks_plugin import read_events
    from tb_callbacks_plugin.eventfiles.scalar_reader import read_run_metrics
    from tb_callbacks_plugin.eventfiles.event_reader import find_runs
    runs = find_runs("logs")
    metrics = {run: read_run_metrics(run, paths) for run, paths in runs.items()}
    for line in summarize(runs, read_events("logs"), metrics):
        print(line.experiment, line.fit, line.best, line.ended)
    ```
    """
    groups, by_experiment = group_by_experiment(runs, events)
    out = []
    for experiment in sorted(groups):
        members = groups[experiment]
        exp_events = by_experiment.get(experiment, [])
        name = root_name if experiment == "." and root_name else experiment
        starts = fits.fit_starts(exp_events)
        if len(starts) > 1:
            out.extend(_fit_lines(name, members, metrics, exp_events, starts, metric))
            continue
        chosen = _choose_metric(experiment, members, metrics, exp_events, metric)
        epochs = _epochs_trained(members, metrics, exp_events)
        out.append(_summary_line(name, None, epochs, chosen, chosen.series if chosen else None, exp_events))
    return out
