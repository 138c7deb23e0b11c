"""`tb-callbacks events`: the callback events as a table, CSV, JSON or JSON Lines."""

from __future__ import annotations

import argparse
import datetime
import sys
from typing import TYPE_CHECKING, Any

from tb_callbacks_plugin import event_format
from tb_callbacks_plugin.cli import arguments, explaining, formatting
from tb_callbacks_plugin.cli.formatting import Column
from tb_callbacks_plugin.cli.loading import load
from tb_callbacks_plugin.cli.status import EXIT_EMPTY, EXIT_OK, filters_note, note
from tb_callbacks_plugin.eventfiles import event_reader as reader

if TYPE_CHECKING:
    from tb_callbacks_plugin.cli.arguments import Commands


def _utc(wall_time: Any) -> str:
    try:
        moment = datetime.datetime.fromtimestamp(float(wall_time), tz=datetime.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return str(wall_time)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _human_json(value: Any) -> str:
    # People read NaN better than "NaN"; the table is not for machines.
    return event_format.dumps(value) if value else ""


TABLE_COLUMNS = (
    Column("run", "RUN", max_width=40),
    Column("fit", "FIT", right=True),
    Column("step", "STEP", right=True),
    Column("epoch", "EPOCH", cell=formatting.epoch_cell, right=True),
    Column("wall_time", "TIME (UTC)", cell=_utc),
    Column("kind", "KIND"),
    Column("source", "SOURCE", max_width=24),
    Column("message", "MESSAGE", max_width=80),
    # Why a monitoring callback acted, in Keras's console numbering (tb_callbacks_plugin.explain).
    Column("why", "WHY", max_width=160),
    Column("data", "DATA", cell=_human_json, max_width=60),
)
COLUMNS = tuple(Column(key, key) for key in reader.COLUMNS)


def add_parser(commands: Commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "events",
        help="list callback events",
        description="List callback events, sorted by run, step and time.",
        epilog=arguments.NONFINITE_NOTE
        + " The table (for people) shows control characters such as newlines as escapes "
        "(\\n) and cuts long cells with '…'; the other formats keep text exact.",
    )
    arguments.add_common(parser)
    parser.add_argument(
        "--kind", action="append", metavar="KIND", help="only events of this kind (repeatable)"
    )
    arguments.add_format(parser, "cut every table cell to N characters (0: never cut; default: per column)")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    kinds = arguments.check_kinds(args.kind)
    _, events, _ = load(args.logdir, args.run, progress=args.progress, scalars=False)
    if kinds is not None:
        events = [e for e in events if e.kind in kinds]
    rows = [e.to_dict() for e in events]
    if args.format == "table":
        for row, event in zip(rows, events, strict=True):
            row["why"] = explaining.sentence(event)
        # A FIT column only when some run dir holds several fits; WHY only when some event is explained.
        shown = {"fit": any(r["fit"] for r in rows), "why": any(r["why"] for r in rows)}
        columns = [c for c in TABLE_COLUMNS if shown.get(c.key, True)]
        if rows:
            formatting.write_table(rows, columns, sys.stdout, max_width=args.max_width)
    else:
        formatting.write(args.format, rows, COLUMNS, sys.stdout)
    if not rows:
        note(f"no callback events in {args.logdir}" + filters_note(args))
        return EXIT_EMPTY
    return EXIT_OK
