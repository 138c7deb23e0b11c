"""Benchmark: the plugin's routes against TensorBoard's own scalars route.

One log directory with RUNS runs, each holding EVENTS callback events and a
scalar series of POINTS points; one real `tensorboard` process per loader.
For every run, in interleaved order (so machine load hits all alike):

  ours   GET /data/plugin/callback_events/events?run=R
  ours   GET /data/plugin/callback_events/scalars?run=R&tag=batch_loss
  TB     GET /data/plugin/scalars/scalars?run=R&tag=batch_loss

plus `runs` (all runs at once). Requests send `Accept-Encoding: gzip` as a
browser does. The first pass over the runs is reported apart ("cold": our
events are decoded then); later passes are "warm". Prints medians and the
ratios to TensorBoard's scalars route, measured in the same run.

Usage: .venv/bin/python bench/plugin_routes.py [--runs 100] [--events 1000]
       [--points 1000] [--passes 5] [--load-fast true,false]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from tb_server import tensorboard  # noqa: E402
from test_plugin_logdirs import T0, scalar_summary  # noqa: E402

from tb_callbacks_plugin import EventWriter  # noqa: E402

KINDS = ("lr_change", "checkpoint_saved", "early_stop", "my_metric.spike")
TAG = "batch_loss"


def build_logdir(root: str, runs: int, events: int, points: int) -> None:
    for r in range(runs):
        with EventWriter(os.path.join(root, f"exp_{r:03d}", "train")) as w:
            for i in range(events):
                w.write(
                    KINDS[i % len(KINDS)],
                    i,
                    f"learning rate 0.{i:04d} -> 0.{i + 1:04d} at step {i}",
                    epoch=i // 50,
                    source="ReduceLROnPlateau",
                    wall_time=T0 + i,
                    old=0.001 * i,
                    new=0.001 * (i + 1),
                    monitor="val_loss",
                )
            for i in range(points):
                w.write_summary(scalar_summary(TAG, 1.0 / (i + 1)), i, wall_time=T0 + i)


class Client:
    def __init__(self, port: int) -> None:
        self.port = port

    def get(self, path: str) -> tuple[float, int, int]:
        """(seconds, status, body bytes) of one GET on a fresh connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        start = time.perf_counter()
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - start
        conn.close()
        return elapsed, response.status, len(body)


def bench_loader(logdir: str, args: argparse.Namespace, load_fast: bool) -> dict[str, float]:
    run_names = [f"exp_{r:03d}/train" for r in range(args.runs)]
    with tensorboard(logdir, load_fast=load_fast, reload_interval=30) as tb:
        last = urllib.parse.quote(run_names[-1])

        def ingested():
            # Only the last run is asked for, so the first pass below finds
            # the others not yet decoded (cold); the counts of all runs are
            # checked after the passes.
            if len(tb.plugin_json(f"events?run={last}")["events"]) != args.events:
                return False
            return len(tb.get_json(f"/data/plugin/scalars/scalars?run={last}&tag={TAG}")) == args.points

        start = time.monotonic()
        tb.wait_for(ingested, timeout=600, interval=2)
        print(f"  ingested in {time.monotonic() - start:.1f}s (after start)")
        client = Client(tb.port)
        routes = {
            "events": "/data/plugin/callback_events/events?run={run}",
            "our scalars": "/data/plugin/callback_events/scalars?run={run}&tag=" + TAG,
            "TB scalars": "/data/plugin/scalars/scalars?run={run}&tag=" + TAG,
        }
        times: dict[str, list[float]] = {name: [] for name in routes}
        cold: dict[str, list[float]] = {name: [] for name in routes}
        sizes: dict[str, int] = {}
        runs_times = []
        for p in range(args.passes + 1):
            for run in run_names:
                for name, template in routes.items():
                    elapsed, status, size = client.get(template.format(run=urllib.parse.quote(run)))
                    assert status == 200, (name, run, status)
                    (cold if p == 0 else times)[name].append(elapsed)
                    sizes[name] = size
            elapsed, status, size = client.get("/data/plugin/callback_events/runs")
            assert status == 200
            runs_times.append(elapsed)
            sizes["runs"] = size
        runs = tb.plugin_json("runs")["runs"]
        assert len(runs) == args.runs and all(r["count"] == args.events for r in runs), "not all ingested"
    # A fresh server whose first request is `runs`, as when the tab opens:
    # it decodes every run's events in one batched read.
    with tensorboard(logdir, load_fast=load_fast, reload_interval=30) as tb:
        client = Client(tb.port)

        def all_loaded():
            # Each run's scalars follow its events in its file: when every
            # run's series is whole, every event is loaded too.
            for run in run_names:
                path = f"/data/plugin/scalars/scalars?run={urllib.parse.quote(run)}&tag={TAG}"
                if len(tb.get_json(path)) != args.points:
                    return False
            return True

        tb.wait_for(all_loaded, timeout=600, interval=2)
        elapsed, status, _ = client.get("/data/plugin/callback_events/runs")
        runs = tb.plugin_json("runs")["runs"]
        assert status == 200 and len(runs) == args.runs and all(r["count"] == args.events for r in runs)
        first_runs = elapsed
    result = {f"{name} (warm)": statistics.median(values) for name, values in times.items()}
    result.update({f"{name} (first pass)": statistics.median(values) for name, values in cold.items()})
    result["runs (warm)"] = statistics.median(runs_times)
    result[f"runs (first call, {args.runs * args.events} events)"] = first_runs
    print(f"  gzip'd response bytes: {sizes}")
    return result


def add_logdir_arguments(parser: argparse.ArgumentParser) -> None:
    """The logdir's size and the loaders to bench (shared with plugin_load.py)."""
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--load-fast", default="true,false", help="loaders to bench: true, false or both")


def each_loader(args: argparse.Namespace, prefix: str) -> Iterator[tuple[str, bool]]:
    """(logdir, load_fast) for each loader asked for, over one logdir built once."""
    with tempfile.TemporaryDirectory(prefix=prefix) as logdir:
        start = time.monotonic()
        build_logdir(logdir, args.runs, args.events, args.points)
        print(
            f"logdir: {args.runs} runs x {args.events} events + {args.points} scalar points "
            f"(written in {time.monotonic() - start:.1f}s)"
        )
        for value in args.load_fast.split(","):
            load_fast = value.strip() == "true"
            print(f"\n--load_fast={'true' if load_fast else 'false'}")
            yield logdir, load_fast


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_logdir_arguments(parser)
    parser.add_argument("--passes", type=int, default=5, help="warm passes over all runs")
    args = parser.parse_args()
    for logdir, load_fast in each_loader(args, "bench_plugin_routes_"):
        result = bench_loader(logdir, args, load_fast)
        reference = result["TB scalars (warm)"]
        print(f"  {'route':28} {'median ms':>10} {'/ TB scalars':>13}")
        for name, seconds in result.items():
            print(f"  {name:28} {seconds * 1000:10.2f} {seconds / reference:12.2f}x")


if __name__ == "__main__":
    main()
