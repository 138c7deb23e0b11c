"""Benchmark: `scalars_dataframe` vs tbparse on the same logdir, side by side.

Writes (once, then reuses) a logdir of 10 runs, each holding 20,000 batch
scalars (`batch_loss` at every step) and 100 epochs of epoch scalars
(`epoch_loss`, `epoch_accuracy`, `epoch_learning_rate`, `epoch_val_loss`),
written by `tf.summary.scalar` as `keras.callbacks.TensorBoard` writes them
(TF 2: 0-d float tensors with the scalars plugin's metadata). Then, in the
same process, times:

- `tb_callbacks_plugin.scalars_dataframe(logdir)`;
- tbparse `SummaryReader(logdir, extra_columns={"dir_name", "wall_time"})`,
  whose `.tensors` is where TF 2 scalars land (its `.scalars` holds only
  `simple_value`s).

Checks both found the same rows and values, then prints the medians, the
ratio and our scalars per second. Goal: >= 20x tbparse and >= 1M scalars/s.

    .venv/bin/python bench/scalars.py [--repeat 5] [--runs 10 --steps 20000 --epochs 100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EPOCH_TAGS = ("epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_val_loss")


def _points(runs: int, steps: int, epochs: int):
    """(run index, tag, value, step) in writing order: batch scalars, and epoch scalars at each epoch end."""
    per_epoch = max(1, steps // epochs)
    for r in range(runs):
        for step in range(steps):
            yield r, "batch_loss", 2.0 / (step + 1) + r, step
            if (step + 1) % per_epoch == 0 and (step + 1) // per_epoch <= epochs:
                epoch = (step + 1) // per_epoch - 1
                for t, tag in enumerate(EPOCH_TAGS):
                    yield r, tag, 1.0 / (epoch + 1) + t, epoch


def write_logdir(logdir: str, runs: int, steps: int, epochs: int) -> None:
    """With TensorFlow, through tf.summary.scalar itself; without, the same protos through EventWriter."""
    try:
        import tensorflow as tf
    except ImportError:
        tf = None
    writers: dict[int, object] = {}
    for r, tag, value, step in _points(runs, steps, epochs):
        if r not in writers:
            for old in writers.values():
                old.close()
            path = os.path.join(logdir, f"exp{r:02d}", "train")
            writers = {r: tf.summary.create_file_writer(path) if tf else _ProtoWriter(path)}
        if tf:
            with writers[r].as_default():
                tf.summary.scalar(tag, value, step=step)
        else:
            writers[r].scalar(tag, value, step)
    for old in writers.values():
        old.close()
    with open(os.path.join(logdir, "COMPLETE"), "w") as f:
        json.dump({"runs": runs, "steps": steps, "epochs": epochs}, f)


class _ProtoWriter:
    """What tf.summary.scalar writes (a 0-d float32 tensor with the scalars plugin's metadata)."""

    def __init__(self, path: str) -> None:
        from tensorboard.plugins.scalar import metadata

        from tb_callbacks_plugin import EventWriter

        self.writer = EventWriter(path)
        self.meta = metadata.create_summary_metadata(display_name="", description="")

    def scalar(self, tag: str, value: float, step: int) -> None:
        import numpy as np
        from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(),
            tensor_content=np.float32(value).tobytes(),
        )
        value_proto = summary_pb2.Summary.Value(tag=tag, metadata=self.meta, tensor=tensor)
        self.writer.write_summary(summary_pb2.Summary(value=[value_proto]), step)

    def close(self) -> None:
        self.writer.close()


def with_scalars_dataframe(logdir: str):
    from tb_callbacks_plugin import scalars_dataframe

    return scalars_dataframe(logdir, progress=False)


def with_tbparse(logdir: str):
    from tbparse import SummaryReader

    reader = SummaryReader(logdir, extra_columns={"dir_name", "wall_time"})
    return reader.tensors


def rows_of(frame, run_column: str) -> list[tuple]:
    return sorted(
        zip(
            frame[run_column].astype(str).replace("", "."),
            frame["tag"].astype(str),
            frame["step"].astype("int64"),
            frame["wall_time"].astype("float64"),
            frame["value"].astype("float64"),
            strict=True,
        )
    )


def timed(fn, logdir: str, repeat: int):
    """Median wall time, median CPU time (this process), all wall times, last result."""
    times, cpu = [], []
    result = None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn(logdir)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu), times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--logdir", default=None, help="where to write the logdir (default: a cache dir in /tmp)"
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20_000, help="batch scalars per run")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="timings per reader; the median is reported")
    parser.add_argument("--tbparse-repeat", type=int, default=3)
    args = parser.parse_args()

    logdir = args.logdir or f"/tmp/tb-callbacks-bench-scalars-{args.runs}-{args.steps}-{args.epochs}"
    if not os.path.exists(os.path.join(logdir, "COMPLETE")):
        shutil.rmtree(logdir, ignore_errors=True)
        start = time.perf_counter()
        write_logdir(logdir, args.runs, args.steps, args.epochs)
        print(f"wrote {logdir} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    size = sum(
        os.path.getsize(os.path.join(d, f))
        for d, _, files in os.walk(logdir)
        for f in files
        if "tfevents" in f
    )
    expected = args.runs * (args.steps + args.epochs * len(EPOCH_TAGS))
    print(
        f"logdir: {args.runs} runs x ({args.steps:,} batch scalars + {args.epochs} epochs x "
        f"{len(EPOCH_TAGS)} epoch scalars) = {expected:,} scalars, {size / 2**20:.1f} MiB"
    )
    import pandas  # noqa: F401 - imported before timing, as tbparse imports it
    import tbparse  # noqa: F401

    ours, our_cpu, our_times, frame = timed(with_scalars_dataframe, logdir, args.repeat)
    theirs, their_cpu, their_times, reference = timed(with_tbparse, logdir, args.tbparse_repeat)
    assert len(frame) == expected, (len(frame), expected)
    same = rows_of(frame, "run") == rows_of(reference, "dir_name")
    assert same, "scalars_dataframe and tbparse found different rows"
    rate, ratio = len(frame) / ours, theirs / ours
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, wall, cpu, times in (
        ("scalars_dataframe", ours, our_cpu, our_times),
        ("tbparse SummaryReader", theirs, their_cpu, their_times),
    ):
        each = ", ".join(f"{t * 1000:.0f}" for t in times)
        print(f"  {name:<22} median {wall * 1000:8.1f} ms wall, {cpu * 1000:8.1f} ms CPU  (wall: {each})")
    print(f"same rows and values: yes ({len(frame):,} rows)")
    print(
        f"scalars_dataframe: {rate / 1e6:.2f}M scalars/s wall ({len(frame) / our_cpu / 1e6:.2f}M/s CPU), "
        f"{ratio:.1f}x tbparse wall ({their_cpu / our_cpu:.1f}x CPU); "
        f"tbparse {len(frame) / theirs / 1e3:.0f}k/s"
    )
    goal = ratio >= 20 and rate >= 1e6
    print(f"goal >= 20x tbparse and >= 1M scalars/s (wall): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
