"""`TensorBoard`: keras.callbacks.TensorBoard, plus a timeline of callback events."""

from __future__ import annotations

import functools
import logging
import os
import time
import warnings
import weakref
from typing import Any

from keras.src.utils import file_utils  # Keras 3's, for tf-keras too: plain file access
from tensorboard.compat.proto import event_pb2, summary_pb2

from tb_callbacks_plugin import EventWriter, conventions, event_format

from . import _chief, _keras, _model_state, _op_graph, _profiler, _summaries, _tf_summary
from ._session import FitSession
from .callback import Callback

logger = logging.getLogger(__name__)

_said: set[str] = set()


def _say_once(sentence: str) -> None:
    # At INFO: the default write_graph=True would otherwise warn at every fit
    # off TensorFlow, about something Keras's own callback never writes there.
    if sentence not in _said:
        _said.add(sentence)
        logger.info(sentence)


_TRAIN = conventions.TRAIN_RUN
_VALIDATION = conventions.VALIDATION_RUN

# Longest wait of batch scalars before they are handed to the writer.
_BATCH_EVENTS_SECS = 1.0
# model -> train run directories its graphs were written to (in this process).
_graphs_written: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class TensorBoard(Callback):
    """Logs what `keras.callbacks.TensorBoard` logs, and every callback event.

    A drop-in for `keras.callbacks.TensorBoard` with the same arguments,
    meaning and output: in `<log_dir>/train` and `<log_dir>/validation` the
    `epoch_<metric>` scalars (and `epoch_learning_rate`,
    `epoch_steps_per_second`), `evaluation_<metric>_vs_iterations`,
    `batch_<metric>` every `update_freq` batches, `<weight path>/histogram`
    (and `/image`) every `histogram_freq` epochs, and the conceptual Keras
    model graph (once per model and train run, when it trains). As Keras
    does, when `update_freq` is not "epoch" its runs are the default
    `tf.summary` writers during fit and evaluation, so `tf.summary.*` calls
    in `model.call` or a custom `train_step` are logged (at the global batch
    count, every `update_freq` batches, also inside a traced step function),
    and `profile_batch` writes the graph trace `batch_<N>` beside the
    profile. That part uses TensorFlow only on its backend or when the
    program imported it. In addition:

    - the op-level graph of the model's forward pass on the TensorFlow
      backend (Keras 3 writes none);
    - callback events in the train run, shown by the "Callback Events" tab:
      `train_begin`/`train_end` (with the reason: completed, early_stop, nan,
      interrupted), `lr_change`, `early_stop`, `nan_terminated`,
      `checkpoint_saved`, `weights_restored`, `backup_restored`, and the events
      of `callbacks.Callback.log_event`. They are detected from what any
      callback of the fit does (stock Keras callbacks and your own, in any
      order), each with the global step and epoch at which it happened and
      the callback that acted as its source;
    - no TensorFlow needed on the JAX and torch backends: each run is written
      by one `tb_callbacks_plugin.EventWriter`, off the training thread.

    Under a multi-worker strategy only the chief writes.

    Args:
      log_dir: directory of the experiment; runs go to `train/` and
        `validation/` below it.
      histogram_freq: every how many epochs to write weight histograms
        (0: never).
      write_graph: whether to write the model graphs.
      write_images: whether to write weights as images (with the histograms).
      write_steps_per_second: whether to log training steps per second.
      update_freq: `"epoch"`, `"batch"`, or an integer N: write `batch_*`
        scalars (and `tf.summary` calls of the model's code) every N batches.
      profile_batch: batch, or `(start, stop)` range of batches, to profile
        (0: off). TensorFlow and JAX (Python >= 3.12) only, as in Keras.
      embeddings_freq: every how many epochs to save embedding layers for
        the Projector (0: never).
      embeddings_metadata: file of labels for the embeddings, or a dict of
        such files keyed by embedding layer name.
      storage_options: (keyword only) options of the fsspec file system when
        `log_dir` is a URL such as `s3://bucket/logs` (see
        `tb_callbacks_plugin.EventWriter`).

    Example:

    ```python
    model.fit(x, y, epochs=30, validation_split=0.2, callbacks=[
        keras.callbacks.ReduceLROnPlateau(patience=2),
        keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True),
        callbacks.TensorBoard(log_dir="logs/run1", histogram_freq=1),
    ])
    # tensorboard --logdir logs  -> Scalars, Histograms, Graphs, Callback Events
    ```
    """

    def __init__(
        self,
        log_dir: str | os.PathLike = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: int | tuple[int, int] | str = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: str | dict | None = None,
        *,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.log_dir = os.fspath(log_dir) if isinstance(log_dir, os.PathLike) else str(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self.storage_options = storage_options
        profile_batch = _profiler.check_backend(profile_batch)
        self._profiler = _profiler.Profiler(*_profiler.parse_profile_batch(profile_batch))
        self._writers: dict[str, EventWriter] = {}
        self._is_chief = True
        self._op_graph_pending = False
        self._global_train_batch = 0
        self._global_test_batch = 0
        # (wall time, step, logs items) of batches not yet handed to the writer.
        self._batch_rows: list[tuple[float, int, list[tuple[str, Any]]]] = []
        self._batch_events_due = 0.0
        self._batch_start_time = 0.0
        self._epoch_start_time = 0.0
        self._epoch_start_step = 0
        self._train_dir = os.path.join(self.log_dir, _TRAIN)
        self._val_dir = os.path.join(self.log_dir, _VALIDATION)
        # tf.summary from model code (update_freq != "epoch") and the graph
        # trace of profile_batch, where TensorFlow is free to use (see _tf_summary).
        self._tf: Any = None
        self._trace: _tf_summary.GraphTrace | None = None
        self._pushed: dict[str, _tf_summary.Channel] = {}
        self._set_batch_hooks()

    # ------------------------------------------------------------ batch hooks

    def _set_batch_hooks(self) -> None:
        # Batch hooks exist only when there is batch work: overriding them
        # would turn off Keras's asynchronous batch dispatch on JAX/torch.
        wanted = self.update_freq != "epoch" or self._profiler.enabled
        test_steps = self.update_freq != "epoch" and self._tf is not None
        for name, impl, on in (
            ("on_train_batch_begin", self._train_batch_begin, wanted),
            ("on_train_batch_end", self._train_batch_end, wanted),
            ("on_test_batch_begin", self._test_batch_begin, test_steps),
        ):
            if on:
                self.__dict__[name] = impl
            else:
                self.__dict__.pop(name, None)

    def _train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._global_train_batch += 1
        pushed = self._pushed.get(_TRAIN)
        if pushed is not None:
            pushed.move_to(self._global_train_batch)
        if self.write_steps_per_second:
            self._batch_start_time = time.time()
        if self._profiler.enabled:
            tracing = self._profiler.tracing
            self._profiler.batch_begin(self._global_train_batch, batch, self._train_dir)
            if self._profiler.tracing and not tracing and self._trace is not None:
                self._trace.start()

    def _test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._global_test_batch += 1
        pushed = self._pushed.get(_VALIDATION)
        if pushed is not None:
            pushed.move_to(self._global_test_batch)

    def _train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = self._global_train_batch
        if isinstance(self.update_freq, int) and step % self.update_freq == 0 and self._is_chief:
            now = time.time()
            items = list(logs.items()) if isinstance(logs, dict) else []
            if self.write_steps_per_second:
                elapsed = now - self._batch_start_time
                items.insert(0, ("steps_per_second", 1.0 / elapsed if elapsed > 0 else float("inf")))
            if items:
                self._batch_rows.append((now, step, items))
                if time.monotonic() >= self._batch_events_due:
                    self._write_batch_events()
        if self._profiler.enabled:
            tracing = self._profiler.tracing
            self._profiler.batch_end(step)
            if tracing and not self._profiler.tracing:
                self._export_trace()

    def _export_trace(self) -> None:
        # As Keras: the trace is named and stepped by the last profiled batch.
        if self._trace is not None and self._trace.on:
            self._trace.export(self._profiler.stop_batch)
            self._drain(_TRAIN)

    def _write_batch_events(self) -> None:
        # Batch scalars go to the writer a second's worth at a time: one
        # wake-up of its thread per second, not one per batch (on 2 shared
        # cores, each wake-up costs the training thread more than the
        # record), and that thread builds their protos.
        rows, self._batch_rows = self._batch_rows, []
        self._batch_events_due = time.monotonic() + _BATCH_EVENTS_SECS
        if rows:
            self._writer(_TRAIN).write_later(functools.partial(_batch_events, rows))

    # ------------------------------------------------------------ writers

    def _writer(self, run: str) -> EventWriter:
        writer = self._writers.get(run)
        if writer is None:
            run_dir = self._train_dir if run == _TRAIN else self._val_dir
            writer = EventWriter(run_dir, storage_options=self.storage_options)
            self._writers[run] = writer
        return writer

    def _close_writers(self) -> None:
        writers, self._writers = self._writers, {}
        for writer in writers.values():
            writer.close()

    # The methods of `_session.EventSink`, called by the fit's session.

    def write_event(
        self,
        kind: str,
        step: int,
        message: str,
        *,
        epoch: int | None,
        source: str | None,
        wall_time: float,
        data: dict[str, Any],
    ) -> None:
        """Writes one callback event of the fit into the train run."""
        if not self._is_chief:
            return
        flushes = []
        if kind in event_format.DURABLE_KINDS:
            # The writer makes these durable because the process may die
            # right after: the other runs' scalars reach disk too, flushed
            # while the event's own write is (on remote storage: uploads at
            # the same time, not one after the other).
            flushes = [writer.start_flush() for run, writer in list(self._writers.items()) if run != _TRAIN]
        train = self._writer(_TRAIN)
        train.write(kind, step, message, epoch=epoch, source=source, wall_time=wall_time, **data)
        for wait in flushes:
            wait()

    def write_hparams(self, hparams: dict[str, Any], *, wall_time: float) -> None:
        """Writes a search trial's hyperparameters into the log_dir itself, where TensorBoard's hparams
        Keras callback (and KerasTuner through it) writes them: the HParams session of this experiment."""
        if not self._is_chief:
            return
        summary = _summaries.hparams_session_start(hparams, start_time_secs=wall_time)
        with EventWriter(self.log_dir, storage_options=self.storage_options) as writer:
            writer.write_summary(summary, step=0, wall_time=wall_time)

    def fit_ended(self, outcome: dict[str, float] | None = None) -> None:
        """Writes the fit's outcome scalars and closes the run's files, once `train_end` is written."""
        self._write_batch_events()
        if outcome and self._is_chief:
            step = self._session.step() if self._fit_session is not None else 0
            self._writer(_TRAIN).write_summary(_summaries.outcome_scalars(outcome), step)
        tracing = self._profiler.tracing
        self._profiler.finish()
        if tracing:
            self._export_trace()
        self._pop_summaries()
        self._close_writers()

    # ------------------------------------------------------------ tf.summary

    def _push_summaries(self, run: str, step: int) -> None:
        """Makes `run`'s channel the default tf.summary writer, as Keras does when update_freq != "epoch"."""
        every = self.update_freq
        if self._tf is None or not isinstance(every, int) or not self._is_chief or run in self._pushed:
            return  # update_freq == "epoch": Keras pushes no writer either
        found = _tf_summary.channel(self._tf, run)
        if found.push(self, step, every):
            self._pushed[run] = found

    def _pop_summaries(self, run: str | None = None) -> None:
        for name in [run] if run is not None else list(self._pushed):
            pushed = self._pushed.pop(name, None)
            if pushed is not None:
                pushed.pop(self)
                self._drain(name, pushed)

    def _drain(self, run: str, found: _tf_summary.Channel | None = None) -> None:
        """Moves what model code wrote through tf.summary into the run's event file."""
        if self._tf is None:
            return
        found = found or _tf_summary.channel(self._tf, run)
        if found.owner not in (None, self):
            return
        events = found.drain()
        if events and self._is_chief:
            writer = self._writer(run)
            for event in events:
                writer.write_proto(event)

    # ------------------------------------------------------------ model

    @property
    def _session(self) -> FitSession:
        # Keras calls set_model, which finds the session, before any hook.
        session = self._fit_session
        if session is None:
            raise RuntimeError("callbacks.TensorBoard: a hook was called before set_model")
        return session

    def set_model(self, model: Any) -> None:
        """Sets the Keras model and writes its graphs if `write_graph`."""
        super().set_model(model)
        self._close_writers()
        self._train_dir = os.path.join(self.log_dir, _TRAIN)
        self._val_dir = os.path.join(self.log_dir, _VALIDATION)
        self._is_chief = _chief.is_chief(model)
        wants_tf = self.update_freq != "epoch" or self._profiler.enabled
        self._tf = _tf_summary.tensorflow() if wants_tf else None
        if self._tf is not None and self._profiler.enabled and self._trace is None:
            self._trace = _tf_summary.GraphTrace(self._tf)
        self._set_batch_hooks()
        self._session.add_sink(self)
        self._op_graph_pending = False
        if self.embeddings_freq and self._is_chief:
            self._configure_embeddings(model)

    def _write_graphs(self, model: Any) -> None:
        # Once per model and train run, when it trains: TensorBoard keeps one
        # graph per run ("Found more than one graph event per run"), and
        # evaluate/predict have no training graph to add.
        train_dir = os.path.abspath(self._train_dir) if "://" not in self._train_dir else self._train_dir
        try:
            written = _graphs_written.setdefault(model, set())
        except TypeError:  # not weak-referenceable: written each fit
            written = set()
        if train_dir in written:
            return
        written.add(train_dir)
        values = []
        if type(model).__name__ in ("Functional", "Sequential"):
            try:
                values.append(_summaries.keras_model_value(_summaries.model_json(model)))
            except Exception as exc:  # noqa: BLE001 - as Keras: a model that does not serialize is skipped
                warnings.warn(f"Model failed to serialize as JSON. Ignoring... {exc}", stacklevel=3)
        if values:
            self._writer(_TRAIN).write_summary(summary_pb2.Summary(value=values), 0)
        self._op_graph_pending = _keras.backend_name() == "tensorflow"
        if not self._op_graph_pending:
            _say_once(
                f"callbacks.TensorBoard: no op graph on the {_keras.backend_name()} backend (an op graph "
                "is a TensorFlow graph); the Keras model graph is written"
            )
        self._write_op_graph(model)

    def _write_op_graph(self, model: Any) -> None:
        # A subclassed model is built by its first training step: until then
        # its input shapes are unknown and the graph waits for an epoch end.
        if not self._op_graph_pending or not getattr(model, "built", False):
            return
        self._op_graph_pending = False
        graph_def = _op_graph.forward_graph_def(model)
        if graph_def is not None:
            event = event_pb2.Event(wall_time=time.time(), step=0, graph_def=graph_def)
            self._writer(_TRAIN).write_proto(event)

    def _configure_embeddings(self, model: Any) -> None:
        from google.protobuf import text_format
        from tensorboard.plugins.projector import projector_config_pb2

        config = projector_config_pb2.ProjectorConfig()
        metadata = self.embeddings_metadata
        by_layer = dict(metadata) if isinstance(metadata, dict) else None
        for layer in model.layers:
            if isinstance(layer, _keras.Embedding):
                embedding = config.embeddings.add()
                # Where Keras's weight checkpoints keep the first embedding.
                embedding.tensor_name = "layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"
                if isinstance(metadata, str):
                    embedding.metadata_path = metadata
                elif by_layer is not None and layer.name in by_layer:
                    embedding.metadata_path = by_layer.pop(layer.name)
        if by_layer:
            raise ValueError(
                "Unrecognized `Embedding` layer names passed to `callbacks.TensorBoard` "
                f"`embeddings_metadata` argument: {by_layer.keys()}"
            )
        if not file_utils.exists(self.log_dir):
            file_utils.makedirs(self.log_dir)
        with file_utils.File(file_utils.join(self.log_dir, "projector_config.pbtxt"), "w") as f:
            f.write(text_format.MessageToString(config))

    # ------------------------------------------------------------ train

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._session.begin_training()  # already done if the CallbackList is watched
        self._global_train_batch = 0
        self._epoch_start_step = 0
        if self.write_graph and self._is_chief:
            self._write_graphs(self._model)
        self._push_summaries(_TRAIN, self._global_train_batch)

    def on_train_end(self, logs: dict | None = None) -> None:
        # What is still buffered goes out before train_end, whose fsync then
        # covers it (closing the run needs no second one).
        self._write_batch_events()
        self._pop_summaries()
        session = self._session
        session.check(None, "on_train_end", logs)
        if not session.observing:
            session.end_training(logs=logs)
        elif not session.running:
            self.fit_ended()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        session = self._session
        session.epoch_begin(epoch)
        session.check(None, "on_epoch_begin")
        if self.write_steps_per_second:
            self._epoch_start_step = _model_state.read_step(self._model)
            self._epoch_start_time = time.time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Writes the epoch's scalars, histograms and embeddings."""
        self._session.check(None, "on_epoch_end", logs)
        if not self._is_chief:
            return
        model = self._model
        self._write_op_graph(model)
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            path = file_utils.join(self.log_dir, _TRAIN, f"keras_embedding.ckpt-{epoch}.weights.h5")
            model.save_weights(path)
        self._drain(_TRAIN)
        self._write_batch_events()
        self._writer(_TRAIN).write_epoch(epoch, _model_state.read_step(model))

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._push_summaries(_VALIDATION, self._global_test_batch)

    def on_test_end(self, logs: dict | None = None) -> None:
        self._pop_summaries(_VALIDATION)
        model = self._model
        optimizer = getattr(model, "optimizer", None)
        if not self._is_chief or not optimizer or not hasattr(optimizer, "iterations") or not logs:
            return
        values = [
            (f"evaluation_{name}_vs_iterations", float(value))
            for name, value in logs.items()
            if _summaries.is_scalar_value(value)
        ]
        if values:
            writer = self._writer(_VALIDATION)
            writer.write_summary(_summaries.scalars(values), _model_state.read_step(model))
            if not self._session.running:
                writer.flush()  # a standalone evaluate(): no train_end will close it

    def _log_epoch_metrics(self, epoch: int, logs: dict | None) -> None:
        if not logs:
            return
        # Dicts, as Keras builds them: the rate read now replaces the
        # `learning_rate` a ReduceLROnPlateau put in `logs` (the old rate), in
        # its place, so each tag has one point per epoch.
        by_run: dict[str, dict[str, Any]] = {_TRAIN: {}, _VALIDATION: {}}
        for key, value in logs.items():
            run, metric = conventions.split_logs_key(key)
            by_run[run][metric] = value
        train = by_run[_TRAIN]
        train.update(_model_state.learning_rates(self._model))
        if self.write_steps_per_second:
            elapsed = time.time() - self._epoch_start_time
            steps = _model_state.read_step(self._model) - self._epoch_start_step
            train["steps_per_second"] = steps / elapsed if elapsed > 0 else 0.0
        for run, items in by_run.items():
            scalars = {k: v for k, v in items.items() if _summaries.is_scalar_value(v)}
            values = [(conventions.epoch_tag(k), float(v)) for k, v in scalars.items()]
            if values:
                self._writer(run).write_summary(_summaries.scalars(values), epoch)

    def _log_weights(self, epoch: int) -> None:
        # The weights are copied now, as they are at this epoch's end; their
        # histograms (and images) are made by the writer's thread.
        weights = []
        for layer in self._model.layers:
            for weight in layer.weights:
                array = _keras.to_numpy(weight)
                if not array.flags.owndata:
                    array = array.copy()  # a view of a buffer that training may reuse
                weights.append((_keras.weight_tag(weight), array))
        if weights:
            channels_last = _keras.image_data_format() == "channels_last"
            build = functools.partial(
                _weights_events, weights, epoch, time.time(), self.write_images, channels_last
            )
            self._writer(_TRAIN).write_later(build)


def _batch_events(rows: list[tuple[float, int, list[tuple[str, Any]]]]) -> list[event_pb2.Event]:
    """The `batch_*` scalar events of `_train_batch_end`'s rows (built by the writer's thread)."""
    events = []
    for wall_time, step, items in rows:
        values = [(f"batch_{k}", float(v)) for k, v in items if _summaries.is_scalar_value(v)]
        if values:
            events.append(event_pb2.Event(wall_time=wall_time, step=step, summary=_summaries.scalars(values)))
    return events


def _weights_events(
    weights: list[tuple[str, Any]], epoch: int, wall_time: float, write_images: bool, channels_last: bool
) -> list[event_pb2.Event]:
    """The `<weight>/histogram` (and `/image`) summaries of one epoch (built by the writer's thread)."""
    values = []
    for name, array in weights:
        values.append(_summaries.histogram_value(f"{name}/histogram", array))
        if write_images:
            images = _summaries.weight_as_images(array, channels_last)
            if images is not None:
                value = _summaries.image_value(f"{name}/image", images)
                if value is not None:
                    values.append(value)
    return [event_pb2.Event(wall_time=wall_time, step=epoch, summary=summary_pb2.Summary(value=values))]
