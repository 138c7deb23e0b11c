"""Which search a fit is a trial of, and the endings a search causes (docs/architecture.md, "Searches").

Nothing here imports a search library: each is looked at only when the user's
program has imported it (`sys.modules`), so a fit outside a search pays a
dict lookup.

- The trial. Optuna's pruning callback holds its trial (`_trial`); failing
  that, the frames of the fit's caller are searched: the Optuna objective's
  `trial`, KerasTuner's `run_trial(trial, ...)`, and Ray Tune's trainable
  (the `self` of `FunctionTrainable._trainable_func`, whose `config` is the
  trial's parameters; Ray's context exposes the trial's id but not them).
- The endings. Optuna's `KerasPruningCallback` raises `optuna.TrialPruned`
  in `on_epoch_end`; Ray Tune stops a trial by `sys.exit(0)` inside the
  report call (`ray.train._internal.session`), that is, a `SystemExit`
  raised in a `ray.` module. Both unwind `fit` without `on_train_end`.
- Ray's stop does not wait for that. The actor's main thread runs the
  trainable's `cleanup`, which wakes the training thread (to raise there)
  without joining it (`session.finish(timeout=0)`), and returns; Tune then
  drops the actor, and the raylet sends its process SIGTERM and, about
  0.2 s later, SIGKILL: too soon for the fit's last uploads (`train_end`,
  the validation run's flush) to a remote store, and the driver may read
  the trial's files before they land. `hold_stop` makes that `cleanup` of
  the trial's own trainable wait, bounded, for the fit to record its end.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

PRUNED = "pruned"
STOPPED_BY_SCHEDULER = "stopped_by_scheduler"
# Frames searched above the fit for a trial: a fit's own frames (Keras's
# fit, the trainer's loop) plus a tuner's few.
_MAX_FRAMES = 80

HParamValue = float | str | bool


@dataclass(frozen=True)
class Trial:
    """A trial of a search: its tuner, id and parameters.

    Attributes:
      tuner: "optuna", "keras_tuner" or "ray".
      id: Optuna's trial number, KerasTuner's or Ray's trial id, as a string.
      params: the trial's parameters that TensorBoard's HParams can hold
        (numbers, strings, bools; nested dicts flattened with "/").
    """

    tuner: str
    id: str
    params: dict[str, HParamValue] = field(default_factory=dict)
    # The search's object that ends the trial from another thread (Ray's
    # trainable), for `hold_stop`; not part of the trial's identity.
    stopper: Any = field(default=None, compare=False, repr=False)

    def as_data(self) -> dict[str, Any]:
        """The trial as event data (`train_begin`'s and a search's `train_end`'s `trial`)."""
        data: dict[str, Any] = {"tuner": self.tuner, "id": self.id, "params": dict(self.params)}
        if self.tuner == "optuna":
            data["number"] = int(self.id)
        return data


def hparam_values(params: Any, prefix: str = "") -> dict[str, HParamValue]:
    """`params` flattened to what an HParams session holds: numbers, strings and bools.

    Nested dicts become `outer/inner` keys (as Ray's TensorBoard logger names
    them); other values (arrays, objects, non-finite numbers) are left out.
    """
    out: dict[str, HParamValue] = {}
    if not isinstance(params, dict):
        return out
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(hparam_values(value, prefix=name + "/"))
        elif isinstance(value, (bool, str)):
            out[name] = value
        elif isinstance(value, numbers.Real) and math.isfinite(float(value)):
            out[name] = float(value)
    return out


def _loaded(name: str) -> Any:
    return sys.modules.get(name)


def _optuna_trial(obj: Any) -> Trial | None:
    optuna = _loaded("optuna")
    if optuna is None or not isinstance(obj, optuna.trial.BaseTrial):
        return None
    number = getattr(obj, "number", None)
    if not isinstance(number, int):
        return None  # a FixedTrial (no study) is not a search's trial
    return Trial("optuna", str(number), hparam_values(dict(obj.params)))


def _keras_tuner_trial(obj: Any) -> Trial | None:
    keras_tuner = _loaded("keras_tuner")
    if keras_tuner is None or not isinstance(obj, keras_tuner.engine.trial.Trial):
        return None
    return Trial("keras_tuner", str(obj.trial_id), hparam_values(dict(obj.hyperparameters.values)))


def _ray_trial(obj: Any) -> Trial | None:
    tune = _loaded("ray.tune")
    if tune is None or not isinstance(obj, tune.Trainable):
        return None
    return Trial("ray", str(obj.trial_id), hparam_values(obj.config), stopper=obj)


_HELD_ATTR = "_tb_callbacks_holds_stop"


def hold_stop(trial: Trial, wait: Callable[[], None]) -> None:
    """Makes the search's stop of `trial` return only once `wait()` has returned.

    For Ray's trainable: its `cleanup` (run by `Trainable.stop` in the
    actor's main thread, see the module doc) is wrapped on the instance,
    once; `wait` runs after Ray's own cleanup has told the training thread
    to stop. Nothing is done for other searches, whose stop is raised in
    the training thread itself.
    """
    trainable = trial.stopper
    if trainable is None or getattr(trainable, _HELD_ATTR, False):
        return
    cleanup = getattr(trainable, "cleanup", None)
    if not callable(cleanup):
        return

    def cleanup_then_wait(*args: Any, **kwargs: Any) -> Any:
        try:
            return cleanup(*args, **kwargs)
        finally:
            wait()

    trainable.cleanup = cleanup_then_wait
    setattr(trainable, _HELD_ATTR, True)


# Frames of the search libraries themselves hold the trial (Optuna's
# _run_trial, KerasTuner's run_trial, Ray's Trainable). Only their locals are
# read: reading a frame's f_locals keeps a snapshot of them in the frame (the
# user's code, fit's own), which can keep a failed fit's CallbackList alive
# past its traceback, and with it the fit's end unwritten.
_SEARCH_MODULES = ("optuna.", "keras_tuner.", "ray.")


def _frame_trial(frame: FrameType) -> Trial | None:
    if not str(frame.f_globals.get("__name__", "")).startswith(_SEARCH_MODULES):
        return None
    f_locals = frame.f_locals
    trial = f_locals.get("trial")
    if trial is not None:
        found = _optuna_trial(trial) or _keras_tuner_trial(trial)
        if found is not None:
            return found
    owner = f_locals.get("self")
    return _ray_trial(owner) if owner is not None else None


def find_trial(siblings: list[Any]) -> Trial | None:
    """The trial the running fit belongs to, or None outside a search.

    Called from a callback hook inside `fit`: the first trial found, looking
    at the fit's callbacks, then outward from the caller's frame.
    """
    if not any(_loaded(name) is not None for name in ("optuna", "keras_tuner", "ray.tune")):
        return None
    for callback in siblings:
        found = _optuna_trial(getattr(callback, "_trial", None))
        if found is not None:
            return found
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            break
        found = _frame_trial(frame)
        if found is not None:
            return found
        frame = frame.f_back
    return None


def writes_hparams(callback: Any) -> bool:
    """Whether `callback` is TensorBoard's hparams Keras callback (KerasTuner adds it on TensorFlow)."""
    return type(callback).__module__.startswith("tensorboard.plugins.hparams")


def ending_reason(exception: BaseException) -> str | None:
    """`pruned` or `stopped_by_scheduler` when `exception` is a search ending the trial, else None."""
    optuna = _loaded("optuna")
    if optuna is not None and isinstance(exception, optuna.TrialPruned):
        return PRUNED
    if isinstance(exception, SystemExit) and exception.code in (None, 0) and _raised_in(exception, "ray."):
        return STOPPED_BY_SCHEDULER
    return None


def _raised_in(exception: BaseException, module_prefix: str) -> bool:
    """Whether the innermost frame of `exception`'s traceback is in a module named `module_prefix...`."""
    tb = exception.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", "")).startswith(module_prefix)
