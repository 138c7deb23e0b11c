"""How a `tb-callbacks` command ends: exit statuses, `CliError`, one-line notes on stderr."""

from __future__ import annotations

import argparse
import sys

PROG = "tb-callbacks"
EXIT_OK, EXIT_EMPTY, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """Ends the command with a one-line message on stderr and exit status `code`."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def filters_note(args: argparse.Namespace) -> str:
    """What a note that nothing was found adds: " matching --run R --kind K" (empty without filters)."""
    parts = []
    if args.run is not None:
        parts.append(f"--run {args.run!r}")
    for kind in getattr(args, "kind", None) or ():
        parts.append(f"--kind {kind}")
    return f" matching {' '.join(parts)}" if parts else ""
