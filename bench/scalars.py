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

- one CRC32C pass over the same bytes (in memory): the least any reader
  that checks every record must do.

Checks both readers found the same rows and values, then prints the
medians, our scalars per second, the ratios to the CRC32C pass and to
tbparse, and the peak memory traced during one more `scalars_dataframe`
call against the DataFrame's own size. Goals (issue 22): within 10x of the
CRC32C pass, >= 5M scalars/s, peak <= 2.5x the DataFrame. On a shared
machine quote medians and ratios.

    .venv/bin/python bench/scalars.py [--repeat 5] [--runs 10 --steps 20000 --batch-tags 1 --epochs 100]
    # issue 22's large logdir (242 MB):
    .venv/bin/python bench/scalars.py --runs 8 --steps 140000 --batch-tags 4 --epochs 100 --tbparse-repeat 1
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
BATCH_TAGS = ("batch_loss", "batch_accuracy", "batch_learning_rate", "batch_grad_norm")


def _points(runs: int, steps: int, epochs: int, batch_tags: int):
    """(run index, tag, value, step) in writing order: batch scalars, and epoch scalars at each epoch end."""
    per_epoch = max(1, steps // max(epochs, 1))
    for r in range(runs):
        for step in range(steps):
            for t, tag in enumerate(BATCH_TAGS[:batch_tags]):
                yield r, tag, 2.0 / (step + 1) + r + t, step
            if epochs and (step + 1) % per_epoch == 0 and (step + 1) // per_epoch <= epochs:
                epoch = (step + 1) // per_epoch - 1
                for t, tag in enumerate(EPOCH_TAGS):
                    yield r, tag, 1.0 / (epoch + 1) + t, epoch


def write_logdir(logdir: str, runs: int, steps: int, epochs: int, batch_tags: int) -> None:
    """With TensorFlow, through tf.summary.scalar itself (in a tf.function, as Keras
    writes batch scalars); without, the same protos through EventWriter."""
    try:
        import tensorflow as tf
    except ImportError:
        tf = None
    if tf is not None:
        _write_with_tf(tf, logdir, runs, steps, epochs, batch_tags)
    else:
        writers: dict[int, _ProtoWriter] = {}
        for r, tag, value, step in _points(runs, steps, epochs, batch_tags):
            if r not in writers:
                for old in writers.values():
                    old.close()
                writers = {r: _ProtoWriter(os.path.join(logdir, f"exp{r:02d}", "train"))}
            writers[r].scalar(tag, value, step)
        for old in writers.values():
            old.close()
    with open(os.path.join(logdir, "COMPLETE"), "w") as f:
        json.dump({"runs": runs, "steps": steps, "epochs": epochs, "batch_tags": batch_tags}, f)


def _write_with_tf(tf, logdir: str, runs: int, steps: int, epochs: int, batch_tags: int) -> None:
    """The rows of `_points`, written by tf.summary.scalar in a graph loop (eager calls cost ~100 us each)."""
    per_epoch = max(1, steps // max(epochs, 1))

    for r in range(runs):
        # Traced per run: a traced function keeps the writer it was traced with.
        @tf.function
        def batches(r, first, last):
            for step in tf.range(first, last, dtype=tf.int64):
                for t, tag in enumerate(BATCH_TAGS[:batch_tags]):
                    tf.summary.scalar(tag, 2.0 / tf.cast(step + 1, tf.float64) + r + t, step=step)

        with tf.summary.create_file_writer(os.path.join(logdir, f"exp{r:02d}", "train")).as_default() as w:
            for epoch in range(epochs or 1):
                last = steps if not epochs or epoch == epochs - 1 else (epoch + 1) * per_epoch
                first = epoch * per_epoch
                bounds = tf.constant(first, tf.int64), tf.constant(last, tf.int64)
                batches(tf.constant(float(r), tf.float64), *bounds)
                if epochs:
                    for t, tag in enumerate(EPOCH_TAGS):
                        tf.summary.scalar(tag, 1.0 / (epoch + 1) + t, step=epoch)
            w.flush()


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


def with_numpy_path(logdir: str):
    """`scalars_dataframe` without the compiled loops (as without the `fast` extra)."""
    from tb_callbacks_plugin.eventfiles import scalar_kernels

    os.environ[scalar_kernels.PURE_ENV] = "1"
    try:
        return with_scalars_dataframe(logdir)
    finally:
        del os.environ[scalar_kernels.PURE_ENV]


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


def event_files(logdir: str) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, files in os.walk(logdir) for f in files if "tfevents" in f)


def crc_pass(paths: list[str], repeat: int) -> tuple[float, float]:
    """Median seconds of one CRC32C pass over the files' bytes (in memory), and of reading them."""
    from google_crc32c import value

    contents = []
    read_times = []
    for _ in range(repeat):
        start = time.perf_counter()
        contents = []
        for path in paths:
            with open(path, "rb") as f:
                contents.append(f.read())
        read_times.append(time.perf_counter() - start)
    crc_times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for buf in contents:
            value(buf)
        crc_times.append(time.perf_counter() - start)
    return statistics.median(crc_times), statistics.median(read_times)


def peak_memory(logdir: str) -> tuple[int, int]:
    """Peak bytes traced (Python objects and numpy buffers) while `scalars_dataframe` runs, and the
    DataFrame's own size."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    frame = with_scalars_dataframe(logdir)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, int(frame.memory_usage(deep=True).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--logdir", default=None, help="where to write the logdir (default: a cache dir in /tmp)"
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20_000, help="batch steps per run")
    parser.add_argument("--batch-tags", type=int, default=1, help="batch scalars per step (1-4)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="timings per reader; the median is reported")
    parser.add_argument("--tbparse-repeat", type=int, default=3, help="0: skip tbparse")
    args = parser.parse_args()

    logdir = args.logdir or (
        f"/tmp/tb-callbacks-bench-scalars-{args.runs}-{args.steps}-{args.batch_tags}-{args.epochs}"
    )
    if not os.path.exists(os.path.join(logdir, "COMPLETE")):
        shutil.rmtree(logdir, ignore_errors=True)
        start = time.perf_counter()
        write_logdir(logdir, args.runs, args.steps, args.epochs, args.batch_tags)
        print(f"wrote {logdir} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    paths = event_files(logdir)
    size = sum(os.path.getsize(p) for p in paths)
    expected = args.runs * (args.steps * args.batch_tags + args.epochs * len(EPOCH_TAGS))
    print(
        f"logdir: {args.runs} runs x ({args.steps:,} steps x {args.batch_tags} batch scalars + "
        f"{args.epochs} epochs x {len(EPOCH_TAGS)} epoch scalars) = {expected:,} scalars, "
        f"{size / 2**20:.1f} MiB"
    )
    import pandas  # noqa: F401 - imported before timing, as tbparse imports it
    import tbparse  # noqa: F401

    crc, read = crc_pass(paths, args.repeat)
    ours, our_cpu, our_times, frame = timed(with_scalars_dataframe, logdir, args.repeat)
    assert len(frame) == expected, (len(frame), expected)
    peak, frame_size = peak_memory(logdir)
    pure, pure_cpu, pure_times, pure_frame = timed(with_numpy_path, logdir, args.repeat)
    assert pure_frame.equals(frame), "the numpy and compiled paths found different rows"
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    timings = [
        ("CRC32C pass (in memory)", crc, crc, [crc]),
        ("scalars_dataframe", ours, our_cpu, our_times),
        ("  numpy path only", pure, pure_cpu, pure_times),
    ]
    if args.tbparse_repeat:
        theirs, their_cpu, their_times, reference = timed(with_tbparse, logdir, args.tbparse_repeat)
        same = rows_of(frame, "run") == rows_of(reference, "dir_name")
        assert same, "scalars_dataframe and tbparse found different rows"
        timings.append(("tbparse SummaryReader", theirs, their_cpu, their_times))
    for name, wall, cpu, times in timings:
        each = ", ".join(f"{t * 1000:.0f}" for t in times)
        print(f"  {name:<24} median {wall * 1000:8.1f} ms wall, {cpu * 1000:8.1f} ms CPU  (wall: {each})")
    print(f"  (reading the files' bytes alone, page-cached: {read * 1000:.1f} ms)")
    if args.tbparse_repeat:
        print(f"same rows and values as tbparse: yes ({len(frame):,} rows)")
    rate = len(frame) / ours
    print(
        f"numpy path only: {len(frame) / pure / 1e6:.2f}M scalars/s wall "
        f"({len(frame) / pure_cpu / 1e6:.2f}M/s CPU), {pure / crc:.1f}x the CRC32C pass"
    )
    print(
        f"scalars_dataframe: {rate / 1e6:.2f}M scalars/s wall ({len(frame) / our_cpu / 1e6:.2f}M/s CPU), "
        f"{ours / crc:.1f}x the CRC32C pass ({size / crc / 1e9:.1f} GB/s; {our_cpu / crc:.1f}x in CPU time)"
        + (f", {theirs / ours:.1f}x faster than tbparse ({len(frame) / theirs / 1e3:.0f}k/s)"
           if args.tbparse_repeat else "")
    )
    print(
        f"peak memory: {peak / 2**20:.0f} MiB traced = {peak / frame_size:.2f}x the DataFrame "
        f"({frame_size / 2**20:.0f} MiB)"
    )
    goal = ours / crc <= 10 and rate >= 5e6 and peak <= 2.5 * frame_size
    verdict = "met" if goal else "NOT met"
    print(f"goal <= 10x the CRC32C pass, >= 5M scalars/s (wall), peak <= 2.5x: {verdict}")


if __name__ == "__main__":
    main()
