"""`tb-callbacks summary`: one line per experiment (or fit), as a table or for machines."""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING, Any

from tb_callbacks_plugin.cli import arguments, formatting
from tb_callbacks_plugin.cli.formatting import Column
from tb_callbacks_plugin.cli.loading import load, logdir_name
from tb_callbacks_plugin.cli.status import EXIT_EMPTY, EXIT_OK, filters_note, note

if TYPE_CHECKING:
    from tb_callbacks_plugin.cli.arguments import Commands


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


COLUMNS = tuple(
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
TABLE_COLUMNS = (
    Column("experiment", "EXPERIMENT", max_width=40),
    Column("fit", "FIT", right=True),
    Column("epochs", "EPOCHS", right=True),
    Column("metric", "METRIC", max_width=40),
    Column("best", "BEST", cell=_number, right=True),
    Column("best_epoch", "AT EPOCH", cell=formatting.epoch_cell, right=True),
    Column("final", "FINAL", cell=_number, right=True),
    Column("lr_story", "LR CHANGES"),
    Column("ended", "ENDED", max_width=100),
)


def add_parser(commands: Commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "summary",
        help="one line per experiment: epochs, best/final metric, LR changes, how it ended",
        description="One line per experiment (Keras's train and validation runs of one log_dir "
        "together): epochs trained, best and final value of the main metric, learning-rate changes "
        "and how training ended.",
        epilog="The main metric is --metric, else what EarlyStopping/ModelCheckpoint monitored, "
        "else epoch_loss (validation run first). " + arguments.NONFINITE_NOTE,
    )
    arguments.add_common(parser)
    parser.add_argument("--metric", metavar="TAG", help="scalar tag to rank by, e.g. epoch_accuracy")
    arguments.add_format(parser, "cut every table cell to N characters (0: never cut)")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from tb_callbacks_plugin.cli.experiments import summarize

    runs, events, metrics = load(args.logdir, args.run, progress=args.progress, scalars=True)
    if args.metric is not None:
        arguments.check_metrics([args.metric], metrics)
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
        columns = [c for c in TABLE_COLUMNS if c.key != "fit" or per_fit]
        if rows:
            formatting.write_table(rows, columns, sys.stdout, max_width=args.max_width)
    else:
        formatting.write(args.format, rows, COLUMNS, sys.stdout)
    if not rows:
        note(f"no runs in {args.logdir}" + filters_note(args))
        return EXIT_EMPTY
    return EXIT_OK
