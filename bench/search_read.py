"""Benchmark: reading a hyperparameter search's many small runs (issue 22).

Writes (once, then reuses) a logdir of `--trials` runs, each as a search's
trial leaves it: `trial_NNNN/train` holding about 20 callback events
(early stopping, LR changes, checkpoints), an epoch-end record per epoch
and 200 epoch scalars (`epoch_loss`, `epoch_accuracy`, `epoch_val_loss`,
`epoch_learning_rate` x 50 epochs, TF 2 tensor scalars with the scalars
plugin's metadata). Then times, each in a fresh process as a user runs them:

- `read_events(logdir)`;
- `scalars_dataframe(logdir)`;
- `tb-callbacks summary`, `report`, `plot` and `export` (to Parquet) of
  LOGDIR.

Goal: each under 10 s for 3,000 trials. On a shared machine quote medians.

    .venv/bin/python bench/search_read.py [--trials 3000] [--repeat 3]
    # another checkout's reader, same logdir (before/after in one sitting):
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/search_read.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from tensorboard.plugins.scalar import metadata as scalar_metadata

from tb_callbacks_plugin import EventWriter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read import _scalar  # noqa: E402 - bench/read.py's Keras-style scalar record

EPOCHS = 50
TAGS = ("epoch_loss", "epoch_accuracy", "epoch_val_loss", "epoch_learning_rate")
KINDS = ("lr_change", "checkpoint_saved", "my_metric.alert")
T0 = 1_700_000_000.0


def write_logdir(logdir: str, trials: int) -> None:
    meta = scalar_metadata.create_summary_metadata(display_name="", description="")
    for t in range(trials):
        steps_per_epoch = 100
        with EventWriter(os.path.join(logdir, f"trial_{t:04d}", "train")) as writer:
            for epoch in range(EPOCHS):
                step = (epoch + 1) * steps_per_epoch
                wall = T0 + t * 1000 + epoch
                writer.write_epoch(epoch, step, wall_time=wall)
                for i, tag in enumerate(TAGS):
                    writer.write_summary(_scalar(tag, 1.0 / (epoch + 1) + i + t / 1000, meta), epoch, wall)
                if epoch % 3 == 0:
                    kind = KINDS[epoch % len(KINDS)]
                    writer.write(kind, step, f"{kind} at epoch {epoch}", epoch=epoch, wall_time=wall, n=epoch)
            writer.write("early_stop", step, "stopped", epoch=EPOCHS - 1, wall_time=wall + 0.5)
    with open(os.path.join(logdir, "COMPLETE"), "w") as f:
        json.dump({"trials": trials}, f)


def timed_subprocess(code_or_args: list[str], repeat: int) -> tuple[float, float, list[float]]:
    """Median wall seconds, median CPU seconds (the process and its threads), all wall times."""
    times, cpu = [], []
    for _ in range(repeat):
        start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run(code_or_args, capture_output=True, text=True, timeout=900)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(time.perf_counter() - start)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if result.returncode != 0:
            raise SystemExit(f"{code_or_args} failed:\n{result.stderr[-2000:]}")
    return statistics.median(times), statistics.median(cpu), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logdir = f"/tmp/tb-callbacks-bench-search-{args.trials}"
    if not os.path.exists(os.path.join(logdir, "COMPLETE")):
        shutil.rmtree(logdir, ignore_errors=True)
        start = time.perf_counter()
        write_logdir(logdir, args.trials)
        print(f"wrote {logdir} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    files = [os.path.join(d, f) for d, _, names in os.walk(logdir) for f in names if "tfevents" in f]
    size = sum(os.path.getsize(f) for f in files)
    print(
        f"logdir: {args.trials} trials x (~{EPOCHS // 3 + 2} events, {EPOCHS * len(TAGS)} epoch scalars), "
        f"{size / 2**20:.1f} MiB"
    )
    python = sys.executable
    cli = [python, "-m", "tb_callbacks_plugin.cli"]
    out = tempfile.mkdtemp(prefix="tb-callbacks-bench-export-")
    cases = {
        "python -c 'import tb_callbacks_plugin' (start-up)": [python, "-c", "import tb_callbacks_plugin"],
        "read_events": [python, "-c", f"import tb_callbacks_plugin as t; t.read_events({logdir!r})"],
        "scalars_dataframe": [
            python,
            "-c",
            f"import tb_callbacks_plugin as t; t.scalars_dataframe({logdir!r}, progress=False)",
        ],
        "tb-callbacks summary": [*cli, "summary", logdir, "--no-progress"],
        "tb-callbacks report": [*cli, "report", logdir, "-o", os.path.join(out, "r.html"), "--no-progress"],
        "tb-callbacks plot": [*cli, "plot", logdir, "-o", os.path.join(out, "p.png"), "--no-progress"],
        "tb-callbacks export (parquet)": [*cli, "export", logdir, "-o", out, "--no-progress"],
    }
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, command in cases.items():
        if "export" in name:
            shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out, exist_ok=True)
        median, cpu, times = timed_subprocess(command, args.repeat)
        each = ", ".join(f"{t:.1f}" for t in times)
        verdict = "met" if median < 10 else "NOT met"
        print(f"  {name:<50} median {median:6.1f} s wall, {cpu:5.1f} s CPU  ({each})  < 10 s wall: {verdict}")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
