"""`tf.summary` from the model's own code during fit, as keras.callbacks.TensorBoard logs it.

Keras's TensorBoard makes its train (validation) writer the default
`tf.summary` writer during fit (evaluation) when `update_freq` is not
"epoch", so `tf.summary.*` calls inside `model.call` or a custom `train_step`
are logged; with `profile_batch` it also exports the graph trace `batch_<N>`.
We do both, keeping one event file per run (docs/architecture.md,
"TensorBoard facts"): TensorFlow's writer writes into memory (`ram://`), and
what it wrote is moved into the run's `EventWriter` at each epoch end and
when a fit or evaluation ends.

TensorFlow is used only where it costs nothing: on its own backend, or when
the program imported it already (model code that calls `tf.summary` has). It
is never imported on the JAX or torch backends.

Why one writer per process and run name, never closed: a `tf.function` traced
with a default writer keeps that writer's resource for good (Keras 3 keeps its
train function across fits). Keras closes its writers after each fit, so a
second fit of such a model fails with "Resource ... does not exist"; a
process-wide writer stays valid, and a recording switch (a variable read by
the traced condition) keeps it silent outside a fit that logs.

The step is a variable too, for the same reason: a step given as a Python int
is frozen into the traced function at trace time (all of Keras's traced
summaries land on step 1). It is assigned per batch only once a summary was
actually traced or written, so a model without summaries pays nothing.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
from typing import Any

from tensorboard.compat.proto import event_pb2

from tb_callbacks_plugin import conventions

from . import _keras

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct("<Q")
_FRAMING = 8 + 4 + 4  # length, its CRC, ..., the data's CRC
_said_unavailable = False


def tensorflow() -> Any | None:
    """TensorFlow when using it is free (its backend, or imported already), else None."""
    global _said_unavailable
    if _keras.backend_name() == "tensorflow":
        import tensorflow as tf

        return tf
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "summary"):
        return tf
    if not _said_unavailable:
        _said_unavailable = True
        logger.info(
            "callbacks.TensorBoard: tf.summary calls in model code are not logged on the %s backend "
            "unless the program imports TensorFlow (it is never imported for you)",
            _keras.backend_name(),
        )
    return None


class Channel:
    """A `tf.summary` writer (in memory) for one run name, shared by the whole process."""

    def __init__(self, tf: Any, run: str) -> None:
        self._tf = tf
        self.run = run
        self._dir = f"ram://tb_callbacks/{os.getpid()}/{id(self)}/{run}"
        with tf.init_scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name=f"tb_callbacks_{run}_step")
            self.recording = tf.Variable(False, trainable=False, name=f"tb_callbacks_{run}_recording")
            self.every = tf.Variable(1, dtype=tf.int64, trainable=False, name=f"tb_callbacks_{run}_every")
            self.writer = tf.summary.create_file_writer(self._dir)
        self.used = False  # a summary was traced or written through this channel
        self.owner: Any = None
        self._contexts: list[Any] = []
        self._path: str | None = None
        self._offset = 0
        self._last_step: int | None = None
        self._want = 0

    def _should_record(self) -> Any:
        # Called by tf.summary each time a summary op is made: traced into a
        # graph (evaluated there at run time) or run eagerly.
        tf = self._tf
        if not self.used:
            self.used = True
            with tf.init_scope():  # now, not as an op of the graph being traced
                self._set_step(self._want)
        due = tf.equal(tf.math.floormod(self.step, self.every), 0)
        return tf.logical_and(self.recording, due)

    def push(self, owner: Any, step: int, every: int) -> bool:
        """Makes this the default writer until `pop`; False when another callback holds it."""
        if self.owner is not None:
            return False
        tf = self._tf
        self.owner = owner
        self.every.assign(max(int(every), 1), read_value=False)
        self.move_to(step, force=True)
        self.recording.assign(True, read_value=False)
        contexts = [self.writer.as_default(step=self.step), tf.summary.record_if(self._should_record)]
        for context in contexts:
            context.__enter__()
            self._contexts.append(context)
        return True

    def move_to(self, step: int, force: bool = False) -> None:
        """The step of the summaries to come (Keras: the global batch count)."""
        self._want = step
        if self.used or force:
            self._set_step(step)

    def _set_step(self, step: int) -> None:
        if step != self._last_step:
            self._last_step = step
            self.step.assign(step, read_value=False)

    def pop(self, owner: Any) -> None:
        if self.owner is not owner:
            return
        while self._contexts:
            try:
                self._contexts.pop().__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - a context left by a failed fit must not raise again
                logger.debug("leaving a tf.summary context failed", exc_info=True)
        self.recording.assign(False, read_value=False)
        self.owner = None

    def drain(self) -> list[event_pb2.Event]:
        """The events written since the last drain (summaries only)."""
        if not self.used:
            return []
        self.writer.flush()
        gfile = self._tf.io.gfile
        if self._path is None:
            names = gfile.listdir(self._dir) if gfile.exists(self._dir) else []
            if not names:
                return []
            self._path = f"{self._dir}/{sorted(names)[0]}"
        with gfile.GFile(self._path, "rb") as f:
            f.seek(self._offset)
            buf = f.read()
        events = []
        pos = 0
        while pos + _FRAMING <= len(buf):
            (length,) = _LENGTH.unpack_from(buf, pos)
            end = pos + _FRAMING + length
            if end > len(buf):
                break  # not written out yet: the next drain takes it
            event = event_pb2.Event.FromString(buf[pos + 12 : end - 4])
            if event.HasField("summary"):
                events.append(event)
            pos = end
        self._offset += pos
        return events


_channels: dict[str, Channel] = {}


def channel(tf: Any, run: str) -> Channel:
    found = _channels.get(run)
    if found is None:
        found = _channels[run] = Channel(tf, run)
    return found


class GraphTrace:
    """`tf.summary.trace_on(graph=True)` ... `trace_export("batch_<N>")`, as Keras does with profile_batch."""

    def __init__(self, tf: Any) -> None:
        self._tf = tf
        self.on = False

    def start(self) -> None:
        if self.on:
            return
        try:
            self._tf.summary.trace_on(graph=True, profiler=False)
            self.on = True
        except Exception as e:  # noqa: BLE001 - tracing is not worth a failed fit
            logger.warning("graph trace not started: %s", e)

    def export(self, batch: int) -> None:
        """Ends the trace, writing its `batch_<batch>` graph summary into the train channel."""
        if not self.on:
            return
        self.on = False
        tf = self._tf
        train = channel(tf, conventions.TRAIN_RUN)
        train.used = True
        try:
            # record_if(True): written whatever the channel's recording switch says.
            with train.writer.as_default(), tf.summary.record_if(True):
                tf.summary.trace_export(name=f"batch_{batch}", step=batch)
        except Exception as e:  # noqa: BLE001 - tracing is not worth a failed fit
            logger.warning("graph trace not written: %s", e)
