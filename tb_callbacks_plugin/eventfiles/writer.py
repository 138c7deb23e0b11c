"""`EventWriter`: the one writer of a run's event file, without TensorFlow.

Callers (the training thread) only build protos and queue bytes; a
background thread owns the file, so disk I/O never stalls training. Events
that end training (`DURABLE_KINDS`) are the exception: `write` returns once
they are flushed and fsync'd, because the process may be about to die.
Everything else reaches the disk within `flush_secs` and at `close()`.

A run directory may also be a URL (`s3://bucket/logs/run`, `gs://...`, any
fsspec scheme): the thread then uploads the file in parts, as described in
`object_file`, and "on disk" above means "uploaded".
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import queue
import socket
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Callable
from typing import Any

from tensorboard.compat.proto import event_pb2, summary_pb2

from tb_callbacks_plugin import event_format
from tb_callbacks_plugin.eventfiles import object_file, records, storage

_FILE_VERSION = "brain.Event:2"
_open_writers: weakref.WeakSet[EventWriter] = weakref.WeakSet()
_file_counter = itertools.count()
_TICK = object()
_FLUSH = object()  # queued behind records so that a periodic flush includes them
logger = logging.getLogger("tb_callbacks_plugin")


@atexit.register
def _close_open_writers() -> None:
    for writer in list(_open_writers):
        writer.close()


_exit_hook_lock = threading.Lock()
_exit_hook_registered = False


def _close_before_thread_pools_stop() -> None:
    """Also closes writers from threading's exit hooks, before `atexit`.

    Uploads need the thread pools of asyncio (aiohttp resolves names in
    one), and Python shuts those down in threading's exit hooks, which run
    before `atexit` handlers: an upload from `atexit` fails with "cannot
    schedule new futures after shutdown". Those hooks run last-registered
    first, so registering once a remote writer exists (its file system
    library, and thus `concurrent.futures`, already imported) runs ours first.
    """
    global _exit_hook_registered
    register = getattr(threading, "_register_atexit", None)
    with _exit_hook_lock:
        if _exit_hook_registered or register is None:
            return
        try:
            register(_close_open_writers)
        except RuntimeError:  # interpreter already shutting down
            return
        _exit_hook_registered = True


def _nothing_to_wait_for() -> None:
    return None


class _Barrier:
    """Queued after records; set once everything before it is on disk."""

    def __init__(self, fsync: bool) -> None:
        self.fsync = fsync
        self.done = threading.Event()
        self.mark = 0  # the sink position it waits for
        self.expires = 0.0
        self.queued = 0  # records queued before it


class _Build:
    """Queued events still to be built, by the writing thread."""

    __slots__ = ("build",)

    def __init__(self, build: Callable[[], list[event_pb2.Event]]) -> None:
        self.build = build


class _LocalFile:
    """The writer thread's sink for a local event file: append, flush, fsync."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file = open(path, "ab")  # noqa: SIM115 - closed by close()

    def mark(self) -> int:
        return 0  # sync either succeeds or raises: nothing to wait for

    def stored(self) -> int:
        return 0

    def retry_at(self) -> float | None:
        return None

    def patience(self) -> float:
        return 0.0

    def append(self, data: bytes) -> None:
        self._file.write(data)

    def tick(self) -> None:
        self._file.flush()

    def sync(self, fsync: bool) -> None:
        self._file.flush()
        if fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


class EventWriter:
    """Writes callback events (and any other summaries) to one event file.

    Args:
      run_dir: directory of the run; created if missing. A URL such as
        `s3://bucket/logs/run` or `gs://bucket/logs/run` writes to that
        store (see `object_file`); its bucket must exist.
      flush_secs: longest time a buffered record waits before reaching disk.
      filename_suffix: appended to the event file name.
      storage_options: options for the fsspec file system of a URL (e.g.
        `{"endpoint_url": ...}` for s3fs); credentials otherwise come from
        the environment as usual.

    Raises:
      OSError: for a URL, the store cannot be written (missing bucket:
        `FileNotFoundError`, refused credentials: `PermissionError`,
        unreachable endpoint: `ConnectionError`), found before training
        starts.
      ImportError: no file system serves the URL's scheme.

    Example:

    ```python
    with EventWriter("logs/train") as writer:
        writer.write("lr_change", step=120, epoch=3, old=0.01, new=0.001,
                     message="learning rate 0.01 -> 0.001")
    ```
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        *,
        flush_secs: float = 1.0,
        filename_suffix: str = "",
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.run_dir = os.fspath(run_dir)
        # Unique per writer so that a second fit into the same run never
        # reuses a tag (see event_format for why tags must not repeat steps).
        self._writer_id = uuid.uuid4().hex[:8]
        name = (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}"
            f".{os.getpid()}.{next(_file_counter)}"
        )
        local = storage.local_path(self.run_dir)
        self._sink: _LocalFile | object_file.ObjectEventFile
        if local is not None:
            os.makedirs(local, exist_ok=True)
            self._sink = _LocalFile(os.path.join(local, name + filename_suffix))
            self._wait_secs: float | None = None  # a local fsync is waited for, however long
        else:
            backend = storage.backend_for(self.run_dir, storage_options)
            # Uploads the first part: a bad bucket, credentials or endpoint
            # raise here, before training starts.
            self._sink = object_file.ObjectEventFile(
                backend, self.run_dir, name, filename_suffix, self._file_version_record
            )
            self._wait_secs = object_file.SYNC_WAIT_SECS
            _close_before_thread_pools_stop()
        self._flush_secs = flush_secs
        self._lock = threading.Lock()
        self._pending_step: int | None = None
        self._pending: list[bytes] = []
        self._slot_last_step: list[int] = []  # per slot: last step written
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        # Records queued, and how many of them the last completed fsync covered
        # (counted without the lock: a count lost to a race could only skip the
        # closing fsync of a record that is still written and closed).
        self._queued = 0
        self._synced = -1
        self._closed = False
        self._error: BaseException | None = None
        self._build_warned = False
        self._thread = threading.Thread(target=self._run, name=f"EventWriter({self.run_dir})", daemon=True)
        self._thread.start()
        if local is not None:
            self._queue.put(self._file_version_record())
        _open_writers.add(self)

    @property
    def path(self) -> str:
        """The event file being written (for a URL: the part being written)."""
        return self._sink.path

    # ------------------------------------------------------------ public API

    def write(
        self,
        kind: str,
        step: int,
        message: str = "",
        *,
        epoch: int | None = None,
        source: str | None = None,
        wall_time: float | None = None,
        **data: Any,
    ) -> None:
        """Records one callback event at training step `step`."""
        step = event_format.check_step("step", step)
        encoded = event_format.make_event_json(
            kind, message, epoch=epoch, source=source, wall_time=wall_time, data=data
        )
        durable = kind in event_format.DURABLE_KINDS
        with self._lock:
            self._check_open()
            if self._pending_step is not None and self._pending_step != step:
                self._emit_pending_locked()
            self._pending_step = step
            self._pending.append(encoded)
            if durable:
                self._emit_pending_locked()
        if durable:
            self._sync(fsync=True)

    def write_epoch(self, epoch: int, step: int, *, wall_time: float | None = None) -> None:
        """Notes that `epoch` ended at global step `step` (at `wall_time`, default now)."""
        step = event_format.check_step("step", step)
        summary = event_format.epoch_summary(event_format.EPOCHS_TAG_PREFIX + self._writer_id, epoch)
        self.write_summary(summary, step, wall_time=wall_time)

    def write_summary(self, summary: summary_pb2.Summary, step: int, wall_time: float | None = None) -> None:
        """Queues any `Summary` (scalars, histograms, images) at `step`."""
        self.write_proto(
            event_pb2.Event(
                wall_time=time.time() if wall_time is None else wall_time,
                step=int(step),
                summary=summary,
            )
        )

    def write_proto(self, event: event_pb2.Event) -> None:
        """Queues a ready `Event` proto (e.g. a graph)."""
        with self._lock:
            self._check_open()
        self._enqueue_event(event)

    def write_later(self, build: Callable[[], list[event_pb2.Event]]) -> None:
        """Queues events that the writing thread builds, in order with everything else.

        For summaries whose building is the cost (histograms of weights
        already copied to numpy, a second of batch scalars): the training
        thread hands over plain values and goes on; the protos are made while
        it computes (TensorFlow, JAX and torch release the GIL there). An
        exception from `build` skips its events, with one warning.
        """
        with self._lock:
            self._check_open()
        self._queued += 1
        self._queue.put(_Build(build))

    def flush(self) -> None:
        """Returns once everything written so far is on disk.

        For a URL: once it is uploaded, or sooner when the store is failing
        (the upload is then retried in the background; see `object_file`).
        """
        self.start_flush()()

    def start_flush(self) -> Callable[[], None]:
        """Starts a `flush` and returns at once a function that waits for it.

        Flushes of several writers then overlap: each writer's thread
        uploads (or fsyncs) its own file at the same time.
        """
        with self._lock:
            if self._closed:
                return _nothing_to_wait_for
            self._emit_pending_locked()
        barrier = self._request_sync(fsync=True)
        return lambda: self._await_sync(barrier)

    def close(self) -> None:
        """Flushes and closes the file; later writes raise ValueError."""
        with self._lock:
            if self._closed:
                return
            self._emit_pending_locked()
            self._closed = True
        if self._wait_secs is None and self._synced != self._queued:
            # (After a durable event, closing needs no second fsync: a wait
            # for the writing thread costs the fit far more than the fsync.)
            self._sync(fsync=True)
        # else the remote sink's close retries its last uploads itself.
        self._queue.put(None)
        # A remote sink retries its last uploads for a bounded time.
        join_secs = None if self._wait_secs is None else object_file.CLOSE_RETRY_SECS + self._wait_secs
        self._thread.join(join_secs)
        if self._thread.is_alive():
            logger.warning(
                "EventWriter: %s is still uploading after %.0f s; not waiting", self.path, join_secs
            )
        _open_writers.discard(self)

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"EventWriter for {self.run_dir} is closed")

    def _emit_pending_locked(self) -> None:
        step = self._pending_step
        if not self._pending or step is None:
            return
        slot = next((i for i, last in enumerate(self._slot_last_step) if last < step), None)
        if slot is None:
            slot = len(self._slot_last_step)
            self._slot_last_step.append(step)
        self._slot_last_step[slot] = step
        tag = f"{event_format.EVENTS_TAG_PREFIX}{self._writer_id}.{slot}"
        summary = event_format.bundle_summary(tag, self._pending)
        self._pending = []
        self._pending_step = None
        self._enqueue_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    @staticmethod
    def _file_version_record() -> bytes:
        return records.frame(
            event_pb2.Event(wall_time=time.time(), file_version=_FILE_VERSION).SerializeToString()
        )

    def _enqueue_event(self, event: event_pb2.Event) -> None:
        self._queued += 1
        self._queue.put(records.frame(event.SerializeToString()))

    def _sync(self, fsync: bool) -> None:
        self._await_sync(self._request_sync(fsync))

    def _request_sync(self, fsync: bool) -> _Barrier:
        barrier = _Barrier(fsync)
        barrier.queued = self._queued
        self._queue.put(barrier)
        return barrier

    def _await_sync(self, barrier: _Barrier) -> None:
        # Failures are warned about once by the writing thread; they never
        # raise into training.
        if barrier.done.wait(self._wait_secs):
            if barrier.fsync and self._error is None:
                self._synced = max(self._synced, barrier.queued)
        else:
            logger.warning(
                "EventWriter: %s not uploaded after %.0f s; still trying in the background",
                self.path,
                self._wait_secs,
            )

    def _built(self, item: _Build) -> bytes:
        try:
            return b"".join(records.frame(e.SerializeToString()) for e in item.build())
        except Exception as e:  # noqa: BLE001 - a bad summary must not stop the file
            if not self._build_warned:
                self._build_warned = True
                warnings.warn(
                    f"EventWriter: building summaries for {self.path} failed, skipped: {e!r}",
                    RuntimeWarning,
                    stacklevel=1,
                )
            return b""

    def _run(self) -> None:
        sink = self._sink
        waiting: list[_Barrier] = []
        last_flush = time.monotonic()
        while True:
            wake = last_flush + self._flush_secs
            retry_at = sink.retry_at()
            if retry_at is not None:
                wake = min(wake, retry_at)
            if waiting:
                wake = min(wake, min(b.expires for b in waiting))
            try:
                item = self._queue.get(timeout=max(0.0, wake - time.monotonic()))
            except queue.Empty:
                item = _TICK
            if item is None:
                try:
                    sink.close()
                except OSError as e:
                    warnings.warn(
                        f"EventWriter: closing {self.path} failed: {e}", RuntimeWarning, stacklevel=1
                    )
                for barrier in waiting:
                    barrier.done.set()
                return
            try:
                if isinstance(item, bytes):
                    sink.append(item)
                elif isinstance(item, _Build):
                    data = self._built(item)
                    if data:
                        sink.append(data)
                elif isinstance(item, _Barrier):
                    sink.sync(item.fsync)
                    last_flush = time.monotonic()
                    item.mark = sink.mark()
                    item.expires = time.monotonic() + sink.patience()
                    waiting.append(item)
                elif item is _FLUSH:
                    sink.tick()
                if time.monotonic() - last_flush >= self._flush_secs:
                    # A bundle waits for more events at its step, but no
                    # longer than flush_secs.
                    with self._lock:
                        self._emit_pending_locked()
                    self._queue.put(_FLUSH)
                    last_flush = time.monotonic()
                elif retry_at is not None and time.monotonic() >= retry_at:
                    sink.tick()
            except OSError as e:  # disk full, file system gone: keep training
                if self._error is None:
                    warnings.warn(
                        f"EventWriter: writing {self.path} failed: {e}", RuntimeWarning, stacklevel=1
                    )
                self._error = e
                if isinstance(item, _Barrier):
                    item.done.set()
            if waiting:
                now = time.monotonic()
                stored = sink.stored()
                for barrier in waiting:
                    if stored >= barrier.mark or now >= barrier.expires:
                        barrier.done.set()
                waiting = [b for b in waiting if not b.done.is_set()]
