"""Where the session watches a fit from. Everything here is undone at the end.

A Keras callback has no reference to its siblings, but every callback's
`set_model` is called by the fit's `CallbackList.set_model`, so the list is
found one or two frames up the stack. From it the session:

- wraps the list's train/epoch hooks (instance attributes on that one list
  object) to run before and after *all* callbacks of a hook, whatever the
  position of `callbacks.TensorBoard` in the list;
- wraps the overridden hooks of each sibling callback, so that a change seen
  right after a sibling's hook is attributed to that sibling. Default
  (no-op) hooks are left alone, and so are batch hooks of `async_safe`
  callbacks: Keras decides asynchronous batch dispatch before `set_model`, so
  none of this changes how Keras dispatches hooks;
- watches `assign` on the learning-rate variables (a flag, no read), so that
  the rate is only read back when something assigned it;
- guards the model's step functions, so that an exception or
  KeyboardInterrupt inside a training step ends the run with
  `train_end(reason="interrupted")` at once.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

from . import _model_state
from ._hooks import BATCH_HOOKS, LIST_HOOKS, SIBLING_HOOKS, hook_logs
from ._keras import CallbackList

# Raised inside a step function when the data runs out; Keras catches them.
_END_OF_DATA = ("OutOfRangeError",)
_MAX_FRAMES = 12


def _is_default(method: Any) -> bool:
    return getattr(method, "_is_default", False)


def find_callback_list(callback: Any) -> tuple[Any, int | None] | None:
    """(the CallbackList whose set_model is calling us, fit's `initial_epoch`) or None."""
    frame: FrameType | None = sys._getframe(1)
    try:
        for _ in range(_MAX_FRAMES):
            if frame is None:
                return None
            owner = frame.f_locals.get("self")
            if isinstance(owner, CallbackList) and any(c is callback for c in owner.callbacks):
                creator = frame.f_back
                while creator is not None and creator.f_locals.get("self") is owner:
                    creator = creator.f_back
                initial_epoch = creator.f_locals.get("initial_epoch") if creator is not None else None
                return owner, initial_epoch if isinstance(initial_epoch, int) else None
            frame = frame.f_back
        return None
    finally:
        del frame


def wrap_callback_list(callback_list: Any, session: Any) -> None:
    """Wraps the list's train/epoch hooks; they stay for the list's lifetime."""
    ref = weakref.ref(callback_list)  # no cycle: the list must die with fit's frame
    cls = type(callback_list)
    for hook in LIST_HOOKS:
        if hook not in callback_list.__dict__:
            callback_list.__dict__[hook] = _list_hook(getattr(cls, hook), hook, ref, session)


def _list_hook(func: Callable, hook: str, ref: Any, session: Any) -> Callable:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if hook == "on_train_begin":
            session.begin_training(announce=False)
        elif hook == "on_epoch_begin" and args:
            session.epoch_begin(args[0])
        try:
            result = func(ref(), *args, **kwargs)
        except BaseException as e:
            session.hook_failed(None, hook, e, hook_logs(hook, args, kwargs))
            raise
        if hook == "on_train_end":
            session.end_training(logs=hook_logs(hook, args, kwargs))
        else:
            if hook == "on_train_begin":
                session.announce_training()  # now that every callback's on_train_begin ran
            session.check(None, hook, hook_logs(hook, args, kwargs))
        return result

    return wrapper


def _set_instance_attr(obj: Any, name: str, value: Any, undo: list) -> None:
    attrs = obj.__dict__
    had = name in attrs
    previous = attrs.get(name)
    attrs[name] = value

    def restore() -> None:
        if attrs.get(name) is not value:
            return  # replaced since by someone else: leave theirs
        if had:
            attrs[name] = previous
        else:
            del attrs[name]

    undo.append(restore)


def wrap_sibling(callback: Any, session: Any, undo: list) -> None:
    """Wraps the hooks `callback` overrides, to attribute what it changes."""
    if not hasattr(callback, "__dict__"):
        return
    async_safe = bool(getattr(callback, "async_safe", False))
    for hook in SIBLING_HOOKS:
        method = getattr(callback, hook, None)
        if method is None or _is_default(method) or (async_safe and hook in BATCH_HOOKS):
            continue
        _set_instance_attr(callback, hook, _sibling_hook(callback, hook, method, session), undo)


def _sibling_hook(callback: Any, hook: str, method: Callable, session: Any) -> Callable:
    is_batch = hook in BATCH_HOOKS

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not session.running:
            return method(*args, **kwargs)
        session.before_sibling_hook(callback, hook, args, kwargs)
        batch = (args[0] if args else kwargs.get("batch")) if is_batch else None
        if is_batch:
            session.enter_batch(batch, hook)
        try:
            result = method(*args, **kwargs)
        except BaseException as e:
            session.hook_failed(callback, hook, e, hook_logs(hook, args, kwargs), batch)
            raise
        finally:
            if is_batch:
                session.leave_batch()
        session.after_sibling_hook(callback, hook, args, kwargs)
        return result

    return wrapper


def watch_learning_rates(model: Any, on_assign: Callable[[], None], undo: list) -> bool:
    """Calls `on_assign` on any assignment to a learning-rate variable.

    Returns True when every optimizer's rate is covered (a variable whose
    assignments are seen, or a schedule), so that batch-level checks may rely
    on the flag alone.
    """
    exact = True
    for _, optimizer in _model_state.optimizers(model):
        variable = _model_state.lr_variable(optimizer)
        if variable is None:
            exact = exact and _model_state.is_scheduled(optimizer)
            continue
        if not hasattr(variable, "__dict__"):
            exact = False
            continue
        for name in ("assign", "assign_add", "assign_sub"):
            original = getattr(variable, name, None)
            if original is not None:
                _set_instance_attr(variable, name, _flagging(original, on_assign), undo)
    return exact


def _flagging(original: Callable, on_assign: Callable[[], None]) -> Callable:
    @functools.wraps(original)
    def assign(*args: Any, **kwargs: Any) -> Any:
        on_assign()
        return original(*args, **kwargs)

    return assign


def watch_weights(
    model: Any, on_get: Callable[[Any], None], on_set: Callable[[Any], None], undo: list
) -> None:
    """Calls `on_get(weights)` after each `model.get_weights()`, `on_set(weights)` after each `set_weights`.

    How callbacks keep and put back "best weights" (EarlyStopping, the TF
    guide's EarlyStoppingAtMinLoss): the instance's own methods are wrapped,
    nothing else of the model is touched.
    """
    if not hasattr(model, "__dict__"):
        return
    get, put = getattr(model, "get_weights", None), getattr(model, "set_weights", None)
    if not callable(get) or not callable(put):
        return

    @functools.wraps(get)
    def get_weights(*args: Any, **kwargs: Any) -> Any:
        weights = get(*args, **kwargs)
        on_get(weights)
        return weights

    @functools.wraps(put)
    def set_weights(weights: Any, *args: Any, **kwargs: Any) -> Any:
        result = put(weights, *args, **kwargs)
        on_set(weights)
        return result

    _set_instance_attr(model, "get_weights", get_weights, undo)
    _set_instance_attr(model, "set_weights", set_weights, undo)


class _StepGuard:
    """Calls a step function; an exception leaving it ends the session's run."""

    def __init__(self, fn: Callable, session: Any) -> None:
        self._fn = fn
        self._session = session

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._fn(*args, **kwargs)
        except (StopIteration, GeneratorExit):
            raise
        except BaseException as e:
            if type(e).__name__ not in _END_OF_DATA:
                self._session.step_failed(e)
            raise

    def __getattr__(self, name: str) -> Any:
        # Keras and TF look at attributes of tf.function step functions.
        if name == "_fn":
            raise AttributeError(name)
        return getattr(self._fn, name)


def guard_step_function(model: Any, attr: str, session: Any, undo: list) -> None:
    fn = getattr(model, attr, None)
    if fn is None or isinstance(fn, _StepGuard):
        return
    guard = _StepGuard(fn, session)
    try:
        setattr(model, attr, guard)
    except Exception:  # noqa: BLE001 - a model that refuses the attribute is simply not guarded
        return

    def restore() -> None:
        if getattr(model, attr, None) is guard:
            setattr(model, attr, fn)

    undo.append(restore)
