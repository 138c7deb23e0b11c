"""A real `tensorboard` process on 127.0.0.1 for integration tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Any

_URL_LINE = re.compile(r"http://127\.0\.0\.1:(\d+)/")


class TensorBoardProcess:
    def __init__(
        self,
        logdir: str,
        *,
        load_fast: bool,
        extra_args: tuple[str, ...] = (),
        reload_interval: float = 1,
        start_timeout: float | None = None,
    ):
        self.logdir = logdir
        self.load_fast = load_fast
        cmd = [
            os.path.join(os.path.dirname(sys.executable), "tensorboard"),
            "--logdir",
            logdir,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            f"--load_fast={'true' if load_fast else 'false'}",
            f"--reload_interval={reload_interval}",
            *extra_args,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        self.port: int | None = None
        found = threading.Event()

        def pump() -> None:
            for line in self.proc.stdout:
                self.output.append(line)
                m = _URL_LINE.search(line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    found.set()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        # Waits for the URL line itself, however long a loaded machine takes
        # to import TensorBoard (pytest-timeout ends a hang): it stops waiting
        # only when the process has said its last line without one (or after
        # start_timeout, where a caller such as a benchmark sets one).
        deadline = None if start_timeout is None else time.monotonic() + start_timeout
        while not found.wait(0.2):
            if not reader.is_alive() or (deadline is not None and time.monotonic() > deadline):
                self.stop()
                raise RuntimeError("tensorboard did not start:\n" + "".join(self.output))
        self.base = f"http://127.0.0.1:{self.port}"

    def get(self, path: str, timeout: float = 30) -> tuple[int, bytes, dict[str, str]]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def get_json(self, path: str) -> Any:
        status, body, _ = self.get(path)
        assert status == 200, (path, status, body[:500])
        return json.loads(body)

    def plugin_json(self, route: str) -> Any:
        return self.get_json("/data/plugin/callback_events/" + route)

    def wait_for(self, predicate, timeout: float = 60, interval: float = 0.2):
        """Polls `predicate()` until it returns a truthy value (the loaders
        ingest asynchronously). A short interval: a poll is a local request,
        and every test that waits gets on as soon as the answer is there."""
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            try:
                result = predicate()
                if result:
                    return result
            except (AssertionError, OSError, ValueError) as e:
                last_error = e
            time.sleep(interval)
        raise AssertionError(
            f"condition not met in {timeout}s (last error: {last_error})\n" + "".join(self.output[-30:])
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def tensorboard(logdir: str, *, load_fast: bool, **kwargs):
    server = TensorBoardProcess(logdir, load_fast=load_fast, **kwargs)
    try:
        yield server
    finally:
        server.stop()
