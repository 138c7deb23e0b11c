"""Real `tensorboard` processes (both loaders) serving while a real fit
writes: polling `runs`, `tags`, `events` and `scalars` during training never
fails (no 5xx, always strict JSON, what was served once is never taken back),
and once the fit has ended the answers equal `read_events`.

The fit waits at the end of each epoch until both servers have served that
epoch's events (a gate file per epoch), so every state of the growing
timeline is polled however slowly the servers start or the machine runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import pytest
from test_faults import child_command, child_env, comparable, read_quietly, without_writer

pytestmark = pytest.mark.timeout(240)
EPOCHS = 10
RUN, VAL_RUN = "exp/train", "exp/validation"


def strict_json(body: bytes):
    def refuse(name):
        raise ValueError(f"non-JSON constant {name}")

    return json.loads(body, parse_constant=refuse)


@dataclass
class Poller:
    """Polls one server's routes in a thread and records what went wrong."""

    server: Any  # a view of the worker's shared TensorBoard of one loader (tests/tb_server.py)
    failures: list[str] = field(default_factory=list)
    polls: int = 0
    max_events: int = 0
    max_points: int = 0
    seen_ok: set[str] = field(default_factory=set)
    counts_seen: set[int] = field(default_factory=set)

    def get(self, route: str, **params) -> tuple[int, object]:
        path = f"/data/plugin/callback_events/{route}?{urllib.parse.urlencode(params)}"
        status, body, _ = self.server.get(path)
        self.polls += 1
        try:
            parsed = strict_json(body)
        except ValueError as e:
            self.failures.append(f"{route}: {status} not JSON ({e}): {body[:200]!r}")
            return status, None
        if status >= 500:
            self.failures.append(f"{route}: {status} {parsed}")
        elif status != 200:
            # Only "not there yet" is acceptable, and only before it was there.
            if status != 404 or route in self.seen_ok:
                self.failures.append(f"{route}: {status} {parsed} (after {route} answered 200)")
        else:
            self.seen_ok.add(route)
        return status, parsed

    def poll_once(self) -> None:
        self.get("runs")
        self.get("tags", run=RUN)
        status, body = self.get("events", run=RUN)
        if status == 200 and body is not None:
            count = len(body["events"])
            if count < self.max_events:
                self.failures.append(f"events went from {self.max_events} to {count}")
            self.max_events = max(self.max_events, count)
            self.counts_seen.add(count)
        status, body = self.get("scalars", run=VAL_RUN, tag="epoch_loss")
        if status == 200 and body is not None:
            if body["total"] < self.max_points:
                self.failures.append(f"scalar points went from {self.max_points} to {body['total']}")
            self.max_points = max(self.max_points, body["total"])

    def run_until(self, done: threading.Event) -> None:
        while not done.is_set():
            try:
                self.poll_once()
            except OSError as e:  # connection refused or reset: the server failed
                self.failures.append(f"connection: {e}")
            time.sleep(0.05)


def open_gates(pollers: list[Poller], gates, done: threading.Event) -> None:
    """Lets the fit go on past epoch e once every poller was served its e + 2 events."""
    for epoch in range(EPOCHS):
        while not done.is_set() and min(p.max_events for p in pollers) < epoch + 2:
            time.sleep(0.02)
        if done.is_set():
            return
        (gates / f"epoch-{epoch}").touch()


def test_polling_while_training_never_fails_and_ends_equal_to_read_events(tmp_path, shared_tensorboards):
    logs = shared_tensorboards.directory("live")
    log_dir = logs / "exp"
    gates = tmp_path / "gates"
    gates.mkdir()
    fit = subprocess.Popen(
        child_command(log_dir=str(log_dir), lr_schedule=True, epochs=EPOCHS, epoch_gate=str(gates)),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    done = threading.Event()
    threads = []
    try:
        servers = [shared_tensorboards.view(logs, load_fast=load_fast) for load_fast in (True, False)]
        pollers = [Poller(server) for server in servers]
        threads = [threading.Thread(target=p.run_until, args=(done,), daemon=True) for p in pollers]
        threads.append(threading.Thread(target=open_gates, args=(pollers, gates, done), daemon=True))
        for thread in threads:
            thread.start()
        output, _ = fit.communicate(timeout=200)
        assert fit.returncode == 0, output[-3000:]
        # The fit was watched while it ran, not only after: at the end of
        # epoch e it had written train_begin and e + 1 lr_change events, and
        # it waited there until both servers had served them.
        for server, poller in zip(servers, pollers, strict=True):
            assert set(range(2, EPOCHS + 2)) <= poller.counts_seen, (server.load_fast, poller.counts_seen)
        done.set()
        for thread in threads:
            thread.join(60)
        for server, poller in zip(servers, pollers, strict=True):
            assert poller.failures == [], (server.load_fast, poller.failures[:10])
            assert poller.polls > 20, poller.polls

        events, warned = read_quietly(logs)
        assert warned == []
        expected = comparable(e for e in events if e.run == RUN)
        assert [e["kind"] for e in expected] == ["train_begin"] + ["lr_change"] * EPOCHS + ["train_end"]
        for server in servers:

            def final(server=server):
                served = server.plugin_json("events?" + urllib.parse.urlencode({"run": RUN}))["events"]
                series = server.plugin_json(
                    "scalars?" + urllib.parse.urlencode({"run": VAL_RUN, "tag": "epoch_loss"})
                )
                return without_writer(served) == expected and series["step"] == list(range(EPOCHS))

            server.wait_for(final, timeout=60)
            runs = server.plugin_json("runs")["runs"]
            tags = server.plugin_json("tags?" + urllib.parse.urlencode({"run": RUN}))["runs"]
            assert "epoch_loss" in tags[VAL_RUN]
            assert runs == [
                {
                    "run": RUN,
                    "experiment": "exp",
                    "count": len(expected),
                    "kinds": {"lr_change": EPOCHS, "train_begin": 1, "train_end": 1},
                    "warnings": [],
                    "scalar_tags": tags,
                }
            ]
    finally:
        done.set()
        if fit.poll() is None:
            os.killpg(fit.pid, signal.SIGKILL)
            fit.wait()
