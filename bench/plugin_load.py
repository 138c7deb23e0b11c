"""Load benchmark: many clients polling the plugin's routes at once.

One log directory of RUNS runs (EVENTS callback events and a POINTS-point
scalar series each), one real `tensorboard` process per loader on 127.0.0.1.
CLIENTS threads each loop for DURATION seconds, every request on a fresh
connection with `Accept-Encoding: gzip` as a browser sends it, over random
runs:

  ours       GET /data/plugin/callback_events/events?run=R   (alternating)
             GET /data/plugin/callback_events/scalars?run=R&tag=batch_loss
  reference  GET /data/plugin/scalars/scalars?run=R&tag=batch_loss

The reference phase runs in the same process right after ours, so both meet
the same machine. Any answer other than 200 with a complete body counts as
an error; the script exits 1 if there was one. Prints p50/p99 latency and
throughput per phase, and ours / reference ratios.

Usage: .venv/bin/python bench/plugin_load.py [--clients 50] [--duration 60]
       [--runs 100] [--events 1000] [--points 1000] [--load-fast true,false]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, HERE)

from plugin_routes import TAG, add_logdir_arguments, each_loader  # noqa: E402
from tb_server import tensorboard  # noqa: E402

OURS = (
    "/data/plugin/callback_events/events?run={run}",
    "/data/plugin/callback_events/scalars?run={run}&tag=" + TAG,
)
REFERENCE = ("/data/plugin/scalars/scalars?run={run}&tag=" + TAG,)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _one_request(port: int, path: str) -> tuple[float, str | None]:
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
        response = conn.getresponse()
        body = response.read()
        conn.close()
    except (OSError, http.client.HTTPException) as e:
        return time.perf_counter() - start, f"{path}: {type(e).__name__}: {e}"
    elapsed = time.perf_counter() - start
    if response.status != 200 or not body:
        return elapsed, f"{path}: HTTP {response.status} {body[:200]!r}"
    return elapsed, None


def load(port: int, routes: tuple[str, ...], runs: list[str], clients: int, duration: float) -> dict:
    """`clients` threads polling `routes` over random runs for `duration` s."""
    tallies = [Tally() for _ in range(clients)]
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        rng = random.Random(index)
        tally = tallies[index]
        start_gate.wait()
        i = index
        while time.perf_counter() < stop_at[0]:
            path = routes[i % len(routes)].format(run=urllib.parse.quote(rng.choice(runs)))
            i += 1
            elapsed, error = _one_request(port, path)
            tally.latencies.append(elapsed)
            if error:
                tally.errors.append(error)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + duration
    start_gate.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    latencies = sorted(x for t in tallies for x in t.latencies)
    errors = [e for t in tallies for e in t.errors]
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "throughput": len(latencies) / wall,
    }


def bench_loader(logdir: str, args: argparse.Namespace, load_fast: bool) -> int:
    run_names = [f"exp_{r:03d}/train" for r in range(args.runs)]
    with tensorboard(logdir, load_fast=load_fast, reload_interval=30) as tb:

        def ingested() -> bool:
            listing = tb.plugin_json("runs")["runs"]
            if len(listing) != args.runs or any(r["count"] != args.events for r in listing):
                return False
            path = f"/data/plugin/scalars/scalars?run={urllib.parse.quote(run_names[-1])}&tag={TAG}"
            return len(tb.get_json(path)) == args.points

        start = time.monotonic()
        tb.wait_for(ingested, timeout=900, interval=2)
        print(f"  ingested in {time.monotonic() - start:.1f}s")
        # One untimed pass, so neither phase pays for first decoding.
        for run in run_names:
            for template in OURS + REFERENCE:
                _one_request(tb.port, template.format(run=urllib.parse.quote(run)))
        ours = load(tb.port, OURS, run_names, args.clients, args.duration)
        reference = load(tb.port, REFERENCE, run_names, args.clients, args.duration)
        assert tb.proc.poll() is None, "tensorboard died under load"
    print(f"  {args.clients} clients x {args.duration:.0f} s per phase")
    print(f"  {'phase':40} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for name, r in (("ours: events + scalars", ours), ("TensorBoard scalars (reference)", reference)):
        print(
            f"  {name:40} {r['requests']:9d} {len(r['errors']):7d} {r['p50'] * 1000:8.1f} "
            f"{r['p99'] * 1000:8.1f} {r['throughput']:8.1f}"
        )
    print(
        f"  ratios ours/reference: p50 {ours['p50'] / reference['p50']:.2f}x, "
        f"p99 {ours['p99'] / reference['p99']:.2f}x, "
        f"throughput {ours['throughput'] / reference['throughput']:.2f}x"
    )
    for error in (ours["errors"] + reference["errors"])[:10]:
        print(f"  error: {error}")
    return len(ours["errors"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    add_logdir_arguments(parser)
    args = parser.parse_args()
    errors = sum(
        bench_loader(logdir, args, load_fast) for logdir, load_fast in each_loader(args, "bench_load_")
    )
    if errors:
        raise SystemExit(f"{errors} failed requests on our routes")


if __name__ == "__main__":
    main()
