"""What other callbacks did, read from the training state. Used by `FitSession`.

Each detector keeps a baseline of one part of the state, compares it after a
hook, and records what changed through the session (which knows the step,
the epoch and the sinks). An event recorded through the session, whoever
records it, is passed to every detector's `explain`: the state it is about is
then the new baseline, so that a drop-in reporting its own action is not
reported a second time by the detector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import _checkpoints, _describe, _keras, _model_state, _observers
from ._hooks import BATCH_HOOKS, hook_logs
from ._keras import keras

if TYPE_CHECKING:
    from ._session import FitSession

# Set on the package's drop-ins, which record their own actions: a detector
# watches only the others (as Keras marks `async_safe` on a callback).
REPORTS_OWN_EVENTS = "_reports_own_events"


def is_stock(callback: Any, cls: type) -> bool:
    """True for an instance of the Keras callback `cls` that is not one of our drop-ins."""
    return isinstance(callback, cls) and not getattr(callback, REPORTS_OWN_EVENTS, False)


def source(callback: Any) -> str:
    """The `source` of an event found after `callback`'s hook."""
    return type(callback).__name__ if callback is not None else "detected"


class Detector:
    """One part of the training state, watched from `begin` to the fit's end."""

    def __init__(self, session: FitSession) -> None:
        self.session = session

    def begin(self, undo: list) -> None:
        """Takes the baseline; anything wrapped is undone by the `undo` callables."""

    def explain(self, kind: str) -> None:
        """An event of `kind` was just recorded."""


class LearningRate(Detector):
    """`lr_change`: a rate variable assigned, or a schedule replaced.

    A schedule's own decay is no change: the identity of each optimizer's
    rate (variable or schedule object) and its value are compared, and the
    value is read back only when an assignment was seen, where every rate's
    assignments can be seen.
    """

    def __init__(self, session: FitSession) -> None:
        super().__init__(session)
        self.exact = False  # assignments to every rate variable are seen
        self.dirty = True
        self._ident: tuple = ()
        self._state: list = []

    def begin(self, undo: list) -> None:
        self._rebase()
        self.exact = _observers.watch_learning_rates(self.session.model, self.mark_assigned, undo)

    def mark_assigned(self) -> None:
        self.dirty = True

    def _rebase(self) -> None:
        model = self.session.model
        self._state = _model_state.lr_state(model)
        self._ident = _model_state.lr_identity(model)
        self.dirty = False

    def explain(self, kind: str) -> None:
        # The rate restored by BackupAndRestore is the backed-up run's, whose
        # change was recorded then: it is the new baseline, not a change.
        if kind in ("lr_change", "backup_restored"):
            self._rebase()

    def check(self, callback: Any, hook: str, at_batch: bool) -> None:
        model = self.session.model
        if at_batch:
            # Per batch only the assignment flag is looked at; a replaced
            # schedule shows at the next epoch-level check.
            if not (self.exact and self.dirty):
                return
            ident = _model_state.lr_identity(model)
        else:
            ident = _model_state.lr_identity(model)
            if self.exact and not self.dirty and ident == self._ident:
                return
        self._ident = ident
        self.dirty = False
        new_state = _model_state.lr_state(model)
        old_state, self._state = self._state, new_state
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
            self.session.record(
                "lr_change", _describe.lr_change(old, new, why, name), source=source(callback), data=data
            )


class Stop(Detector):
    """`early_stop` / `nan_terminated`: `model.stop_training` was set.

    Its `end_reason` is the fit's `train_end` reason when it ends normally.
    """

    def __init__(self, session: FitSession) -> None:
        super().__init__(session)
        self.seen = False
        self.reported = False
        self.end_reason: str | None = None

    def begin(self, undo: list) -> None:
        self.seen = bool(getattr(self.session.model, "stop_training", False))
        self.reported = False
        self.end_reason = None

    def explain(self, kind: str) -> None:
        if kind in ("early_stop", "nan_terminated"):
            self.reported = True
            self.seen = bool(getattr(self.session.model, "stop_training", False))
            self.end_reason = "nan" if kind == "nan_terminated" else "early_stop"

    def check(self, callback: Any, hook: str, logs: dict, batch: Any) -> None:
        session = self.session
        stop = bool(getattr(session.model, "stop_training", False))
        if stop == self.seen:
            return
        self.seen = stop
        if not stop:  # someone cleared it: a later stop is a new one
            self.reported = False
            self.end_reason = None
            return
        if self.reported:
            return
        at_batch = hook in BATCH_HOOKS
        epoch = session.current_epoch()
        step = session.step(batch) if at_batch and isinstance(batch, int) else session.step()
        loss = logs.get("loss")
        if _describe.is_bad_loss(loss):
            if not at_batch and session.epoch_begin_step is not None:
                batch = max(step - session.epoch_begin_step - 1, 0)
            session.record(
                "nan_terminated",
                _describe.nan_terminated(loss, epoch, batch if isinstance(batch, int) else None),
                source=source(callback),
                data={"batch": batch, "loss": _describe.plain(loss), "detected": True, "hook": hook},
                step=step,
            )
            return
        if session.at_last_epoch_end(hook):
            # Set at the end of the last epoch: training was not cut short.
            self.reported = True
            return
        facts = _describe.monitor_facts(callback) if callback is not None else {}
        data = {**facts, "detected": True, "hook": hook}
        if at_batch:
            data["batch"] = batch
        session.record(
            "early_stop",
            _describe.early_stop(facts, epoch, batch if at_batch else None),
            source=source(callback),
            data=data,
            step=step,
        )

    def hook_failed(self, callback: Any, exception: BaseException, logs: dict, batch: Any) -> str:
        """A hook raised: records a NaN stop it stands for; returns the `train_end` reason."""
        session = self.session
        nan = isinstance(exception, RuntimeError) and _describe.is_bad_loss(logs.get("loss"))
        if nan and not self.reported:
            loss = logs.get("loss")
            session.record(
                "nan_terminated",
                _describe.nan_terminated(loss, session.current_epoch(), batch, raised=True),
                source=source(callback),
                data={"batch": batch, "loss": _describe.plain(loss), "raise_error": True, "detected": True},
                step=session.step(batch) if batch is not None else None,
            )
        return "nan" if nan or self.end_reason == "nan" else "interrupted"


class InitialEpoch(Detector):
    """`backup_restored`: the fit resumes at a restored epoch.

    Seen as a change of `model._initial_epoch`, or, for a stock
    `BackupAndRestore`, as its backup file existing when its `on_train_begin`
    ran (which also covers a resume at epoch 0).
    """

    def __init__(self, session: FitSession) -> None:
        super().__init__(session)
        self._value: Any = None
        self._backup_before: dict[int, bool] = {}

    def begin(self, undo: list) -> None:
        self._value = _keras.restored_initial_epoch(self.session.model)

    def explain(self, kind: str) -> None:
        if kind == "backup_restored":
            self._value = _keras.restored_initial_epoch(self.session.model)

    def before_hook(self, callback: Any, hook: str) -> None:
        if hook == "on_train_begin" and is_stock(callback, keras.callbacks.BackupAndRestore):
            self._backup_before[id(callback)] = _keras.backup_exists(callback)

    def after_hook(self, callback: Any, hook: str) -> None:
        if hook != "on_train_begin" or not self._backup_before.pop(id(callback), False):
            return
        value = _keras.restored_initial_epoch(self.session.model) or 0
        self.session.record(
            "backup_restored",
            _describe.backup_restored(int(value), callback.backup_dir),
            source=source(callback),
            data={"initial_epoch": int(value), "backup_dir": str(callback.backup_dir), "detected": True},
            epoch=int(value),
        )

    def check(self, callback: Any) -> None:
        value = _keras.restored_initial_epoch(self.session.model)
        if value == self._value:
            return
        self._value = value
        if value is None:
            return
        backup_dir = getattr(callback, "backup_dir", None)
        self.session.record(
            "backup_restored",
            _describe.backup_restored(int(value), backup_dir),
            source=source(callback),
            data={"initial_epoch": int(value), "backup_dir": backup_dir, "detected": True},
            epoch=int(value),
        )


class Checkpoint(Detector):
    """`checkpoint_saved`: a stock `ModelCheckpoint`'s file changed during its hook."""

    def __init__(self, session: FitSession) -> None:
        super().__init__(session)
        self._before: dict[int, Any] = {}

    def before_hook(self, callback: Any, hook: str, args: tuple, kwargs: dict) -> None:
        if hook in ("on_epoch_end", "on_train_batch_end") and is_stock(
            callback, keras.callbacks.ModelCheckpoint
        ):
            path = self._path(callback, hook, args, kwargs)
            self._before[id(callback)] = (path, _checkpoints.file_state(path))

    def _path(self, callback: Any, hook: str, args: tuple, kwargs: dict) -> str | None:
        logs = hook_logs(hook, args, kwargs)
        session = self.session
        if hook == "on_epoch_end":
            if getattr(callback, "save_freq", "epoch") != "epoch":
                return None
            return _checkpoints.checkpoint_path(
                callback, args[0] if args else session.current_epoch(), None, logs
            )
        if getattr(callback, "save_freq", "epoch") == "epoch":
            return None
        batch = args[0] if args else None
        return _checkpoints.checkpoint_path(callback, session.current_epoch() or 0, batch, logs)

    def after_hook(self, callback: Any, hook: str, args: tuple, logs: Any) -> None:
        if id(callback) not in self._before:
            return
        path, before = self._before.pop(id(callback))
        if path is None:
            return
        after = _checkpoints.file_state(path)
        if after is None or after == before:
            return
        message, data = _checkpoints.saved_event(callback, path, logs)
        data["detected"] = True
        batch = args[0] if hook == "on_train_batch_end" and args else None
        self.session.record(
            "checkpoint_saved",
            message,
            source=source(callback),
            data=data,
            step=self.session.step(batch) if batch is not None else None,
        )


def fingerprint(weights: Any) -> int | None:
    """A cheap identity of a list of weight arrays: shapes and a strided sample of each."""
    try:
        parts = []
        for weight in weights:
            array = np.asarray(weight)
            flat = array.reshape(-1)
            stride = max(flat.size // _SAMPLES, 1)
            parts.append((array.shape, str(array.dtype), flat[::stride][:_SAMPLES].tobytes()))
        return hash(tuple(parts))
    except (TypeError, ValueError):
        return None


_SAMPLES = 64


class Restore(Detector):
    """`weights_restored`: a callback put weights of an earlier epoch back.

    Seen as `model.set_weights(...)` during a callback's hook (EarlyStopping's
    `restore_best_weights`, or a user's own `self.model.set_weights(
    self.best_weights)` as in the TF guide's EarlyStoppingAtMinLoss). Every
    `model.get_weights()` of the fit is fingerprinted (a strided sample, not
    a copy) with the epoch it was taken at, so the weights that come back tell
    which epoch they are from; otherwise the callback's own `best_epoch`, if
    it has one. A drop-in records its own restore, and BackupAndRestore's
    resume is a `backup_restored`.
    """

    def __init__(self, session: FitSession) -> None:
        super().__init__(session)
        self._taken: dict[int, int | None] = {}
        self._pending: list[Any] = []

    def begin(self, undo: list) -> None:
        self._taken = {}
        self._pending = []
        _observers.watch_weights(self.session.model, self._got, self._set, undo)

    def _got(self, weights: Any) -> None:
        if self.session.running:
            key = fingerprint(weights)
            if key is not None:
                self._taken[key] = self.session.current_epoch()

    def _set(self, weights: Any) -> None:
        if self.session.running:
            key = fingerprint(weights)
            self._pending.append(self._taken.get(key, _UNKNOWN) if key is not None else _UNKNOWN)

    def explain(self, kind: str) -> None:
        if kind in ("weights_restored", "backup_restored"):
            self._pending = []  # a drop-in said it itself

    def after_hook(self, callback: Any, hook: str) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        own = getattr(callback, REPORTS_OWN_EVENTS, False)
        if own or is_stock(callback, keras.callbacks.BackupAndRestore):
            return
        facts = _describe.monitor_facts(callback) if callback is not None else {}
        best_epoch = pending[-1]
        if best_epoch is _UNKNOWN:
            best_epoch = facts.get("best_epoch")
        data = {"best_epoch": best_epoch, "detected": True, "hook": hook}
        data.update({k: facts[k] for k in ("monitor", "best") if k in facts})
        self.session.record(
            "weights_restored",
            _describe.weights_restored(best_epoch, facts.get("monitor"), facts.get("best")),
            source=source(callback),
            data=data,
        )


_UNKNOWN: Any = object()
