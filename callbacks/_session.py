"""`FitSession`: what the callbacks of one `fit` share.

One session per `CallbackList` (that is, per `fit`/`evaluate`/`predict`
call), found by every callback of this package in its `set_model`. It routes
events to the `callbacks.TensorBoard` instances of the fit (its *sinks*,
seen through the `EventSink` protocol) and
detects what other callbacks did with the detectors of `_detectors`
(learning rate, stop, initial epoch, checkpoint, restored weights).

Checks run after every hook of every sibling callback (so the callback that
acted is known), after each hook of the whole `CallbackList`, and in the
TensorBoard callback's own hooks (the fallback when the `CallbackList` could
not be found).

No double events: an event recorded through the session *explains* the state
it is about (each detector's `explain`). A drop-in reports its own action
before any check runs after its hook, so the detector then sees nothing new.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
import weakref
from typing import Any, Protocol

from tb_callbacks_plugin import conventions

from . import _describe, _detectors, _keras, _model_state, _observers, _searches
from ._hooks import BATCH_END_HOOKS, BATCH_HOOKS, hook_logs

logger = logging.getLogger(__name__)

SESSION_ATTR = "_tb_callbacks_session"

_running: set[FitSession] = set()
_sessions_by_model: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class EventSink(Protocol):
    """Where a session's events go (`callbacks.TensorBoard`)."""

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
        """Writes one event of the fit."""

    def fit_ended(self, outcome: dict[str, float] | None = None) -> None:
        """Called once `train_end` is written: the sink may close its files.

        `outcome`: name -> value of each of `conventions.OUTCOME_TAGS` known.
        """

    def write_hparams(self, hparams: dict[str, Any], *, wall_time: float) -> None:
        """Records the fit's hyperparameters as a TensorBoard HParams session of its experiment."""


# Fits whose train_end is being written now, and the condition that signals
# each one's end to `_end_abandoned_fits`.
_ending: set[FitSession] = set()
_ending_changed = threading.Condition()
# How long the exit hooks (and a search's stop, `_searches.hold_stop`) wait
# for a fit of another thread to end on its own.
EXIT_GRACE_SECONDS = 10.0


def _busy_in_other_threads() -> bool:
    me = threading.current_thread()
    return any(s.thread is not me and s.thread.is_alive() for s in _ending | _running)


def wait_for_other_threads_fits(timeout: float = EXIT_GRACE_SECONDS) -> None:
    """Returns once no fit of another thread is running or ending, or after `timeout` seconds.

    A fit's end (train_end and its files closed: on remote storage, uploads)
    is complete when it no longer counts.
    """
    deadline = time.monotonic() + timeout
    with _ending_changed:
        while _busy_in_other_threads() and time.monotonic() < deadline:
            _ending_changed.wait(timeout=0.1)  # a thread may die without notifying


def _end_abandoned_fits() -> None:
    # A fit whose exception ended the program (or that is still running when
    # the interpreter exits) gets its train_end here. A fit of another thread
    # first gets time to end itself, with its own reason: a search may stop a
    # trial from another thread without waiting for the training thread it
    # told to raise, so the process may exit while that thread writes (or has
    # not yet begun to write) its train_end, which on remote storage is an
    # upload. (Ray's stop is held until then, `_searches.hold_stop`: its
    # SIGKILL follows the exit's SIGTERM too soon for this wait.)
    wait_for_other_threads_fits()
    exc = getattr(sys, "last_value", None)
    for session in list(_running):
        session.end_training("interrupted", exc if isinstance(exc, BaseException) else None)


_exit_hooks_lock = threading.Lock()
_exit_hooks_registered = False


def _register_exit_hooks() -> None:
    """Registers `_end_abandoned_fits` at exit, once, after a fit's first writer exists.

    The order at exit, for the whole package: threading's exit hooks run
    first (before `atexit`, while the thread pools uploads need still work),
    then `atexit` handlers; both run last-registered first. The writer module
    registers its closing of open writers with `atexit` when imported, and
    with threading's hooks when its first remote writer is made. Registered
    after those (here, once a fit's first event is written), ours runs first
    in both: abandoned fits get their `train_end` before writers close.
    """
    global _exit_hooks_registered
    with _exit_hooks_lock:
        if _exit_hooks_registered:
            return
        _exit_hooks_registered = True
        atexit.register(_end_abandoned_fits)
        register = getattr(threading, "_register_atexit", None)
        if register is None:
            return
        try:
            register(_end_abandoned_fits)
        except RuntimeError:  # already shutting down
            return


def _class_name(obj: Any) -> str:
    return type(obj).__name__


class FitSession:
    """Shared state of the callbacks of one fit. Internal to the package."""

    def __init__(self, model: Any, callback_list: Any = None, fit_initial_epoch: int | None = None) -> None:
        self.model = model
        self.thread = threading.current_thread()  # the one that trains; the exit hooks wait for it
        self._list_ref = weakref.ref(callback_list) if callback_list is not None else None
        self._fit_initial_epoch = fit_initial_epoch
        self.sinks: list[EventSink] = []
        self.observing = False  # hooks of the CallbackList are wrapped
        self.running = False
        self._undo: list[Any] = []
        self.epoch: int | None = None
        self.epoch_begin_step: int | None = None
        self._last_step = 0
        self._batch: int | None = None
        self._batch_hook: str | None = None
        self._announced = False
        self._begin_wall_time: float | None = None
        # The search trial this fit is (None outside a search), found at train_begin.
        self.trial: _searches.Trial | None = None
        self._kinds: dict[str, int] = {}  # how many events of each kind the fit recorded
        self.learning_rate = _detectors.LearningRate(self)
        self.stop = _detectors.Stop(self)
        self.initial_epoch = _detectors.InitialEpoch(self)
        self.checkpoint = _detectors.Checkpoint(self)
        self.restore = _detectors.Restore(self)
        self._detectors = (self.learning_rate, self.stop, self.initial_epoch, self.checkpoint, self.restore)

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
        callback_list, initial_epoch = found
        session = callback_list.__dict__.get(SESSION_ATTR)
        if session is None or session.model is not model:
            session = cls(model, callback_list, initial_epoch)
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

    def add_sink(self, sink: EventSink) -> None:
        """Registers a sink (a `callbacks.TensorBoard`) that writes this fit's events."""
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
            batch, after_batch = self._batch, self._batch_hook in BATCH_END_HOOKS
        if _keras.backend_name() == "jax":
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

    def at_last_epoch_end(self, hook: str) -> bool:
        """Whether `hook` ends the fit's last epoch: a stop there cuts nothing short."""
        epochs = self.params().get("epochs")
        return (
            hook in ("on_epoch_end", "on_train_end")
            and epochs is not None
            and self.current_epoch() >= epochs - 1
        )

    def current_epoch(self) -> int:
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
            sink.write_event(
                kind, step, message, epoch=epoch, source=source, wall_time=wall_time, data=data or {}
            )
        self._kinds[kind] = self._kinds.get(kind, 0) + 1
        for detector in self._detectors:
            detector.explain(kind)
        return True

    # ------------------------------------------------------------ lifecycle

    def _start_epoch(self) -> int:
        restored = _keras.restored_initial_epoch(self.model)
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
        self.thread = threading.current_thread()
        self._announced = False
        self._begin_wall_time = time.time()
        self._kinds = {}
        _running.add(self)
        self._undo = []
        for detector in self._detectors:
            detector.begin(self._undo)
        _observers.guard_step_function(self.model, "train_function", self, self._undo)
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
        data: dict[str, Any] = {
            "epochs": params.get("epochs"),
            "steps": params.get("steps"),
            "initial_epoch": self._start_epoch(),
            "backend": _keras.backend_name(),
        }
        data.update(_model_state.learning_rates(self.model))
        siblings = self.siblings()
        names = [_class_name(c) for c in siblings]
        if names:
            data["callbacks"] = names
        self.trial = _searches.find_trial(siblings)
        if self.trial is not None:
            data["trial"] = self.trial.as_data()
            # A search that stops the trial from another thread (Ray) returns
            # from its stop once this fit has recorded its end.
            _searches.hold_stop(self.trial, wait_for_other_threads_fits)
        self.record(
            "train_begin",
            _describe.train_begin(data["epochs"], data["steps"], data["initial_epoch"]),
            source=None,
            data=data,
            epoch=data["initial_epoch"],
            wall_time=self._begin_wall_time,
        )
        _register_exit_hooks()
        self._write_hparams(siblings)

    def _write_hparams(self, siblings: list[Any]) -> None:
        # A search trial's parameters, as an HParams session of the fit's
        # experiment, so that TensorBoard's HParams dashboard (and
        # read_hparams) see them: unless TensorBoard's own hparams callback
        # (the user's, or KerasTuner's on TensorFlow) writes them already.
        if self.trial is None or not self.trial.params or any(_searches.writes_hparams(c) for c in siblings):
            return
        wall_time = self._begin_wall_time if self._begin_wall_time is not None else time.time()
        for sink in self.sinks:
            try:
                sink.write_hparams(dict(self.trial.params), wall_time=wall_time)
            except Exception as e:  # noqa: BLE001 - the trial's training matters more than its HParams row
                logger.warning("callbacks: could not write the trial's hyperparameters: %s", e)

    def epoch_begin(self, epoch: int) -> None:
        if self.epoch == epoch and self.epoch_begin_step is not None:
            return
        self.epoch = epoch
        self.epoch_begin_step = self.step()
        if self.running:
            # The test step function exists once the first validation ran.
            _observers.guard_step_function(self.model, "test_function", self, self._undo)

    def end_training(
        self, reason: str | None = None, exception: BaseException | None = None, logs: Any = None
    ) -> None:
        """Records `train_end` (on disk when this returns) and lets the sinks close."""
        if not self.running:
            return
        with _ending_changed:
            _ending.add(self)
        try:
            self._end_training(reason, exception, logs)
        finally:
            with _ending_changed:
                _ending.discard(self)
                _ending_changed.notify_all()

    def _end_training(self, reason: str | None, exception: BaseException | None, logs: Any) -> None:
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
            reason = self.stop.end_reason or "completed"
        params = self.params()
        data = {
            "reason": reason,
            "epochs": params.get("epochs"),
            "steps": params.get("steps"),
            "last_epoch": self.epoch,
        }
        if reason in (_searches.PRUNED, _searches.STOPPED_BY_SCHEDULER):
            # The search ended the trial: not an error of the fit's.
            trial = self.trial or _searches.find_trial(self.siblings())
            if trial is not None:
                data["trial"] = trial.as_data()
            if reason == _searches.PRUNED and exception is not None:
                data["pruner_message"] = _describe.truncate(str(exception), 500)
        elif exception is not None:
            data["exception"] = _class_name(exception)
            data["error"] = _describe.truncate(str(exception), 500)
        self.record("train_end", _describe.train_end(reason, self.epoch, exception), source=None, data=data)
        outcome = self._outcome(reason)
        for sink in self.sinks:
            sink.fit_ended(outcome)

    def _outcome(self, reason: str) -> dict[str, float]:
        """The fit's outcome scalars (`conventions.OUTCOME_TAGS`), once train_end is recorded."""
        outcome = {
            "ending": float(conventions.ending_code(reason)),
            "ended_early": float(reason != "completed"),
            "end_epoch": float(self.current_epoch()),
            "lr_changes": float(self._kinds.get("lr_change", 0)),
            "checkpoints": float(self._kinds.get("checkpoint_saved", 0)),
        }
        rates = _model_state.learning_rates(self.model)
        rate = rates.get("learning_rate", next(iter(rates.values()), None))
        if rate is not None:
            outcome["final_learning_rate"] = float(rate)
        return outcome

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
        self.checkpoint.before_hook(callback, hook, args, kwargs)
        self.initial_epoch.before_hook(callback, hook)

    def after_sibling_hook(self, callback: Any, hook: str, args: tuple, kwargs: dict) -> None:
        if not self.running:
            return
        logs = hook_logs(hook, args, kwargs)
        batch = args[0] if hook in BATCH_HOOKS and args else None
        self.initial_epoch.after_hook(callback, hook)
        self.check(callback, hook, logs, batch)
        self.checkpoint.after_hook(callback, hook, args, logs)
        self.restore.after_hook(callback, hook)

    def hook_failed(
        self, callback: Any, hook: str, exception: BaseException, logs: Any = None, batch: Any = None
    ) -> None:
        """A hook raised: training is over.

        The train_end reason is nan, pruned, stopped_by_scheduler or interrupted.
        """
        if not self.running:
            return
        reason = _searches.ending_reason(exception)
        if reason == _searches.STOPPED_BY_SCHEDULER and self.at_last_epoch_end(hook):
            # Ray stops every trial at its last report, the ones it let finish too.
            self.end_training("completed")
            return
        if reason is None:
            reason = self.stop.hook_failed(callback, exception, logs if isinstance(logs, dict) else {}, batch)
        self.end_training(reason, exception)

    def step_failed(self, exception: BaseException) -> None:
        self.end_training("interrupted", exception)

    # ------------------------------------------------------------ detection

    def check(self, callback: Any, hook: str, logs: Any = None, batch: Any = None) -> None:
        """Compares the training state with the baselines; records what changed."""
        if not self.running:
            return
        at_batch = hook in BATCH_HOOKS
        self.learning_rate.check(callback, hook, at_batch)
        self.stop.check(callback, hook, logs if isinstance(logs, dict) else {}, batch)
        if not at_batch:
            self.initial_epoch.check(callback)
            if callback is None:
                self.restore.after_hook(None, hook)  # a restore no sibling's hook can be blamed for
