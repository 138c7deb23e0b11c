"""Benchmark: event files on S3 (a moto server on 127.0.0.1, in its own process).

1. Writing. One simulated run: `--flushes` flushes, each adding `--records`
   scalar records and a callback event, written with `object_file`'s part
   scheme and, for reference, with the same code set to the two obvious
   alternatives:
   - "rewrite one object": a part never rotates (what TensorFlow's GCS and S3
     file systems do on each flush of a growing file);
   - "object per flush": a new part at every upload.
   Printed: PUT requests, MiB uploaded, upload amplification (bytes uploaded
   / bytes written), objects created, median seconds of writing the run
   (uploads included: every flush waits for its upload), and median seconds
   of `read_events` over the result (what a reader pays for the objects).
   Every strategy must read back every event.

2. Reading. `read_events` on a bucket logdir of many event files (fetched
   concurrently, `storage.Backend.read_many`) vs reading the same files one
   by one with `iter_file_events` (one round trip after another); the same
   events asserted.

3. A fit's end. `train_end` (a durable event: written once uploaded) while
   the validation run holds unflushed records: flushing that run first, then
   writing (the drop-in before), vs starting its flush, writing, then waiting
   (`EventWriter.start_flush`, the drop-in now). Printed: median ms of each.

Requests go through a proxy adding `--rtt-ms` (default 20) of round trip, as
a store across a network has; with 0 they go straight to moto on loopback,
where moto's own CPU time per request dominates.

    .venv/bin/python bench/remote.py [--repeat 3] [--flushes 300 --records 40] [--runs 20 --files 4]
        [--rtt-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

from tensorboard.compat.proto import summary_pb2

from tb_callbacks_plugin import EventWriter, read_events
from tb_callbacks_plugin.eventfiles import object_file, storage
from tb_callbacks_plugin.eventfiles.event_reader import find_runs, iter_file_events, sort_events

STRATEGIES = {
    "parts (default)": (object_file.PART_BYTES, object_file.PART_UPLOADS),
    "rewrite one object": (1 << 62, 1 << 62),
    "object per flush": (object_file.PART_BYTES, 1),
}


class LatencyProxy:
    """A TCP proxy on 127.0.0.1 adding `rtt_ms` of round-trip latency (half each way).

    Every chunk is delivered `rtt/2` after it arrived, without slowing the
    chunks behind it: latency as over a network, not a bandwidth limit.
    """

    def __init__(self, target_port: int, rtt_ms: float) -> None:
        self.delay = rtt_ms / 2000
        self.target_port = target_port
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)

    async def _pipe(self, reader, writer) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def receive() -> None:
            while True:
                data = await reader.read(1 << 16)
                queue.put_nowait((self.loop.time() + self.delay, data))
                if not data:
                    return

        async def send() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - self.loop.time()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        try:
            await asyncio.gather(receive(), send())
        except (ConnectionError, OSError):
            writer.close()

    async def _handle(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        try:
            await asyncio.gather(
                self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer)
            )
        except asyncio.CancelledError:  # close() at the end of the benchmark
            client_writer.close()
            server_writer.close()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).read()
            return proc, endpoint
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)


class PutCounter:
    """Counts the uploads of `storage.FsspecBackend.put`."""

    def __init__(self) -> None:
        self.puts = 0
        self.bytes = 0
        self.objects: set[str] = set()
        self._real = storage.FsspecBackend.put

    def __enter__(self) -> PutCounter:
        counter = self

        def put(backend, url, data):
            counter._real(backend, url, data)
            counter.puts += 1
            counter.bytes += len(data)
            counter.objects.add(url)

        storage.FsspecBackend.put = put
        return self

    def __exit__(self, *exc: object) -> None:
        storage.FsspecBackend.put = self._real


def write_run(url: str, flushes: int, records: int) -> int:
    """Writes the simulated run; returns the bytes it occupies in the end."""
    with EventWriter(url, flush_secs=3600) as writer:
        for flush in range(flushes):
            for r in range(records):
                step = flush * records + r
                summary = summary_pb2.Summary(
                    value=[summary_pb2.Summary.Value(tag="batch_loss", simple_value=1.0 / (step + 1))]
                )
                writer.write_summary(summary, step)
            writer.write("custom", flush * records, f"flush {flush}", flush=flush)
            writer.flush()
    return sum(storage.file_size(path) for path in find_runs(url)["."])


def bench_write(args, bucket: str) -> None:
    print(f"1. Writing a run of {args.flushes} flushes x ({args.records} scalars + 1 event)")
    header = (
        f"{'strategy':<20} {'PUTs':>6} {'MiB up':>8} {'amplif.':>8} {'objects':>8} "
        f"{'write s':>8} {'read s':>7}"
    )
    print(header)
    write_run(f"s3://{bucket}/warm-up", 5, args.records)  # connections, client set-up
    results = {}
    for name, (part_bytes, part_uploads) in STRATEGIES.items():
        object_file.PART_BYTES, object_file.PART_UPLOADS = part_bytes, part_uploads
        write_times, read_times = [], []
        for i in range(args.repeat):
            url = f"s3://{bucket}/write/{name.replace(' ', '-').strip('()')}/{i}"
            with PutCounter() as counter:
                start = time.perf_counter()
                written = write_run(url, args.flushes, args.records)
                write_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            events = read_events(url)
            read_times.append(time.perf_counter() - start)
            assert [e.message for e in events] == [f"flush {f}" for f in range(args.flushes)], name
        results[name] = (statistics.median(write_times), statistics.median(read_times))
        print(
            f"{name:<20} {counter.puts:>6} {counter.bytes / 2**20:>8.2f} {counter.bytes / written:>8.1f} "
            f"{len(counter.objects):>8} {results[name][0]:>8.2f} {results[name][1]:>7.3f}"
        )
    object_file.PART_BYTES, object_file.PART_UPLOADS = STRATEGIES["parts (default)"]
    ours = results["parts (default)"]
    for name, (w, r) in results.items():
        if name != "parts (default)":
            print(f"   vs {name}: write time ratio {w / ours[0]:.2f}x, read time ratio {r / ours[1]:.2f}x")


def bench_read(args, bucket: str) -> None:
    logdir = f"s3://{bucket}/read"
    object_file.PART_UPLOADS = 2  # several parts per run
    for run in range(args.runs):
        with EventWriter(f"{logdir}/run{run:03d}/train", flush_secs=3600) as writer:
            for i in range(args.files * 2):
                for j in range(50):
                    writer.write("custom", i * 50 + j, f"{run}:{i}:{j}")
                writer.flush()
    object_file.PART_UPLOADS = STRATEGIES["parts (default)"][1]
    runs = find_runs(logdir)
    files = sum(len(v) for v in runs.values())
    concurrent_times, sequential_times = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        got = read_events(logdir)
        concurrent_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        one_by_one = []
        for run, urls in find_runs(logdir).items():
            for url in urls:
                one_by_one.extend(iter_file_events(url, run))
        one_by_one = sort_events(one_by_one)
        sequential_times.append(time.perf_counter() - start)
        assert got == one_by_one and len(got) == args.runs * args.files * 100
    c, s = statistics.median(concurrent_times), statistics.median(sequential_times)
    print(f"2. Reading {len(got)} events from {files} objects in {len(runs)} runs")
    print(f"   read_events (concurrent fetch): {c:.3f} s median")
    print(f"   one file after another:         {s:.3f} s median  -> ratio {s / c:.2f}x")


def bench_end(args, bucket: str) -> None:
    """A fit's durable end with two runs dirty, as the TensorBoard drop-in writes it."""
    ways = {"flush, then write": False, "overlapped": True}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for i in range(args.repeat * 5):
        for name, overlap in ways.items():
            url = f"s3://{bucket}/end/{name.split(',')[0].replace(' ', '-')}/{i}"
            with EventWriter(f"{url}/train", flush_secs=3600) as train, EventWriter(
                f"{url}/validation", flush_secs=3600
            ) as validation:
                loss = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="loss", simple_value=1.0)])
                for writer in (train, validation):
                    writer.write_summary(loss, 0)
                start = time.perf_counter()
                if overlap:
                    wait = validation.start_flush()
                    train.write("train_end", 0, "end", reason="completed")
                    wait()
                else:
                    validation.flush()
                    train.write("train_end", 0, "end", reason="completed")
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print("3. A fit's end: train_end (durable) with the validation run's records unflushed")
    for name, median in medians.items():
        print(f"   {name:<18} {median * 1000:7.1f} ms median")
    print(f"   -> ratio {medians['flush, then write'] / medians['overlapped']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--flushes", type=int, default=300)
    parser.add_argument("--records", type=int, default=40)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="round trip added to every request")
    args = parser.parse_args()
    proc, endpoint = start_moto()
    proxy = None
    try:
        if args.rtt_ms > 0:
            proxy = LatencyProxy(int(endpoint.rsplit(":", 1)[1]), args.rtt_ms)
            endpoint = f"http://127.0.0.1:{proxy.port}"
        print(f"moto_server on 127.0.0.1, {args.rtt_ms:g} ms round trip added per request")
        os.environ.update(
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=endpoint,
        )
        import boto3

        bucket = "bench"
        boto3.client("s3").create_bucket(Bucket=bucket)
        bench_write(args, bucket)
        bench_read(args, bucket)
        bench_end(args, bucket)
    finally:
        if proxy is not None:
            proxy.close()
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
