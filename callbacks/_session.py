"""`FitSession`: what the callbacks of one `fit` share.

One session per `CallbackList` (that is, per `fit`/`evaluate`/`predict`
call), found by every callback of this package in its `set_model`. It routes
events to the `callbacks.TensorBoard` instances of the fit (its *sinks*) and
detects what other callbacks did by comparing the training state with a
baseline:

- the learning rate (a rate whose variable was assigned, or a schedule that
  was replaced; a schedule's own decay is not a change),
- `model.stop_training` (early stop, or NaN stop when the loss is not finite),
- `model._initial_epoch` (BackupAndRestore resuming),
- and, for stock callbacks seen in the fit, checkpoint files and restored
  best weights.

Checks run after every hook of every sibling callback (so the callback that
acted is known), after each hook of the whole `CallbackList`, and in the
TensorBoard callback's own hooks (the fallback when the `CallbackList` could
not be found).

No double events: an event recorded through the session *explains* the state
it is about. Recording `lr_change` re-reads the baseline learning rate,
`early_stop`/`nan_terminated` mark the stop as reported, `backup_restored`
re-reads the initial epoch. A drop-in reports its own action before any check
runs after its hook, so the detector then sees nothing new.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
import weakref
from typing import Any

import keras

from callbacks import _checkpoints, _describe, _model_state, _observers

# Imported for its side effect on exit order: atexit runs handlers last-in
# first-out, so ours (registered below, after the writer module registered
# its own) records `train_end` for abandoned fits before writers are closed.
from tb_callbacks_plugin.eventfiles import writer as _writer  # noqa: F401

logger = logging.getLogger(__name__)

SESSION_ATTR = "_tb_callbacks_session"
EPOCH_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end")
BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
_END_HOOKS = ("on_train_batch_end", "on_batch_end")

_running: set[FitSession] = set()
_sessions_by_model: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@atexit.register
def _end_abandoned_fits() -> None:
    # A fit whose exception ended the program (or that is still running when
    # the interpreter exits) gets its train_end here.
    exc = getattr(sys, "last_value", None)
    for session in list(_running):
        session.end_training("interrupted", exc if isinstance(exc, BaseException) else None)


_exit_hook_registered = False


def _end_abandoned_fits_before_writers_close() -> None:
    """Also runs the above from threading's exit hooks.

    A writer to a remote store closes from those hooks (they run before
    `atexit`, while the thread pools its uploads need still work), last
    registered first. Registered once a run's first writer exists, ours runs
    before it.
    """
    global _exit_hook_registered
    register = getattr(threading, "_register_atexit", None)
    if _exit_hook_registered or register is None:
        return
    try:
        register(_end_abandoned_fits)
    except RuntimeError:  # already shutting down
        return
    _exit_hook_registered = True


def _class_name(obj: Any) -> str:
    return type(obj).__name__


class FitSession:
    """Shared state of the callbacks of one fit. Internal to the package."""

    def __init__(self, model: Any, callback_list: Any = None, fit_initial_epoch: int | None = None) -> None:
        self.model = model
        self._list_ref = weakref.ref(callback_list) if callback_list is not None else None
        self._fit_initial_epoch = fit_initial_epoch
        self.sinks: list[Any] = []
        self.observing = False  # hooks of the CallbackList are wrapped
        self.running = False
        self._undo: list[Any] = []
        self.epoch: int | None = None
        self.epoch_begin_step: int | None = None
        self._last_step = 0
        self._batch: int | None = None
        self._batch_hook: str | None = None
        self._lr_exact = False  # assignments to every rate variable are seen
        self._lr_dirty = True
        self._lr_ident: tuple = ()
        self._lr: list = []
        self._stop_seen = False
        self._stop_reported = False
        self._end_reason: str | None = None
        self._initial_epoch: Any = None
        self._checkpoint_before: dict[int, Any] = {}
        self._backup_before: dict[int, bool] = {}
        self._announced = False
        self._begin_wall_time: float | None = None

    # ------------------------------------------------------------ finding

    @classmethod
    def attach(cls, callback: Any, model: Any) -> FitSession:
        """The session of the fit `callback.set_model(model)` is part of."""
        found = _observers.find_callback_list(callback)
        if found is None:
            # set_model called by hand: one session per model.
            session = _sessions_by_model.get(model)
            if session is None or session.model is not model:
                session = cls(model)
                _sessions_by_model[model] = session
            return session
        callback_list, fit_locals = found
        session = callback_list.__dict__.get(SESSION_ATTR)
        if session is None or session.model is not model:
            initial_epoch = fit_locals.get("initial_epoch") if fit_locals else None
            session = cls(model, callback_list, initial_epoch if isinstance(initial_epoch, int) else None)
            callback_list.__dict__[SESSION_ATTR] = session
            weakref.finalize(callback_list, session._callback_list_gone).atexit = False
            _observers.wrap_callback_list(callback_list, session)
            session.observing = True
        return session

    @property
    def callback_list(self) -> Any:
        return self._list_ref() if self._list_ref is not None else None

    def siblings(self) -> list[Any]:
        callback_list = self.callback_list
        return list(callback_list.callbacks) if callback_list is not None else []

    def params(self) -> dict:
        callback_list = self.callback_list
        params = getattr(callback_list, "params", None) if callback_list is not None else None
        if not params:
            for sink in self.sinks:
                params = getattr(sink, "params", None)
                if params:
                    break
        return params or {}

    def add_sink(self, sink: Any) -> None:
        """Registers a `callbacks.TensorBoard` that writes this fit's events."""
        if not any(s is sink for s in self.sinks):
            self.sinks.append(sink)

    # ------------------------------------------------------------ recording

    def step(self, batch: int | None = None, after_batch: bool = True) -> int:
        """The global step now.

        On JAX the model's variables hold no value during an epoch (the
        trainer keeps the state): inside a batch hook the step is counted from
        the epoch start, elsewhere the trainer's state is synced back first,
        as `keras.callbacks.Callback.model` does.
        """
        if batch is None and self._batch is not None:
            batch, after_batch = self._batch, self._batch_hook in _END_HOOKS
        if keras.backend.backend() == "jax":
            if batch is not None and self.epoch_begin_step is not None:
                return self.epoch_begin_step + int(batch) + (1 if after_batch else 0)
            sync = getattr(self.model, "jax_state_sync", None)
            if callable(sync):
                try:
                    sync()
                except Exception:  # noqa: BLE001 - then the last known step will do
                    logger.debug("jax_state_sync failed", exc_info=True)
        step = _model_state.read_step(self.model, default=None)
        if step is None:
            return self._last_step
        self._last_step = step
        return step

    def current_epoch(self) -> int | None:
        if self.epoch is not None:
            return self.epoch
        return self._start_epoch()

    def record(
        self,
        kind: str,
        message: str = "",
        *,
        source: str | None,
        data: dict[str, Any] | None = None,
        step: int | None = None,
        epoch: int | None = None,
        wall_time: float | None = None,
    ) -> bool:
        """Writes an event to every sink; False when the fit has none."""
        if not self.sinks:
            return False
        step = self.step() if step is None else step
        epoch = self.current_epoch() if epoch is None else epoch
        wall_time = time.time() if wall_time is None else wall_time
        for sink in self.sinks:
            sink._write_event(
                kind, step, message, epoch=epoch, source=source, wall_time=wall_time, data=data or {}
            )
        self._explain(kind)
        return True

    def _explain(self, kind: str) -> None:
        if kind == "lr_change":
            self._lr = _model_state.lr_state(self.model)
            self._lr_ident = _model_state.lr_identity(self.model)
            self._lr_dirty = False
        elif kind in ("early_stop", "nan_terminated"):
            self._stop_reported = True
            self._stop_seen = bool(getattr(self.model, "stop_training", False))
            self._end_reason = "nan" if kind == "nan_terminated" else "early_stop"
        elif kind == "backup_restored":
            # The restored learning rate is the backed-up run's, whose change
            # was recorded then: it is the new baseline, not a change.
            self._initial_epoch = getattr(self.model, "_initial_epoch", None)
            self._lr = _model_state.lr_state(self.model)
            self._lr_ident = _model_state.lr_identity(self.model)
            self._lr_dirty = False

    # ------------------------------------------------------------ lifecycle

    def _start_epoch(self) -> int:
        restored = getattr(self.model, "_initial_epoch", None)
        return restored or self._fit_initial_epoch or 0

    def begin_training(self, *, announce: bool = True) -> None:
        """Sets the baselines and starts watching; `announce` records train_begin now.

        Watching the CallbackList, train_begin is announced after every
        callback's `on_train_begin` (`announce_training`), so that it states
        what BackupAndRestore restored: the step, epoch and learning rate the
        fit really begins at.
        """
        if self.running:
            return
        self.epoch = None
        self.epoch_begin_step = None
        if not self.sinks:
            return  # nothing would record what the detector finds
        self.running = True
        self._announced = False
        self._begin_wall_time = time.time()
        _running.add(self)
        model = self.model
        self._stop_seen = bool(getattr(model, "stop_training", False))
        self._stop_reported = False
        self._end_reason = None
        self._initial_epoch = getattr(model, "_initial_epoch", None)
        self._lr = _model_state.lr_state(model)
        self._lr_ident = _model_state.lr_identity(model)
        self._lr_dirty = False
        self._undo = []
        self._lr_exact = _observers.watch_learning_rates(model, self, self._undo)
        _observers.guard_step_function(model, "train_function", self, self._undo)
        for callback in self.siblings():
            if not any(callback is s for s in self.sinks):
                _observers.wrap_sibling(callback, self, self._undo)
        if announce:
            self.announce_training()

    def announce_training(self) -> None:
        """Records `train_begin` (once per fit), at the time training began."""
        if not self.running or self._announced:
            return
        self._announced = True
        params = self.params()
        data = {
            "epochs": params.get("epochs"),
            "steps": params.get("steps"),
            "initial_epoch": self._start_epoch(),
            "backend": keras.backend.backend(),
        }
        data.update(_model_state.learning_rates(self.model))
        names = [_class_name(c) for c in self.siblings()]
        if names:
            data["callbacks"] = names
        self.record(
            "train_begin",
            _describe.train_begin(data["epochs"], data["steps"], data["initial_epoch"]),
            source=None,
            data=data,
            epoch=data["initial_epoch"],
            wall_time=self._begin_wall_time,
        )
        _end_abandoned_fits_before_writers_close()

    def epoch_begin(self, epoch: int) -> None:
        if self.epoch == epoch and self.epoch_begin_step is not None:
            return
        self.epoch = epoch
        self.epoch_begin_step = self.step()
        if self.running:
            # The test step function exists once the first validation ran.
            _observers.guard_step_function(self.model, "test_function", self, self._undo)

    def end_training(
        self, reason: str | None = None, exception: BaseException | None = None, logs=None
    ) -> None:
        """Records `train_end` (on disk when this returns) and lets the sinks close."""
        if not self.running:
            return
        self.announce_training()  # a fit that failed in on_train_begin still began
        if reason is None:
            self.check(None, "on_train_end", logs)
        self.running = False
        _running.discard(self)
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception:  # noqa: BLE001 - restoring must never break the user's training
                logger.debug("restoring a wrapped hook failed", exc_info=True)
        self._undo = []
        if reason is None:
            reason = self._end_reason or "completed"
        params = self.params()
        data = {
            "reason": reason,
            "epochs": params.get("epochs"),
            "steps": params.get("steps"),
            "last_epoch": self.epoch,
        }
        if exception is not None:
            data["exception"] = _class_name(exception)
            data["error"] = _describe.truncate(str(exception), 500)
        self.record("train_end", _describe.train_end(reason, self.epoch, exception), source=None, data=data)
        for sink in self.sinks:
            sink._fit_ended()

    def _callback_list_gone(self) -> None:
        # The fit's frame is gone without on_train_end: an exception left fit
        # somewhere no hook or step function saw (e.g. the data pipeline).
        # A finalizer has no caller to tell: a run whose writer could not
        # even be opened (the error fit raised) must not raise here again.
        try:
            self.end_training("interrupted")
        except Exception as e:  # noqa: BLE001
            self.running = False
            _running.discard(self)
            logger.warning("callbacks: could not record the end of an abandoned fit: %s", e)

    # ------------------------------------------------------------ hooks

    def enter_batch(self, batch: Any, hook: str) -> None:
        self._batch = batch if isinstance(batch, int) else None
        self._batch_hook = hook

    def leave_batch(self) -> None:
        self._batch = None
        self._batch_hook = None

    def before_sibling_hook(self, callback: Any, hook: str, args: tuple, kwargs: dict) -> None:
        if not self.running:
            return
        if hook in ("on_epoch_end", "on_train_batch_end") and _is_stock(
            callback, keras.callbacks.ModelCheckpoint
        ):
            path = self._checkpoint_path(callback, hook, args, kwargs)
            self._checkpoint_before[id(callback)] = (path, _checkpoints.file_state(path))
        elif hook == "on_train_begin" and _is_stock(callback, keras.callbacks.BackupAndRestore):
            weights = getattr(callback, "_weights_path", None)
            self._backup_before[id(callback)] = bool(weights) and _checkpoints.file_state(weights) is not None

    def after_sibling_hook(self, callback: Any, hook: str, args: tuple, kwargs: dict) -> None:
        if not self.running:
            return
        logs = _observers.hook_logs(hook, args, kwargs)
        batch = args[0] if hook in BATCH_HOOKS and args else None
        if hook == "on_train_begin" and self._backup_before.pop(id(callback), False):
            self._report_backup(callback)
        self.check(callback, hook, logs, batch)
        if id(callback) in self._checkpoint_before:
            self._check_checkpoint(callback, hook, args, kwargs, logs)
        if hook == "on_train_end" and _is_stock(callback, keras.callbacks.EarlyStopping):
            self._check_restored(callback)

    def hook_failed(self, callback: Any, hook: str, exception: BaseException, logs=None, batch=None) -> None:
        """A hook raised: training is over (train_end with reason nan or interrupted)."""
        if not self.running:
            return
        logs = logs if isinstance(logs, dict) else {}
        nan = isinstance(exception, RuntimeError) and _describe.is_bad_loss(logs.get("loss"))
        if nan and not self._stop_reported:
            loss = logs.get("loss")
            self.record(
                "nan_terminated",
                _describe.nan_terminated(loss, self.current_epoch(), batch, raised=True),
                source=_class_name(callback) if callback is not None else "detected",
                data={"batch": batch, "loss": _describe.plain(loss), "raise_error": True, "detected": True},
                step=self.step(batch) if batch is not None else None,
            )
        self.end_training("nan" if nan or self._end_reason == "nan" else "interrupted", exception)

    def step_failed(self, exception: BaseException) -> None:
        self.end_training("interrupted", exception)

    # ------------------------------------------------------------ detection

    def check(self, callback: Any, hook: str, logs: Any = None, batch: Any = None) -> None:
        """Compares the training state with the baseline; records what changed."""
        if not self.running:
            return
        at_batch = hook in BATCH_HOOKS
        self._check_lr(callback, hook, at_batch)
        self._check_stop(callback, hook, logs if isinstance(logs, dict) else {}, batch)
        if not at_batch:
            self._check_initial_epoch(callback, hook)

    def _source(self, callback: Any) -> str:
        return _class_name(callback) if callback is not None else "detected"

    def _check_lr(self, callback: Any, hook: str, at_batch: bool) -> None:
        if at_batch:
            # Per batch only the assignment flag is looked at; a replaced
            # schedule shows at the next epoch-level check.
            if not (self._lr_exact and self._lr_dirty):
                return
            ident = _model_state.lr_identity(self.model)
        else:
            ident = _model_state.lr_identity(self.model)
            if self._lr_exact and not self._lr_dirty and ident == self._lr_ident:
                return
        self._lr_ident = ident
        self._lr_dirty = False
        new_state = _model_state.lr_state(self.model)
        old_state, self._lr = self._lr, new_state
        for (name, old_key, old), (new_name, new_key, new) in zip(old_state, new_state, strict=False):
            if name != new_name or (old_key == new_key and old == new):
                continue
            facts = _describe.monitor_facts(callback) if callback is not None else {}
            why = (
                _describe.plateau_reason(facts)
                if isinstance(callback, keras.callbacks.ReduceLROnPlateau)
                else ""
            )
            data = {"old": old, "new": new, "detected": True, "hook": hook}
            if name is not None:
                data["optimizer"] = name
            if new_key != old_key:
                data["schedule_replaced"] = True
            data.update({k: v for k, v in facts.items() if k in ("monitor", "best", "patience")})
            self.record(
                "lr_change",
                _describe.lr_change(old, new, why, name),
                source=self._source(callback),
                data=data,
            )

    def _check_stop(self, callback: Any, hook: str, logs: dict, batch: Any) -> None:
        stop = bool(getattr(self.model, "stop_training", False))
        if stop == self._stop_seen:
            return
        self._stop_seen = stop
        if not stop:  # someone cleared it: a later stop is a new one
            self._stop_reported = False
            self._end_reason = None
            return
        if self._stop_reported:
            return
        at_batch = hook in BATCH_HOOKS
        epoch = self.current_epoch()
        step = self.step(batch) if at_batch and isinstance(batch, int) else self.step()
        loss = logs.get("loss")
        if _describe.is_bad_loss(loss):
            if not at_batch and self.epoch_begin_step is not None:
                batch = max(step - self.epoch_begin_step - 1, 0)
            self.record(
                "nan_terminated",
                _describe.nan_terminated(loss, epoch, batch if isinstance(batch, int) else None),
                source=self._source(callback),
                data={"batch": batch, "loss": _describe.plain(loss), "detected": True, "hook": hook},
                step=step,
            )
            return
        epochs = self.params().get("epochs")
        if (
            hook in ("on_epoch_end", "on_train_end")
            and epochs is not None
            and epoch is not None
            and epoch >= epochs - 1
        ):
            # Set at the end of the last epoch: training was not cut short.
            self._stop_reported = True
            return
        facts = _describe.monitor_facts(callback) if callback is not None else {}
        data = {**facts, "detected": True, "hook": hook}
        if at_batch:
            data["batch"] = batch
        self.record(
            "early_stop",
            _describe.early_stop(facts, epoch, batch if at_batch else None),
            source=self._source(callback),
            data=data,
            step=step,
        )

    def _check_initial_epoch(self, callback: Any, hook: str) -> None:
        value = getattr(self.model, "_initial_epoch", None)
        if value == self._initial_epoch:
            return
        self._initial_epoch = value
        if value is None:
            return
        backup_dir = getattr(callback, "backup_dir", None)
        self.record(
            "backup_restored",
            _describe.backup_restored(int(value), backup_dir),
            source=self._source(callback),
            data={"initial_epoch": int(value), "backup_dir": backup_dir, "detected": True},
            epoch=int(value),
        )

    def _report_backup(self, callback: Any) -> None:
        value = getattr(self.model, "_initial_epoch", None) or 0
        self.record(
            "backup_restored",
            _describe.backup_restored(int(value), callback.backup_dir),
            source=self._source(callback),
            data={"initial_epoch": int(value), "backup_dir": str(callback.backup_dir), "detected": True},
            epoch=int(value),
        )

    def _checkpoint_path(self, callback: Any, hook: str, args: tuple, kwargs: dict) -> str | None:
        logs = _observers.hook_logs(hook, args, kwargs)
        if hook == "on_epoch_end":
            if getattr(callback, "save_freq", "epoch") != "epoch":
                return None
            return _checkpoints.checkpoint_path(
                callback, args[0] if args else self.current_epoch(), None, logs
            )
        if getattr(callback, "save_freq", "epoch") == "epoch":
            return None
        batch = args[0] if args else None
        return _checkpoints.checkpoint_path(callback, self.current_epoch() or 0, batch, logs)

    def _check_checkpoint(self, callback: Any, hook: str, args: tuple, kwargs: dict, logs: Any) -> None:
        path, before = self._checkpoint_before.pop(id(callback))
        if path is None:
            return
        after = _checkpoints.file_state(path)
        if after is None or after == before:
            return
        message, data = _checkpoints.saved_event(callback, path, logs)
        data["detected"] = True
        batch = args[0] if hook == "on_train_batch_end" and args else None
        self.record(
            "checkpoint_saved",
            message,
            source=self._source(callback),
            data=data,
            step=self.step(batch) if batch is not None else None,
        )

    def _check_restored(self, callback: Any) -> None:
        if (
            not getattr(callback, "restore_best_weights", False)
            or getattr(callback, "best_weights", None) is None
        ):
            return
        facts = _describe.monitor_facts(callback)
        self.record(
            "weights_restored",
            _describe.weights_restored(facts.get("best_epoch"), facts.get("monitor"), facts.get("best")),
            source=self._source(callback),
            data={
                "best_epoch": facts.get("best_epoch"),
                "monitor": facts.get("monitor"),
                "best": facts.get("best"),
                "detected": True,
            },
        )


def _is_stock(callback: Any, cls: type) -> bool:
    # Our drop-ins report their own actions; only others are watched.
    from callbacks.callback import Callback

    return isinstance(callback, cls) and not isinstance(callback, Callback)
