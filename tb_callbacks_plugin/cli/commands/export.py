"""`tb-callbacks export`: events and scalars as datasets partitioned by experiment."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from tb_callbacks_plugin.cli import arguments
from tb_callbacks_plugin.cli.loading import load_columns
from tb_callbacks_plugin.cli.status import EXIT_EMPTY, EXIT_OK, CliError, filters_note, note

if TYPE_CHECKING:
    from tb_callbacks_plugin.cli.arguments import Commands


def add_parser(commands: Commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "export",
        help="write events and scalars as Parquet (or CSV, JSON Lines) datasets for DuckDB, Polars, pyarrow",
        description="Write DIR/events.FORMAT and DIR/scalars.FORMAT, each a directory with one folder "
        "per experiment (NAME-HASH/part-0.FORMAT), for query engines to read without this tool. "
        "An earlier export of the same format in DIR is replaced once the new one is complete.",
        epilog="events: experiment, run, kind, step, epoch, fit, wall_time, source, message, "
        "data (strict JSON), hparams (the trial's hyperparameters, JSON) and data_<field> columns "
        "for the built-in kinds' fields; "
        "scalars: experiment, run, tag, step, wall_time, value. Parquet needs pyarrow (the 'parquet' extra).",
    )
    arguments.add_common(parser)
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write into")
    parser.add_argument(
        "--format",
        choices=("parquet", "csv", "jsonl"),
        default="parquet",
        help="file format (default: parquet)",
    )
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
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
    # One pass over the files: each run's scalars are appended to its experiment's file as
    # the run is read (only its rows in memory), the events written once every file is read.
    loaded, parts = load_columns(args.logdir, args.run, progress=args.progress, per_run=True)
    try:
        written = export.publish(args.output, args.format, parts, lambda: loaded.events)
    except OSError as e:
        raise CliError(f"cannot write {args.output}: {e.strerror or e}") from e
    if not written:
        note(f"nothing to export in {args.logdir}{filters_note(args)}: no callback events and no scalars")
        return EXIT_EMPTY
    for item in written:
        print(f"wrote {item.path}: {item.rows:,} rows in {item.experiments:,} experiment partition(s)")
    return EXIT_OK
