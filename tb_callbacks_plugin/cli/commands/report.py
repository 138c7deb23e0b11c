"""`tb-callbacks report`: the Callback Events tab with its data, as one HTML file."""

from __future__ import annotations

import argparse
import os
import re
from typing import TYPE_CHECKING

from tb_callbacks_plugin.cli import arguments
from tb_callbacks_plugin.cli.loading import load_columns
from tb_callbacks_plugin.cli.status import EXIT_EMPTY, EXIT_OK, CliError, filters_note, note

if TYPE_CHECKING:
    from tb_callbacks_plugin.cli.arguments import Commands


def add_parser(commands: Commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "report",
        help="write one self-contained HTML file of the Callback Events tab, to share or open offline",
        description="Write the Callback Events tab (timeline, charts, table) with the selected runs' "
        "events and reduced metric series inlined into one HTML file that opens from disk with no "
        "server and no network.",
    )
    arguments.add_common(parser)
    parser.add_argument("-o", "--output", required=True, metavar="FILE.html", help="HTML file to write")
    parser.add_argument(
        "--tag",
        action="append",
        type=arguments.regex,
        metavar="REGEX",
        help="only scalar tags matching REGEX (repeatable; default: every scalar tag)",
    )
    parser.add_argument("--title", help="page title (default: the logdir's name)")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
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
    # Events and scalars in one pass over the files.
    loaded, parts = load_columns(
        args.logdir, args.run, progress=args.progress, per_run=False, tags=tags, problems=problems
    )
    (scalars,) = parts  # every run's at once; read to the end, which collects the events
    runs, events = loaded.runs, loaded.events
    title = args.title or os.path.basename(os.path.normpath(args.logdir)) or args.logdir
    data = report.report_data(
        list(runs),
        events,
        scalars,
        title=f"{title} · Callback Events",
        warnings=problems,
        fits_of_points=report.point_fits(runs, events),
    )
    if not data["runs"]["runs"]:
        note(f"nothing to report in {args.logdir}{filters_note(args)}: no callback events")
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
