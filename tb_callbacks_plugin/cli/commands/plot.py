"""`tb-callbacks plot`: metric curves with the events marked, into an image file."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from tb_callbacks_plugin.cli import arguments
from tb_callbacks_plugin.cli.loading import load, logdir_name
from tb_callbacks_plugin.cli.status import EXIT_EMPTY, EXIT_OK, CliError, filters_note, note

if TYPE_CHECKING:
    from tb_callbacks_plugin.cli.arguments import Commands


def add_parser(commands: Commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "plot",
        help="draw metric curves with event markers into an image",
        description="Draw metric curves with a vertical line per callback event (one row per experiment, "
        "one column per metric) into an image file.",
    )
    arguments.add_common(parser)
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE.png", help="image to write (png, svg, pdf, ...)"
    )
    parser.add_argument(
        "--metric",
        action="append",
        metavar="TAG",
        help="scalar tag to draw, e.g. epoch_loss (repeatable; default: epoch_loss and epoch_learning_rate)",
    )
    parser.add_argument(
        "--kind", action="append", metavar="KIND", help="only mark events of this kind (repeatable)"
    )
    parser.add_argument("--title", help="figure title")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="instead, draw why each callback of one experiment acted (select it with --run): "
        "one panel per decision on the metric it monitored",
    )
    parser.set_defaults(handler=run)
    return parser


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


def run(args: argparse.Namespace) -> int:
    try:
        from tb_callbacks_plugin.cli import plotting
    except ImportError as e:  # pragma: no cover - matplotlib is the `plot` extra
        raise CliError(str(e)) from e
    try:
        _check_output(args.output)
    except ImportError as e:
        raise CliError("plot needs matplotlib: pip install 'tb-callbacks-plugin[plot]'") from e
    kinds = arguments.check_kinds(args.kind)
    runs, events, metrics = load(args.logdir, args.run, progress=args.progress, scalars=True)
    if kinds is not None:
        events = [e for e in events if e.kind in kinds]
    if args.explain:
        from tb_callbacks_plugin.cli import explain_command

        return explain_command.run(args, runs, events, metrics)
    available = arguments.check_metrics(args.metric or (), metrics)
    if not events and not available:
        note(f"nothing to plot in {args.logdir}{filters_note(args)}: no callback events and no scalars")
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
