"""`tb-callbacks`: callback events from the command line.

```
tb-callbacks events LOGDIR [--run REGEX] [--kind KIND]... [--format table|csv|json|jsonl]
tb-callbacks plot LOGDIR -o FILE.png [--run REGEX] [--metric TAG]... [--kind KIND]...
tb-callbacks summary LOGDIR [--run REGEX] [--metric TAG] [--format ...]
tb-callbacks export LOGDIR -o DIR [--run REGEX] [--format parquet|csv|jsonl]
tb-callbacks report LOGDIR -o FILE.html [--run REGEX]
```

This module parses the arguments and dispatches; each command is a module of
`cli/commands/` (its arguments and what it does).

Exit status: 0 with results, 1 when there is nothing to show (no events, no
runs matching), 2 on bad arguments or an unreadable logdir, with one line on
stderr and no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from tb_callbacks_plugin.cli.commands import events, export, plot, report, summary
from tb_callbacks_plugin.cli.status import EXIT_OK, EXIT_USAGE, PROG, CliError, note
from tb_callbacks_plugin.metadata import UnsupportedVersionError

# In the order `--help` lists them.
COMMANDS = (events, plot, summary, export, report)


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage block and exits itself; we want one line and
    # the same exit path as every other error.
    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Read the callback events (and metrics) that tb-callbacks-plugin wrote into "
        "TensorBoard logs.",
        epilog="Exit status: 0 with results, 1 when there is nothing to show, 2 on bad arguments "
        "or an unreadable logdir.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def _warning_printer() -> Callable[..., None]:
    """A `warnings.showwarning` that prints each warning once, in one line.

    Commands read a file more than once (events, then scalars), and each
    reader warns about the same damaged record in the same words: once is
    what happened.
    """
    shown: set[str] = set()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        # One line per warning, without Python's source-location block.
        text = " ".join(str(message).split("\n"))
        if text not in shown:
            shown.add(text)
            note(f"warning: {text}")

    return show


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
    warnings.showwarning = _warning_printer()
    try:
        args = parser.parse_args(argv)
        _prepare_stdout(getattr(args, "format", "table"))
        return args.handler(args)
    except CliError as e:
        note(str(e))
        return e.code
    except UnsupportedVersionError as e:
        note(str(e))
        return EXIT_USAGE
    except KeyboardInterrupt:
        note("interrupted")
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
