"""Benchmark: reading callback events with `read_events` vs tbparse and EventAccumulator.

Writes (once, then reuses) a logdir of 10 runs holding 1,000,000 scalar
records in all (Keras-style tensor summaries with the scalars plugin's
metadata, 4 tags per run) and 10,000 callback events (some bundled at one
step), then reads every event back three ways in the same process:

- `tb_callbacks_plugin.read_events(logdir)`;
- tbparse `SummaryReader(logdir, event_types={"tensors"})`, decoding our
  bundles from its tensor values (it has no way to read only some tags);
- TensorBoard's `EventAccumulator` per run with `size_guidance={TENSORS: 0}`
  (keep everything), decoding the bundles of our tags.

It asserts the three found the same events, then prints median times and
ratios. Goal: read_events >= 10x faster than tbparse.

    .venv/bin/python bench/read.py [--repeat 3] [--runs 10 --scalars 1000000 --events 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time

import numpy as np
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.scalar import metadata as scalar_metadata

from tb_callbacks_plugin import EventWriter, event_format, read_events
from tb_callbacks_plugin.eventfiles.event_reader import find_runs

TAGS = ("batch_loss", "batch_accuracy", "batch_learning_rate", "batch_grad_norm")
KINDS = ("checkpoint_saved", "lr_change", "my_metric.alert", "early_stop")
T0 = 1_700_000_000.0


def _scalar(tag: str, value: float, meta) -> summary_pb2.Summary:
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        tensor_content=np.float32(value).tobytes(),
    )
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)])


def write_logdir(logdir: str, runs: int, scalars: int, events: int) -> None:
    """`runs` runs sharing `scalars` scalar records and `events` events (one writer per run)."""
    meta = scalar_metadata.create_summary_metadata(display_name="", description="")
    per_run_scalars = scalars // runs
    steps = per_run_scalars // len(TAGS)
    per_run_events = events // runs
    # Every 10th event shares the previous one's step (a bundle of two).
    event_steps = []
    step = 0
    for i in range(per_run_events):
        if i % 10 != 9:
            step = (i + 1) * max(1, steps // (per_run_events + 1))
        event_steps.append(min(step, steps - 1))
    for r in range(runs):
        with EventWriter(os.path.join(logdir, f"exp{r:02d}", "train")) as writer:
            pending = iter(enumerate(event_steps))
            nxt = next(pending, None)
            for s in range(steps):
                for t, tag in enumerate(TAGS):
                    writer.write_summary(_scalar(tag, 1.0 / (s + 1) + t, meta), s, wall_time=T0 + s)
                while nxt is not None and nxt[1] == s:
                    i = nxt[0]
                    writer.write(
                        KINDS[i % len(KINDS)],
                        s,
                        f'event {i} of run {r}, with text, "quotes" and ünïcødé',
                        epoch=s // 100,
                        source="Bench",
                        wall_time=T0 + s + 0.5,
                        index=i,
                        value=float(i) / 7,
                    )
                    nxt = next(pending, None)
    with open(os.path.join(logdir, "COMPLETE"), "w") as f:
        json.dump({"runs": runs, "scalars": scalars, "events": events}, f)


def _key(run: str, step: int, item: dict) -> tuple:
    return (run, int(step), item["kind"], float(item["wall_time"]), item["message"], json.dumps(item["data"]))


def with_read_events(logdir: str) -> list[tuple]:
    return [(e.run, e.step, e.kind, e.wall_time, e.message, json.dumps(e.data)) for e in read_events(logdir)]


def with_tbparse(logdir: str) -> list[tuple]:
    from tbparse import SummaryReader

    frame = SummaryReader(logdir, event_types={"tensors"}, extra_columns={"dir_name"}).tensors
    ours = frame[frame["tag"].str.startswith(event_format.EVENTS_TAG_PREFIX)]
    out = []
    for run, step, value in zip(ours["dir_name"], ours["step"], ours["value"], strict=True):
        for raw in np.atleast_1d(value):
            out.append(_key(run, step, json.loads(raw)))
    return out


def with_event_accumulator(logdir: str) -> list[tuple]:
    from tensorboard.backend.event_processing import event_accumulator as ea

    out = []
    for run in find_runs(logdir):
        acc = ea.EventAccumulator(os.path.join(logdir, run), size_guidance={ea.TENSORS: 0})
        acc.Reload()
        for tag in acc.Tags()[ea.TENSORS]:
            if not tag.startswith(event_format.EVENTS_TAG_PREFIX):
                continue
            for tensor_event in acc.Tensors(tag):
                for raw in tensor_event.tensor_proto.string_val:
                    out.append(_key(run, tensor_event.step, json.loads(raw)))
    return out


def timed(fn, logdir: str, repeat: int) -> tuple[float, list[tuple]]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(logdir)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--logdir", default=None, help="where to write the logdir (default: a cache dir in /tmp)"
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--scalars", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="timings per reader; the median is reported")
    parser.add_argument("--skip", action="append", default=[], choices=["tbparse", "accumulator"])
    args = parser.parse_args()

    logdir = args.logdir or f"/tmp/tb-callbacks-bench-read-{args.runs}-{args.scalars}-{args.events}"
    marker = os.path.join(logdir, "COMPLETE")
    if not os.path.exists(marker):
        shutil.rmtree(logdir, ignore_errors=True)
        start = time.perf_counter()
        write_logdir(logdir, args.runs, args.scalars, args.events)
        print(f"wrote {logdir} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    size = sum(os.path.getsize(p) for paths in find_runs(logdir).values() for p in paths)
    print(
        f"logdir: {args.runs} runs, {args.scalars:,} scalar records, {args.events:,} events, "
        f"{size / 2**20:.1f} MiB; median of {args.repeat}"
    )

    # Import everything (TensorFlow comes in through tensorboard.compat) before timing.
    import tbparse  # noqa: F401
    from tensorboard.backend.event_processing import event_accumulator  # noqa: F401
    from tensorboard.compat import tf

    readers = [("read_events", with_read_events)]
    if "tbparse" not in args.skip:
        readers.append(("tbparse SummaryReader", with_tbparse))
    if "accumulator" not in args.skip:
        readers.append(("EventAccumulator", with_event_accumulator))
    results = {}
    for name, fn in readers:
        seconds, found = timed(fn, logdir, args.repeat)
        results[name] = (seconds, sorted(found))
        print(f"  {name:<24} {seconds:8.2f} s   {len(found):,} events", flush=True)

    reference = results["read_events"][1]
    assert len(reference) == args.runs * (args.events // args.runs), len(reference)
    for name, (_, found) in results.items():
        assert found == reference, f"{name} found different events than read_events"
    ours = results["read_events"][0]
    print("same events from every reader: yes")
    for name, (seconds, _) in results.items():
        if name != "read_events":
            print(f"  read_events is {seconds / ours:5.1f}x faster than {name}")
    backend = "stub" if tf.__version__ == "stub" else f"TensorFlow {tf.__version__}"
    print(f"(tensorboard.compat.tf here, used by EventAccumulator and tbparse: {backend})")
    if "tbparse SummaryReader" in results:
        ratio = results["tbparse SummaryReader"][0] / ours
        print(f"goal >= 10x faster than tbparse: {'met' if ratio >= 10 else 'NOT met'} ({ratio:.1f}x)")


if __name__ == "__main__":
    main()
