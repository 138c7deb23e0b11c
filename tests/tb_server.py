"""A real `tensorboard` process on 127.0.0.1 for integration tests."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_URL_LINE = re.compile(r"http://127\.0\.0\.1:(\d+)/")
# What TensorBoard prints first where `import tensorflow` fails (tensorboard/main_lib.py).
_NO_TENSORFLOW = "TensorFlow installation not found"
_WITHOUT_TENSORFLOW = str(Path(__file__).resolve().with_name("tensorboard_without_tensorflow.py"))


class TensorBoardProcess:
    def __init__(
        self,
        logdir: str,
        *,
        load_fast: bool,
        extra_args: tuple[str, ...] = (),
        reload_interval: float = 1,
        start_timeout: float | None = None,
        tensorflow: bool | None = None,
    ):
        """`tensorflow=False` runs TensorBoard as where TensorFlow is not
        installed (tests/tensorboard_without_tensorflow.py): 2 s of CPU to start
        and answer instead of 18-20, importing TensorFlow being the rest.
        None: as this environment has it (the JAX and torch environments of
        tests/test_backends.py have no TensorFlow)."""
        installed = importlib.util.find_spec("tensorflow") is not None
        if tensorflow is None:
            tensorflow = installed
        if tensorflow and not installed:
            raise ValueError("tensorflow=True asked of an environment without TensorFlow")
        self.logdir = logdir
        self.load_fast = load_fast
        self.tensorflow = tensorflow
        launcher = (
            [os.path.join(os.path.dirname(sys.executable), "tensorboard")]
            if tensorflow or not installed
            else [sys.executable, _WITHOUT_TENSORFLOW]
        )
        cmd = [
            *launcher,
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
        try:
            while not found.wait(0.2):
                if not reader.is_alive() or (deadline is not None and time.monotonic() > deadline):
                    raise RuntimeError("tensorboard did not start:\n" + "".join(self.output))
        except BaseException:
            # Also when pytest-timeout interrupts the wait: the process would
            # otherwise go on serving (and using CPU) with no one to stop it.
            self.stop()
            raise
        self.base = f"http://127.0.0.1:{self.port}"
        # The configuration is the one asked for (TensorBoard says so before its URL line).
        said_no_tensorflow = any(_NO_TENSORFLOW in line for line in self.output)
        if said_no_tensorflow == tensorflow:
            self.stop()
            raise RuntimeError(f"tensorboard ran with tensorflow={not tensorflow}:\n" + "".join(self.output))

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


class SharedTensorBoards:
    """One TensorBoard per loader for a whole pytest process, over one root logdir.

    Starting a `tensorboard` costs 14-15 s of CPU (it imports TensorFlow); a
    process per loader per test file was a third of the suite's CPU. A test
    file whose TensorBoard needs no flags of its own writes its logdir as
    before, publishes it under this root (one rename, so that TensorBoard never
    sees it half-written) and reads it through `view`: the file's subdirectory
    seen as if it were TensorBoard's whole logdir. New subdirectories appear at
    the next reload (`--reload_interval` 1 s, both loaders)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = os.fspath(root)
        self.names: set[str] = set()
        self._servers: dict[bool, TensorBoardProcess] = {}

    def publish(self, logdir: str | os.PathLike[str], name: str) -> Path:
        """Moves a finished logdir under the root as `name`; returns its new path."""
        target = self.directory(name)
        os.rename(logdir, target)  # onto the empty directory: one step
        return target

    def directory(self, name: str) -> Path:
        """A new empty subdirectory of the root, for a test that writes while TensorBoard reads."""
        assert "/" not in name and name not in self.names, name
        self.names.add(name)
        target = Path(self.root, name)
        target.mkdir()
        return target

    def view(self, logdir: str | os.PathLike[str], *, load_fast: bool) -> LogdirView:
        name = os.path.relpath(logdir, self.root)
        assert name in self.names, f"{logdir} is not published under {self.root}"
        if load_fast not in self._servers:
            self._servers[load_fast] = TensorBoardProcess(self.root, load_fast=load_fast)
        return LogdirView(self, self._servers[load_fast], name)

    def stop(self) -> None:
        for server in self._servers.values():
            server.stop()


class LogdirView:
    """One published subdirectory of a shared TensorBoard, answering as a
    TensorBoard over that subdirectory alone would: the `run` parameters of a
    request get the subdirectory's prefix, and in a JSON answer the runs of
    other subdirectories are left out and the prefix is taken off run names
    (strings and keys that start with it). `get` and `port` are the raw server
    (a raw request names its runs with the prefix, `run`)."""

    def __init__(self, shared: SharedTensorBoards, server: TensorBoardProcess, name: str):
        self._shared, self._server, self.name = shared, server, name
        self.load_fast = server.load_fast
        self.port, self.base = server.port, server.base
        self.logdir = os.path.join(shared.root, name)
        self._first_line = len(server.output)

    @property
    def output(self) -> list[str]:
        """What the server printed since this view was made (this file's requests)."""
        return self._server.output[self._first_line :]

    def run(self, local: str) -> str:
        """The shared server's name of a run of this subdirectory."""
        return self.name if local == "." else f"{self.name}/{local}"

    def _path(self, path: str) -> str:
        route, sep, query = path.partition("?")
        if not sep:
            return path
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        return route + "?" + urllib.parse.urlencode([(k, self.run(v) if k == "run" else v) for k, v in pairs])

    def _local(self, name: str) -> str:
        if name == self.name:
            return "."
        return name[len(self.name) + 1 :] if name.startswith(self.name + "/") else name

    def _foreign(self, item: object) -> bool:
        if isinstance(item, dict):
            item = item.get("run")
        if not isinstance(item, str):
            return False
        top = item.split("/", 1)[0]
        return top != self.name and top in self._shared.names

    def _from_shared(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._local(value)
        if isinstance(value, list):
            return [self._from_shared(v) for v in value if not self._foreign(v)]
        if isinstance(value, dict):
            return {self._local(k): self._from_shared(v) for k, v in value.items() if not self._foreign(k)}
        return value

    def get(self, path: str, timeout: float = 30) -> tuple[int, bytes, dict[str, str]]:
        return self._server.get(self._path(path), timeout)

    def get_json(self, path: str) -> Any:
        return self._from_shared(self._server.get_json(self._path(path)))

    def plugin_json(self, route: str) -> Any:
        return self.get_json("/data/plugin/callback_events/" + route)

    def wait_for(self, predicate, timeout: float = 60, interval: float = 0.2):
        return self._server.wait_for(predicate, timeout, interval)
