"""An event file on an object store (`s3://`, `gs://`, ...), which cannot append.

The choice: a run's event file is written as a sequence of *parts*, each a
complete event file object, named so that they sort in the order written:

    <run>/events.out.tfevents.<time>.<host>.<pid>.<n>.part000000<suffix>
    <run>/events.out.tfevents.<time>.<host>.<pid>.<n>.part000001<suffix>

Every flush rewrites the current part whole, in one PUT, with all records
written to it so far. Once a part holds `PART_BYTES` or has been uploaded
`PART_UPLOADS` times, the next record starts a new part and the old one is
never written again.

Why this works for every reader:
- PUT replaces an object atomically, and a part only ever grows by appending
  records to its old content, so a reader sees a valid prefix of the records
  at any moment (no torn records), and continuing from an offset it reached
  before is always right. That is how TensorBoard's loaders read a growing
  file.
- TensorBoard's Python loader reads a run's files in name order and, once a
  newer file exists, reads the older one a last time and never goes back
  (docs/architecture.md, "TensorBoard facts"). A part's successor is created
  only after the part's final upload succeeded, so nothing is written behind
  the loader's back. The Rust data server and our reader read every file of
  a run.
- Each part starts with the `file_version` record, so each is a valid event
  file on its own (for tools that read single files).

Why this costs little:
- Rewriting one object forever (what TensorFlow's GCS and S3 file systems do
  on each flush of a growing file) uploads O(n^2) bytes; uploading each flush
  as a new object uploads every byte once but makes an object per flush
  (thousands per hour) for every TensorBoard reload to list and open.
- Bounding a part re-uploads each byte at most `PART_UPLOADS` times
  (`PART_UPLOADS / 2` on average), caps one upload at about `PART_BYTES`, and
  makes at most one object per `PART_UPLOADS` flushes: about two per minute
  with `flush_secs=1` and records every second; a run that logs once per
  epoch stays in one object for a long time. Nothing is uploaded when
  nothing was written. (GCS allows about one write per second to one object:
  a faster rewrite is throttled with 429 and retried as below.)

Durability: uploads run on the writer thread only. `EventWriter.write` of a
durable kind and `EventWriter.flush` return once the upload holding their
records succeeded, or, when the store is failing, after one more attempt and
at most `RETRY_WINDOW_SECS` of retries (never longer than `SYNC_WAIT_SECS`),
so that an outage slows training down little and never stops it.

Errors:
- At creation the first part (the `file_version` record) is uploaded on the
  caller's thread: a missing bucket, refused credentials or an unreachable
  endpoint raise a clear `OSError` subclass before training starts.
- Later, a failed upload keeps the records in memory and is retried with
  exponential backoff (`BACKOFF_FIRST_SECS` doubling up to
  `BACKOFF_MAX_SECS`) on the writer thread; records keep being accepted.
  The outage and the recovery are logged (logger `tb_callbacks_plugin`).
- Records beyond `MAX_BACKLOG_BYTES` not yet uploaded are dropped (counted).
- `close` (also run at interpreter exit) retries for up to
  `CLOSE_RETRY_SECS`. What could still not be stored is reported in one
  `RuntimeWarning`: how many records and callback events (by kind, with the
  steps) were lost, and where the unsent part was saved locally so that it
  can be copied to its URL by hand.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable

from tensorboard.compat.proto import event_pb2

from tb_callbacks_plugin import metadata
from tb_callbacks_plugin.eventfiles import records, storage

PART_BYTES = 1 << 20
PART_UPLOADS = 32
MAX_BACKLOG_BYTES = 64 << 20
BACKOFF_FIRST_SECS = 0.5
BACKOFF_MAX_SECS = 30.0
RETRY_WINDOW_SECS = 10.0
SYNC_WAIT_SECS = 30.0
CLOSE_RETRY_SECS = 30.0

logger = logging.getLogger("tb_callbacks_plugin")


class _Tally:
    """What a set of records held, for saying what was lost."""

    def __init__(self) -> None:
        self.records = 0
        self.bytes = 0
        self.kinds: Counter[str] = Counter()
        self.steps: list[int] = []

    def add_buffer(self, buf: bytes) -> None:
        for data in records.iter_records(buf, name="unsent records"):
            self.add(data, framed=False)

    def add(self, data: bytes, *, framed: bool = True) -> None:
        if framed:
            for inner in records.iter_records(data, name="unsent records"):
                self.add(inner, framed=False)
            return
        self.records += 1
        self.bytes += len(data)
        try:
            event = event_pb2.Event.FromString(data)
        except Exception:  # noqa: BLE001 - only counted
            return
        if event.HasField("summary"):
            self.steps.append(event.step)
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                continue
            for raw in value.tensor.string_val:
                try:
                    self.kinds[str(json.loads(raw)["kind"])] += 1
                except (ValueError, KeyError, TypeError):
                    self.kinds["?"] += 1

    def describe(self) -> str:
        text = f"{self.records} record(s), {self.bytes} bytes"
        if self.kinds:
            kinds = ", ".join(f"{kind} x{n}" for kind, n in sorted(self.kinds.items()))
            text += f", with {sum(self.kinds.values())} callback event(s) ({kinds})"
        if self.steps:
            text += f", steps {min(self.steps)}..{max(self.steps)}"
        return text


class ObjectEventFile:
    """The writer thread's sink for an event file on an object store.

    Only `EventWriter`'s thread calls it after construction (see module doc).

    Args:
      backend: the `storage.Backend` of `run_url`.
      run_url: URL of the run directory.
      name: event file name; parts are `name` with `.partNNNNNN` before
        `suffix`.
      suffix: the writer's filename suffix.
      header: returns the framed `file_version` record that starts each part.
    """

    def __init__(
        self, backend: storage.Backend, run_url: str, name: str, suffix: str, header: Callable[[], bytes]
    ) -> None:
        self._backend = backend
        self._run_url = run_url
        self._name = name
        self._suffix = suffix
        self._header = header
        self._part = 0
        self.path = self._part_url(0)
        self._buf = bytearray(header())
        self._header_len = len(self._buf)
        self._part_stored = 0  # bytes of _buf known to be in the store
        self._part_uploads = 0
        self._appended = 0  # data bytes accepted, all parts
        self._stored = 0  # of those, bytes known to be in the store
        self._dropped = _Tally()
        self._failing_since: float | None = None
        self._failures = 0
        self._retry_at: float | None = None
        self._last_error: BaseException | None = None
        self._reported = False
        try:
            backend.prepare_dir(run_url)
            backend.put(self.path, bytes(self._buf))
        except Exception as e:  # noqa: BLE001 - every library raises its own
            raise storage.error_for("write event files to", run_url, e) from e
        self._part_stored = len(self._buf)
        self._part_uploads = 1

    # ------------------------------------------------------------ sink API

    def mark(self) -> int:
        """Position after everything appended so far (for barriers)."""
        return self._appended

    def stored(self) -> int:
        """Position up to which everything is in the store."""
        return self._stored

    def retry_at(self) -> float | None:
        """`time.monotonic()` of the next retry, or None when nothing waits."""
        return self._retry_at if self._dirty() else None

    def patience(self) -> float:
        """How long a barrier may keep waiting for retries after a failed attempt."""
        if self._failing_since is None:
            return RETRY_WINDOW_SECS
        return max(0.0, self._failing_since + RETRY_WINDOW_SECS - time.monotonic())

    def append(self, data: bytes) -> None:
        if self._appended - self._stored + len(data) > MAX_BACKLOG_BYTES:
            if not self._dropped.records:
                logger.warning(
                    "EventWriter: over %d bytes not yet uploaded to %s; dropping records until uploads "
                    "succeed again",
                    MAX_BACKLOG_BYTES,
                    self._run_url,
                )
            self._dropped.add(data)
            return
        if self._part_full() and self._part_stored == len(self._buf):
            self._next_part()
        self._buf += data
        self._appended += len(data)

    def sync(self, fsync: bool = True) -> None:
        """An upload attempt now, whatever the backoff says, unless in a long outage."""
        del fsync  # an upload is as durable as the store makes it
        now = time.monotonic()
        if (
            self._failing_since is not None
            and now - self._failing_since >= RETRY_WINDOW_SECS
            and self._retry_at is not None
            and now < self._retry_at
        ):
            # The store has been failing for a while: leave retries to the
            # backoff schedule rather than hold the caller for one more.
            return
        self._upload()

    def tick(self) -> None:
        """The periodic flush: uploads unless backing off."""
        if self._dirty() and (self._retry_at is None or time.monotonic() >= self._retry_at):
            self._upload()

    def close(self) -> None:
        """Last uploads (retried up to `CLOSE_RETRY_SECS`), then one report of any loss."""
        deadline = time.monotonic() + CLOSE_RETRY_SECS
        while self._dirty() and not self._upload():
            now = time.monotonic()
            if now >= deadline:
                break
            time.sleep(max(0.0, min(self._retry_at or now, deadline) - now))
        self._report_losses()

    # ------------------------------------------------------------ internals

    def _part_url(self, part: int) -> str:
        return storage.join(self._run_url, f"{self._name}.part{part:06d}{self._suffix}")

    def _dirty(self) -> bool:
        return self._stored < self._appended

    def _part_full(self) -> bool:
        return len(self._buf) >= PART_BYTES or self._part_uploads >= PART_UPLOADS

    def _next_part(self) -> None:
        self._part += 1
        self.path = self._part_url(self._part)
        self._buf = bytearray(self._header())
        self._header_len = len(self._buf)
        self._part_stored = 0
        self._part_uploads = 0

    def _upload(self) -> bool:
        """Stores everything appended; True on success."""
        if not self._dirty():
            return True
        content = bytes(self._buf)
        try:
            self._backend.put(self.path, content)
        except Exception as e:  # noqa: BLE001 - any failure is retried, never raised into training
            self._on_failure(e)
            return False
        self._part_stored = len(content)
        self._part_uploads += 1
        self._stored = self._appended
        if self._failing_since is not None:
            logger.warning(
                "EventWriter: uploads to %s work again after %d failed attempt(s) over %.1f s; "
                "nothing buffered meanwhile was lost",
                self._run_url,
                self._failures,
                time.monotonic() - self._failing_since,
            )
        self._failing_since = None
        self._failures = 0
        self._retry_at = None
        return True

    def _on_failure(self, error: BaseException) -> None:
        now = time.monotonic()
        self._last_error = error
        self._failures += 1
        delay = min(BACKOFF_MAX_SECS, BACKOFF_FIRST_SECS * 2 ** (self._failures - 1))
        self._retry_at = now + delay * random.uniform(0.5, 1.0)  # jitter: writers don't retry in step
        if self._failing_since is None:
            self._failing_since = now
            logger.warning(
                "EventWriter: uploading %s failed (%s); keeping the records and retrying in the "
                "background, training continues",
                self.path,
                storage.describe_error(error),
            )

    def _report_losses(self) -> None:
        if self._reported:
            return
        self._reported = True
        unsent = _Tally()
        if self._dirty():
            unsent.add_buffer(bytes(self._buf[max(self._part_stored, self._header_len) :]))
        if not unsent.records and not self._dropped.records:
            return
        parts = []
        if unsent.records:
            parts.append(f"{unsent.describe()} could not be uploaded")
        if self._dropped.records:
            parts.append(
                f"{self._dropped.describe()} were dropped while over {MAX_BACKLOG_BYTES} bytes "
                "waited for upload"
            )
        text = f"EventWriter: events lost for {self._run_url}: {'; '.join(parts)}."
        if unsent.records:
            text += " " + self._save_locally()
        error = storage.describe_error(self._last_error) if self._last_error else "unknown error"
        warnings.warn(f"{text} Last error: {error}", RuntimeWarning, stacklevel=2)

    def _save_locally(self) -> str:
        # The whole part: its stored prefix plus what is missing, so copying
        # it over the object at `self.path` completes the run.
        folder = os.path.join(tempfile.gettempdir(), "tb_callbacks_plugin-unsent")
        target = os.path.join(folder, re.sub(r"[^A-Za-z0-9._-]+", "_", self.path))
        try:
            os.makedirs(folder, exist_ok=True)
            with open(target, "wb") as f:
                f.write(self._buf)
        except OSError as e:
            return f"Saving them locally failed too: {e}."
        return f"The unsent part is saved at {target}: copy it to {self.path} to recover them."
