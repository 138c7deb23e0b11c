"""Arguments every command shares: LOGDIR, --run, --no-progress, and their checks."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tb_callbacks_plugin import conventions, event_format
from tb_callbacks_plugin.cli.formatting import FORMATS
from tb_callbacks_plugin.cli.status import CliError

if TYPE_CHECKING:
    from tb_callbacks_plugin.eventfiles.scalar_reader import RunMetrics

    # What `add_subparsers` returns: each command module adds its parser to it.
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

NONFINITE_NOTE = (
    "JSON, JSON Lines and the CSV data column are strict JSON: NaN and infinities in "
    'event data are written as the strings "{}", "{}" and "{}".'.format(*conventions.NONFINITE_NAMES)
)


def positive_width(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid width {text!r}: expected an integer >= 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid width {text!r}: expected an integer >= 0")
    return value


def regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"invalid regular expression {text!r}: {e}") from None
    return text


def add_common(sub: argparse.ArgumentParser) -> None:
    """LOGDIR, --run and --no-progress, which every command takes."""
    sub.add_argument(
        "logdir",
        metavar="LOGDIR",
        help="TensorBoard log directory, or a URL such as s3://bucket/logs (every run below it is read)",
    )
    sub.add_argument(
        "--run",
        type=regex,
        metavar="REGEX",
        help="only runs whose name (path below LOGDIR, e.g. 'baseline/train') matches REGEX anywhere",
    )
    sub.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="never show the progress bar (shown on stderr when reading takes over a second)",
    )


def add_format(sub: argparse.ArgumentParser, max_width_help: str) -> None:
    """--format (table or a machine format) and --max-width (of table cells)."""
    sub.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    sub.add_argument("--max-width", type=positive_width, default=None, metavar="N", help=max_width_help)


def check_kinds(kinds: list[str] | None) -> set[str] | None:
    """The --kind values as a set (None: every kind); a malformed kind is an error."""
    if not kinds:
        return None
    for kind in kinds:
        if not event_format.KIND_PATTERN.fullmatch(kind):
            raise CliError(f"--kind {kind!r} is not a valid event kind (expected [a-z0-9_.-]{{1,64}})")
    return set(kinds)


def check_metrics(tags: Iterable[str], metrics: Mapping[str, RunMetrics]) -> list[str]:
    """The scalar tags of the selected runs, sorted; a --metric TAG none of them has is an error."""
    available = sorted({tag for m in metrics.values() for tag in m.scalars})
    for tag in tags:
        if tag not in available:
            shown = ", ".join(available[:20]) + (", …" if len(available) > 20 else "")
            raise CliError(
                f"--metric {tag!r}: no such scalar tag in the selected runs (tags: {shown or 'none'})"
            )
    return available
