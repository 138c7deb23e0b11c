"""`tb-callbacks plot --explain`: checks that one experiment is selected, then draws its decisions."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from tb_callbacks_plugin import conventions
from tb_callbacks_plugin.cli import explain_plot
from tb_callbacks_plugin.cli.loading import select_runs
from tb_callbacks_plugin.cli.status import EXIT_EMPTY, EXIT_OK, CliError, filters_note, note
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.eventfiles.scalar_reader import RunMetrics


def run(
    args: argparse.Namespace,
    runs: Mapping[str, list[str]],
    events: Sequence[Event],
    metrics: Mapping[str, RunMetrics],
) -> int:
    experiments = sorted({conventions.experiment_of(run) for run in runs})
    if len(experiments) > 1:
        raise CliError(
            f"--explain draws one experiment; --run matches {len(experiments)}: "
            + ", ".join(experiments[:8])
            + (" ..." if len(experiments) > 8 else "")
        )
    # All runs of the logdir: a monitored run that exists but was not selected is not "never written".
    known = select_runs(args.logdir, None) if args.run else runs
    items = explain_plot.explained(events, metrics, known)
    if not items:
        note(f"nothing to explain in {args.logdir}{filters_note(args)}: no decision of a callback")
        return EXIT_EMPTY
    try:
        drawn = explain_plot.plot_explained(items, args.output, title=args.title)
    except (OSError, ValueError) as e:
        raise CliError(f"cannot write {args.output}: {e}") from e
    print(f"wrote {args.output}: {drawn} of {len(items)} decisions explained")
    for out, _ in items:
        epoch = "?" if out["epoch"] is None else conventions.console_epoch(out["epoch"])
        print(f"  {out['kind']} (epoch {epoch}): {out['sentence']}")
    return EXIT_OK
