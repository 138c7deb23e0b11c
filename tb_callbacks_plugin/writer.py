"""`EventWriter`: the one writer of a run's event file, without TensorFlow.

Callers (the training thread) only build protos and queue bytes; a
background thread owns the file, so disk I/O never stalls training. Events
that end training (`DURABLE_KINDS`) are the exception: `write` returns once
they are flushed and fsync'd, because the process may be about to die.
Everything else reaches the disk within `flush_secs` and at `close()`.
"""

from __future__ import annotations

import atexit
import itertools
import os
import queue
import socket
import threading
import time
import uuid
import warnings
import weakref
from typing import Any

from tensorboard.compat.proto import event_pb2, summary_pb2

from tb_callbacks_plugin import event_format, records

_FILE_VERSION = "brain.Event:2"
_open_writers: weakref.WeakSet[EventWriter] = weakref.WeakSet()
_file_counter = itertools.count()
_TICK = object()


@atexit.register
def _close_open_writers() -> None:
    for writer in list(_open_writers):
        writer.close()


class _Barrier:
    """Queued after records; set once everything before it is on disk."""

    def __init__(self, fsync: bool) -> None:
        self.fsync = fsync
        self.done = threading.Event()


class EventWriter:
    """Writes callback events (and any other summaries) to one event file.

    Args:
      run_dir: directory of the run; created if missing.
      flush_secs: longest time a buffered record waits before reaching disk.
      filename_suffix: appended to the event file name.

    Example:

    ```python
    with EventWriter("logs/train") as writer:
        writer.write("lr_change", step=120, epoch=3, old=0.01, new=0.001,
                     message="learning rate 0.01 -> 0.001")
    ```
    """

    def __init__(
        self, run_dir: str | os.PathLike, *, flush_secs: float = 1.0, filename_suffix: str = ""
    ) -> None:
        self.run_dir = os.fspath(run_dir)
        os.makedirs(self.run_dir, exist_ok=True)
        # Unique per writer so that a second fit into the same run never
        # reuses a tag (see event_format for why tags must not repeat steps).
        self._writer_id = uuid.uuid4().hex[:8]
        name = (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}"
            f".{os.getpid()}.{next(_file_counter)}{filename_suffix}"
        )
        self.path = os.path.join(self.run_dir, name)
        self._file = open(self.path, "ab")  # noqa: SIM115 - owned by the thread
        self._flush_secs = flush_secs
        self._lock = threading.Lock()
        self._pending_step: int | None = None
        self._pending: list[bytes] = []
        self._slot_last_step: list[int] = []  # per slot: last step written
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"EventWriter({self.run_dir})", daemon=True)
        self._thread.start()
        self._enqueue_event(event_pb2.Event(wall_time=time.time(), file_version=_FILE_VERSION))
        _open_writers.add(self)

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

    def write_epoch(self, epoch: int, step: int) -> None:
        """Notes that `epoch` ended at global step `step`."""
        step = event_format.check_step("step", step)
        summary = event_format.epoch_summary(event_format.EPOCHS_TAG_PREFIX + self._writer_id, epoch)
        self.write_summary(summary, step)

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

    def flush(self) -> None:
        """Returns once everything written so far is on disk."""
        with self._lock:
            if self._closed:
                return
            self._emit_pending_locked()
        self._sync(fsync=True)

    def close(self) -> None:
        """Flushes and closes the file; later writes raise ValueError."""
        with self._lock:
            if self._closed:
                return
            self._emit_pending_locked()
            self._closed = True
        self._sync(fsync=True)
        self._queue.put(None)
        self._thread.join()
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
        if not self._pending:
            return
        step = self._pending_step
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

    def _enqueue_event(self, event: event_pb2.Event) -> None:
        self._queue.put(records.frame(event.SerializeToString()))

    def _sync(self, fsync: bool) -> None:
        # Failures are warned about once by the writing thread; they never
        # raise into training.
        barrier = _Barrier(fsync)
        self._queue.put(barrier)
        barrier.done.wait()

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            timeout = max(0.0, self._flush_secs - (time.monotonic() - last_flush))
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = _TICK
            try:
                if item is None:
                    self._file.close()
                    return
                if isinstance(item, bytes):
                    self._file.write(item)
                elif isinstance(item, _Barrier):
                    self._file.flush()
                    if item.fsync:
                        os.fsync(self._file.fileno())
                    last_flush = time.monotonic()
                    item.done.set()
                if time.monotonic() - last_flush >= self._flush_secs:
                    # A bundle waits for more events at its step, but no
                    # longer than flush_secs.
                    with self._lock:
                        self._emit_pending_locked()
                    self._file.flush()
                    last_flush = time.monotonic()
            except OSError as e:  # disk full, file system gone: keep training
                if self._error is None:
                    warnings.warn(
                        f"EventWriter: writing {self.path} failed: {e}", RuntimeWarning, stacklevel=1
                    )
                self._error = e
                if isinstance(item, _Barrier):
                    item.done.set()
