"""`tb-callbacks`: callback events from the command line.

```
tb-callbacks events LOGDIR [--run REGEX] [--kind KIND]... [--format table|csv|json|jsonl]
tb-callbacks plot LOGDIR -o FILE.png [--run REGEX] [--metric TAG]... [--kind KIND]...
tb-callbacks summary LOGDIR [--run REGEX] [--metric TAG] [--format ...]
tb-callbacks export LOGDIR -o DIR [--run REGEX] [--format parquet|csv|jsonl]
tb-callbacks report LOGDIR -o FILE.html [--run REGEX]
```

Exit status: 0 with results, 1 when there is nothing to show (no events, no
runs matching), 2 on bad arguments or an unreadable logdir, with one line on
stderr and no traceback.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from tb_callbacks_plugin import conventions, event_format
from tb_callbacks_plugin.cli import formatting
from tb_callbacks_plugin.cli.formatting import Column
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.eventfiles import event_reader as reader
from tb_callbacks_plugin.eventfiles import records, storage
from tb_callbacks_plugin.metadata import UnsupportedVersionError

if TYPE_CHECKING:
    from tqdm import tqdm  # the `cli` extra

PROG = "tb-callbacks"
EXIT_OK, EXIT_EMPTY, EXIT_USAGE = 0, 1, 2
# Seconds of reading before a progress bar appears (tests set it to 0).
PROGRESS_DELAY_ENV = "TB_CALLBACKS_PROGRESS_DELAY"

_NONFINITE_NOTE = (
    "JSON, JSON Lines and the CSV data column are strict JSON: NaN and infinities in "
    'event data are written as the strings "{}", "{}" and "{}".'.format(*conventions.NONFINITE_NAMES)
)


class CliError(Exception):
    """Ends the command with a one-line message on stderr and exit status `code`."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage block and exits itself; we want one line and
    # the same exit path as every other error.
    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------- reading


def _select_runs(logdir: str, pattern: str | None) -> dict[str, list[str]]:
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


def _load(
    logdir: str,
    run_pattern: str | None,
    *,
    progress: bool,
    scalars: bool,
    problems: dict[str, list[str]] | None = None,
) -> tuple[dict[str, list[str]], list[Event], dict]:
    """(runs and their files, events, metrics); `problems` gets each run's reader warnings."""
    runs = _select_runs(logdir, run_pattern)
    events: list[Event] = []
    metrics: dict = {}

    def read_events(run: str, path: str) -> None:
        if problems is None:
            events.extend(reader.iter_file_events(path, run))
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            events.extend(reader.iter_file_events(path, run))
        for warning in caught:
            if issubclass(warning.category, records.CorruptRecordWarning):
                # As the tab says it: of the run, not of a path on this machine.
                text = str(warning.message).removeprefix(f"{path}: ")
                problems.setdefault(run, []).append(f"{os.path.basename(path)}: {text}")
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)

    passes: list[Callable[[str, str], None]] = [read_events]
    if scalars:
        from tb_callbacks_plugin.eventfiles.scalar_reader import RunMetrics, add_file

        def read_metrics(run: str, path: str) -> None:
            add_file(metrics.setdefault(run, RunMetrics(run=run)), path)

        passes.append(read_metrics)
    _for_each_file(runs, passes, progress)
    return runs, reader.sort_events(events), metrics


def logdir_name(logdir: str) -> str:
    """The logdir's own folder name: what its top-level runs' experiment is called (not ".")."""
    local = storage.local_path(logdir)
    path = os.path.abspath(local) if local is not None else logdir.rstrip("/")
    return os.path.basename(path.rstrip(os.sep)) or path


# ---------------------------------------------------------------- events


def _utc(wall_time: Any) -> str:
    try:
        moment = datetime.datetime.fromtimestamp(float(wall_time), tz=datetime.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return str(wall_time)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _human_json(value: Any) -> str:
    # People read NaN better than "NaN"; the table is not for machines.
    return event_format.dumps(value) if value else ""


EVENT_TABLE_COLUMNS = (
    Column("run", "RUN", max_width=40),
    Column("fit", "FIT", right=True),
    Column("step", "STEP", right=True),
    Column("epoch", "EPOCH", right=True),
    Column("wall_time", "TIME (UTC)", cell=_utc),
    Column("kind", "KIND"),
    Column("source", "SOURCE", max_width=24),
    Column("message", "MESSAGE", max_width=80),
    Column("data", "DATA", cell=_human_json, max_width=60),
)
EVENT_COLUMNS = tuple(Column(key, key) for key in reader.COLUMNS)


def _check_kinds(kinds: list[str] | None) -> set[str] | None:
    if not kinds:
        return None
    for kind in kinds:
        if not event_format.KIND_PATTERN.fullmatch(kind):
            raise CliError(f"--kind {kind!r} is not a valid event kind (expected [a-z0-9_.-]{{1,64}})")
    return set(kinds)


def _cmd_events(args: argparse.Namespace) -> int:
    kinds = _check_kinds(args.kind)
    _, events, _ = _load(args.logdir, args.run, progress=args.progress, scalars=False)
    if kinds is not None:
        events = [e for e in events if e.kind in kinds]
    rows = [e.to_dict() for e in events]
    if args.format == "table":
        # A FIT column only when some run dir holds several fits.
        columns = [c for c in EVENT_TABLE_COLUMNS if c.key != "fit" or any(r["fit"] for r in rows)]
        if rows:
            formatting.write_table(rows, columns, sys.stdout, max_width=args.max_width)
    else:
        formatting.write(args.format, rows, EVENT_COLUMNS, sys.stdout)
    if not rows:
        _note(f"no callback events in {args.logdir}" + _filters_note(args))
        return EXIT_EMPTY
    return EXIT_OK


def _filters_note(args: argparse.Namespace) -> str:
    parts = []
    if args.run is not None:
        parts.append(f"--run {args.run!r}")
    for kind in getattr(args, "kind", None) or ():
        parts.append(f"--kind {kind}")
    return f" matching {' '.join(parts)}" if parts else ""


# ---------------------------------------------------------------- summary


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


SUMMARY_COLUMNS = tuple(
    Column(key, key)
    for key in (
        "experiment",
        "fit",
        "epochs",
        "metric",
        "mode",
        "best",
        "best_epoch",
        "final",
        "lr_changes",
        "lr",
        "ended",
    )
)
SUMMARY_TABLE_COLUMNS = (
    Column("experiment", "EXPERIMENT", max_width=40),
    Column("fit", "FIT", right=True),
    Column("epochs", "EPOCHS", right=True),
    Column("metric", "METRIC", max_width=40),
    Column("best", "BEST", cell=_number, right=True),
    Column("best_epoch", "AT EPOCH", right=True),
    Column("final", "FINAL", cell=_number, right=True),
    Column("lr_story", "LR CHANGES"),
    Column("ended", "ENDED", max_width=100),
)


def _cmd_summary(args: argparse.Namespace) -> int:
    from tb_callbacks_plugin.cli.experiments import summarize

    runs, events, metrics = _load(args.logdir, args.run, progress=args.progress, scalars=True)
    lines = summarize(list(runs), events, metrics, metric=args.metric, root_name=logdir_name(args.logdir))
    rows = [line.to_dict() for line in lines]
    if args.format == "table":
        for row in rows:
            count = row["lr_changes"]
            row["lr_story"] = f"{count}: {row['lr']}" if count else "0"
            if row["metric"] and row["mode"]:
                row["metric"] = f"{row['metric']} ({row['mode']})"
        # A FIT column, only when some experiment holds several fits (a line per fit).
        per_fit = any(r["fit"] is not None for r in rows)
        columns = [c for c in SUMMARY_TABLE_COLUMNS if c.key != "fit" or per_fit]
        if rows:
            formatting.write_table(rows, columns, sys.stdout, max_width=args.max_width)
    else:
        formatting.write(args.format, rows, SUMMARY_COLUMNS, sys.stdout)
    if not rows:
        _note(f"no runs in {args.logdir}" + _filters_note(args))
        return EXIT_EMPTY
    return EXIT_OK


# ---------------------------------------------------------------- plot


def _check_output(path: str) -> None:
    from matplotlib.backend_bases import FigureCanvasBase

    ext = os.path.splitext(path)[1].lstrip(".").lower()
    supported = FigureCanvasBase.get_supported_filetypes()
    if ext not in supported:
        raise CliError(
            f"-o {path}: unsupported image type {ext!r} (use one of {', '.join(sorted(supported))})"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CliError(f"-o {path}: directory {folder} does not exist")


def _cmd_plot(args: argparse.Namespace) -> int:
    try:
        from tb_callbacks_plugin.cli import plotting
    except ImportError as e:  # pragma: no cover - matplotlib is the `plot` extra
        raise CliError(str(e)) from e
    try:
        _check_output(args.output)
    except ImportError as e:
        raise CliError("plot needs matplotlib: pip install 'tb-callbacks-plugin[plot]'") from e
    kinds = _check_kinds(args.kind)
    runs, events, metrics = _load(args.logdir, args.run, progress=args.progress, scalars=True)
    if kinds is not None:
        events = [e for e in events if e.kind in kinds]
    available = sorted({tag for m in metrics.values() for tag in m.scalars})
    for tag in args.metric or ():
        if tag not in available:
            shown = ", ".join(available[:20]) + (", …" if len(available) > 20 else "")
            raise CliError(
                f"--metric {tag!r}: no such scalar tag in the selected runs (tags: {shown or 'none'})"
            )
    if not events and not available:
        _note(f"nothing to plot in {args.logdir}{_filters_note(args)}: no callback events and no scalars")
        return EXIT_EMPTY
    try:
        tags = plotting.plot(
            list(runs),
            events,
            metrics,
            args.output,
            tags=args.metric,
            title=args.title,
            root_name=logdir_name(args.logdir),
        )
    except (OSError, ValueError) as e:
        raise CliError(f"cannot write {args.output}: {e}") from e
    print(f"wrote {args.output}: {len(events)} events, metrics {', '.join(tags) or 'none'}")
    return EXIT_OK


# ---------------------------------------------------------------- export


def _read_scalars(runs: dict[str, list[str]], logdir: str, progress: bool) -> Iterator[dict]:
    """The scalar columns of one experiment after another (only one in memory at a time),
    starting with the first that has rows; none when no run has scalars."""
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


def _cmd_export(args: argparse.Namespace) -> int:
    from tb_callbacks_plugin.cli import export

    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CliError(
                "export --format parquet needs pyarrow: pip install 'tb-callbacks-plugin[parquet]'"
            ) from None
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise CliError(f"-o {args.output}: exists and is not a directory")
    runs, events, _ = _load(args.logdir, args.run, progress=args.progress, scalars=False)
    # Scalars stream, an experiment at a time: a logdir larger than memory exports.
    scalars = _read_scalars(runs, args.logdir, args.progress)
    first = next(scalars, None)
    if not events and first is None:
        _note(f"nothing to export in {args.logdir}{_filters_note(args)}: no callback events and no scalars")
        return EXIT_EMPTY
    try:
        os.makedirs(args.output, exist_ok=True)
        export.clear(args.output, args.format)
        written = [export.write_events(args.output, events, args.format)] if events else []
        if first is not None:
            parts = itertools.chain([first], scalars)
            written.append(export.write_scalars_streamed(args.output, parts, args.format))
    except OSError as e:
        raise CliError(f"cannot write {args.output}: {e.strerror or e}") from e
    for item in written:
        print(f"wrote {item.path}: {item.rows:,} rows in {item.experiments:,} experiment partition(s)")
    return EXIT_OK


# ---------------------------------------------------------------- report


def _cmd_report(args: argparse.Namespace) -> int:
    from tb_callbacks_plugin.cli import report

    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise CliError(f"-o {args.output}: directory {folder} does not exist")
    if os.path.isdir(args.output):
        raise CliError(f"-o {args.output}: is a directory")
    tags = None
    if args.tag:
        tags = re.compile("|".join(f"(?:{pattern})" for pattern in args.tag))
    problems: dict[str, list[str]] = {}
    runs, events, _ = _load(args.logdir, args.run, progress=args.progress, scalars=False, problems=problems)
    from tb_callbacks_plugin.eventfiles.scalar_frame import read_scalar_columns

    try:
        scalars = read_scalar_columns(args.logdir, runs=list(runs), tags=tags, progress=args.progress)
    except OSError as e:
        raise CliError(f"cannot read {args.logdir}: {e.strerror or e}") from e
    title = args.title or os.path.basename(os.path.normpath(args.logdir)) or args.logdir
    data = report.report_data(
        list(runs), events, scalars, title=f"{title} · Callback Events", warnings=problems
    )
    if not data["runs"]["runs"]:
        _note(f"nothing to report in {args.logdir}{_filters_note(args)}: no callback events")
        return EXIT_EMPTY
    page = report.render_html(data)
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as e:
        raise CliError(f"cannot write {args.output}: {e.strerror or e}") from e
    shown = sum(len(series) for series in data["scalars"].values())
    print(
        f"wrote {args.output}: {len(events)} events in {len(data['runs']['runs'])} runs, "
        f"{shown} metric series, {len(page.encode('utf-8')) / 2**20:.2f} MiB"
    )
    return EXIT_OK


# ---------------------------------------------------------------- main


def _positive_width(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid width {text!r}: expected an integer >= 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid width {text!r}: expected an integer >= 0")
    return value


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"invalid regular expression {text!r}: {e}") from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Read the callback events (and metrics) that tb-callbacks-plugin wrote into "
        "TensorBoard logs.",
        epilog="Exit status: 0 with results, 1 when there is nothing to show, 2 on bad arguments "
        "or an unreadable logdir.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "logdir",
            metavar="LOGDIR",
            help="TensorBoard log directory, or a URL such as s3://bucket/logs (every run below it is read)",
        )
        sub.add_argument(
            "--run",
            type=_regex,
            metavar="REGEX",
            help="only runs whose name (path below LOGDIR, e.g. 'baseline/train') matches REGEX anywhere",
        )
        sub.add_argument(
            "--no-progress",
            dest="progress",
            action="store_false",
            help="never show the progress bar (shown on stderr when reading takes over a second)",
        )

    events = commands.add_parser(
        "events",
        help="list callback events",
        description="List callback events, sorted by run, step and time.",
        epilog=_NONFINITE_NOTE
        + " The table (for people) shows control characters such as newlines as escapes "
        "(\\n) and cuts long cells with '…'; the other formats keep text exact.",
    )
    common(events)
    events.add_argument(
        "--kind", action="append", metavar="KIND", help="only events of this kind (repeatable)"
    )
    events.add_argument(
        "--format", choices=formatting.FORMATS, default="table", help="output format (default: table)"
    )
    events.add_argument(
        "--max-width",
        type=_positive_width,
        default=None,
        metavar="N",
        help="cut every table cell to N characters (0: never cut; default: per column)",
    )
    events.set_defaults(handler=_cmd_events)

    plot = commands.add_parser(
        "plot",
        help="draw metric curves with event markers into an image",
        description="Draw metric curves with a vertical line per callback event (one row per experiment, "
        "one column per metric) into an image file.",
    )
    common(plot)
    plot.add_argument(
        "-o", "--output", required=True, metavar="FILE.png", help="image to write (png, svg, pdf, ...)"
    )
    plot.add_argument(
        "--metric",
        action="append",
        metavar="TAG",
        help="scalar tag to draw, e.g. epoch_loss (repeatable; default: epoch_loss and epoch_learning_rate)",
    )
    plot.add_argument(
        "--kind", action="append", metavar="KIND", help="only mark events of this kind (repeatable)"
    )
    plot.add_argument("--title", help="figure title")
    plot.set_defaults(handler=_cmd_plot)

    summary = commands.add_parser(
        "summary",
        help="one line per experiment: epochs, best/final metric, LR changes, how it ended",
        description="One line per experiment (Keras's train and validation runs of one log_dir "
        "together): epochs trained, best and final value of the main metric, learning-rate changes "
        "and how training ended.",
        epilog="The main metric is --metric, else what EarlyStopping/ModelCheckpoint monitored, "
        "else epoch_loss (validation run first). " + _NONFINITE_NOTE,
    )
    common(summary)
    summary.add_argument("--metric", metavar="TAG", help="scalar tag to rank by, e.g. epoch_accuracy")
    summary.add_argument(
        "--format", choices=formatting.FORMATS, default="table", help="output format (default: table)"
    )
    summary.add_argument(
        "--max-width",
        type=_positive_width,
        default=None,
        metavar="N",
        help="cut every table cell to N characters (0: never cut)",
    )
    summary.set_defaults(handler=_cmd_summary)

    export = commands.add_parser(
        "export",
        help="write events and scalars as Parquet (or CSV, JSON Lines) datasets for DuckDB, Polars, Spark",
        description="Write DIR/events.FORMAT and DIR/scalars.FORMAT, each a directory partitioned "
        "Hive-style by experiment (experiment=NAME/part-0.FORMAT), for query engines to read "
        "without this tool. An earlier export of the same format in DIR is replaced.",
        epilog="events: experiment, run, kind, step, epoch, fit, wall_time, source, message, "
        "data (strict JSON) and data_<field> columns for the built-in kinds' fields; "
        "scalars: experiment, run, tag, step, wall_time, value. Parquet needs pyarrow (the 'parquet' extra).",
    )
    common(export)
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write into")
    export.add_argument(
        "--format",
        choices=("parquet", "csv", "jsonl"),
        default="parquet",
        help="file format (default: parquet)",
    )
    export.set_defaults(handler=_cmd_export)

    report = commands.add_parser(
        "report",
        help="write one self-contained HTML file of the Callback Events tab, to share or open offline",
        description="Write the Callback Events tab (timeline, charts, table) with the selected runs' "
        "events and reduced metric series inlined into one HTML file that opens from disk with no "
        "server and no network.",
    )
    common(report)
    report.add_argument("-o", "--output", required=True, metavar="FILE.html", help="HTML file to write")
    report.add_argument(
        "--tag",
        action="append",
        type=_regex,
        metavar="REGEX",
        help="only scalar tags matching REGEX (repeatable; default: every scalar tag)",
    )
    report.add_argument("--title", help="page title (default: the logdir's name)")
    report.set_defaults(handler=_cmd_report)
    return parser


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    # One line per warning, without Python's source-location block.
    text = " ".join(str(message).split("\n"))
    _note(f"warning: {text}")


def _prepare_stdout(fmt: str) -> None:
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is None:
        return
    # Machine formats are always UTF-8. A lone surrogate read from a file
    # becomes "\udcxx", which is also a valid JSON escape.
    if fmt == "table":
        reconfigure(errors="backslashreplace")
    else:
        reconfigure(encoding="utf-8", errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `tb-callbacks` with `argv` (default: `sys.argv[1:]`); returns the exit status."""
    parser = build_parser()
    previous_showwarning = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        args = parser.parse_args(argv)
        _prepare_stdout(getattr(args, "format", "table"))
        return args.handler(args)
    except CliError as e:
        _note(str(e))
        return e.code
    except UnsupportedVersionError as e:
        _note(str(e))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _note("interrupted")
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: not an error worth a traceback.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_OK
    finally:
        warnings.showwarning = previous_showwarning


if __name__ == "__main__":
    sys.exit(main())
