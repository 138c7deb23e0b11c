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
With `--reference DIR` (another checkout, e.g. `git worktree add /tmp/ref
<commit>`), each command also runs on that checkout's code, alternating
with ours, and the ratio of the medians is printed (before/after in one
run, under the same load).

    .venv/bin/python bench/search_read.py [--trials 3000] [--repeat 3] [--reference /tmp/ref]
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


def bytecode_note() -> str:
    """Whether the imports a fresh process pays for have compiled bytecode: without it (an
    environment installed without bytecode, under PYTHONDONTWRITEBYTECODE=1) each process
    compiles numba's, pandas' and scipy's modules from source, seconds of CPU each time."""
    import importlib.util

    missing = []
    for name in ("numba", "pandas", "scipy", "pyarrow"):
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin and not os.path.exists(importlib.util.cache_from_source(origin)):
            missing.append(name)
    writes = "no" if sys.dont_write_bytecode else "yes"
    return f"bytecode: not compiled for {', '.join(missing) or 'none'} (Python writes .pyc: {writes})"


def run_once(command: list[str], checkout: str) -> tuple[float, float]:
    """Wall and CPU seconds (the process and its threads) of `command` run on `checkout`'s
    package (its own folder first on the path, as `python -c` and `-m` look there first)."""
    env = {**os.environ, "PYTHONPATH": checkout}
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=checkout, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{command} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - start, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference", help="another checkout to time the same commands on")
    parser.add_argument("--only", help="only the commands whose name contains this")
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
    if args.only:
        cases = {name: command for name, command in cases.items() if args.only in name}
    print(bytecode_note())
    ours_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    checkouts = {"ours": ours_dir}
    if args.reference:
        checkouts["reference"] = os.path.abspath(args.reference)
    loads = [os.getloadavg()[0]]
    for name, command in cases.items():
        walls: dict[str, list[float]] = {k: [] for k in checkouts}
        cpus: dict[str, list[float]] = {k: [] for k in checkouts}
        for _ in range(args.repeat):
            for key, checkout in checkouts.items():  # alternating: both under the same load
                if "export" in name:
                    shutil.rmtree(out, ignore_errors=True)
                os.makedirs(out, exist_ok=True)
                wall, cpu = run_once(command, checkout)
                walls[key].append(wall)
                cpus[key].append(cpu)
        loads.append(os.getloadavg()[0])
        for key in checkouts:
            median = statistics.median(walls[key])
            each = ", ".join(f"{t:.1f}" for t in walls[key])
            verdict = "met" if median < 10 else "NOT met"
            cpu = statistics.median(cpus[key])
            print(
                f"  {name:<44} {key:<9} median {median:6.1f} s wall, {cpu:5.1f} s CPU"
                f"  ({each})  < 10 s wall: {verdict}"
            )
        if args.reference:
            ratio_wall = statistics.median(walls["ours"]) / statistics.median(walls["reference"])
            ratio_cpu = statistics.median(cpus["ours"]) / statistics.median(cpus["reference"])
            print(f"  {'':<44} ours/reference: {ratio_wall:.2f}x wall, {ratio_cpu:.2f}x CPU")
    print(f"load average (1 min) while measuring: {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
