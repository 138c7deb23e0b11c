"""The Keras the callbacks are built on, chosen once at import, as TensorFlow chooses `tf.keras`.

With `TF_USE_LEGACY_KERAS` set to "1", "true" or "True" (TensorFlow's own
test) and tf_keras installed, `tf.keras` is tf-keras 2: a `tf.keras.Model`
runs its callbacks through tf-keras's `CallbackList`, which calls tf-keras
hooks (`_implements_train_batch_hooks`, ...) and knows only tf-keras's
callback classes. So there the callbacks subclass `tf_keras.callbacks.*`;
everywhere else Keras 3.

Everything that differs between the two, and between Keras 3 releases since
the supported floor, is answered here, so that the detectors, drop-ins and
the TensorBoard callback never ask which Keras they run on.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import weakref
from typing import Any

import numpy as np

LEGACY = os.environ.get("TF_USE_LEGACY_KERAS") in ("1", "true", "True") and (
    importlib.util.find_spec("tf_keras") is not None
)

Variable: Any
if LEGACY:
    import tensorflow as tf
    import tf_keras as keras

    Variable = tf.Variable
else:
    import keras

    try:  # the class behind every backend's variables
        from keras.src.backend.common.variables import Variable as _Variable
    except ImportError:  # pragma: no cover - keras layout changed
        _Variable = keras.Variable
    Variable = _Variable

callbacks = keras.callbacks
CallbackList = keras.callbacks.CallbackList
LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule
Embedding = keras.layers.Embedding


def backend_name() -> str:
    """The backend Keras computes on ("tensorflow" for tf-keras)."""
    return "tensorflow" if LEGACY else keras.backend.backend()


def image_data_format() -> str:
    return keras.backend.image_data_format()


def to_numpy(value: Any) -> np.ndarray:
    """A tensor or variable of this Keras as a numpy array."""
    if LEGACY:
        return np.asarray(keras.backend.get_value(value))
    return keras.ops.convert_to_numpy(value)


def _tensorboard_names_weights_by_path() -> bool:
    # Keras named weight histograms `weight.name` up to some 3.x release and
    # `weight.path` since; tf-keras uses `weight.name` ("dense/kernel:0").
    # Asking that Keras's own TensorBoard avoids a version table.
    try:
        source = inspect.getsource(keras.callbacks.TensorBoard._log_weights)
    except (AttributeError, OSError, TypeError):
        return not LEGACY
    return "weight.path" in source


_WEIGHTS_BY_PATH = _tensorboard_names_weights_by_path()


def weight_tag(weight: Any) -> str:
    """The tag prefix this Keras's TensorBoard gives a weight's histogram and image."""
    name = weight.path if _WEIGHTS_BY_PATH else weight.name
    return name.replace(":", "_")


# tf-keras moves `_ckpt_saved_epoch` on every epoch begin: what was restored
# is its value when first read after the restore, kept per training state.
_restored: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def restored_initial_epoch(model: Any) -> int | None:
    """The epoch a BackupAndRestore resume starts this fit at, None if none was restored."""
    if not LEGACY:
        return getattr(model, "_initial_epoch", None)
    state = getattr(model, "_training_state", None)
    if state is None:
        return None
    if state not in _restored:
        saved = int(to_numpy(state._ckpt_saved_epoch))
        _restored[state] = None if saved < 0 else saved + (1 if state._save_freq == "epoch" else 0)
    return _restored[state]


def backup_exists(callback: Any) -> bool:
    """Whether a BackupAndRestore finds a backup to restore now."""
    if LEGACY:
        return tf.train.latest_checkpoint(os.path.join(str(callback.backup_dir), "chief")) is not None
    from keras.src.utils import file_utils

    path = getattr(callback, "_weights_path", None)
    path = path or file_utils.join(callback.backup_dir, "latest.weights.h5")
    return bool(file_utils.exists(path))


def profiler() -> Any:
    """This Keras's backend profiler module: start_trace/stop_trace(save)."""
    if LEGACY:
        return _TensorFlowProfiler
    from keras.src import backend

    return backend.tensorboard


class _TensorFlowProfiler:
    @staticmethod
    def start_trace(logdir: str) -> None:
        tf.profiler.experimental.start(logdir=logdir)

    @staticmethod
    def stop_trace(save: bool) -> None:
        tf.profiler.experimental.stop(save=save)


def same_signature(cls: Any) -> Any:
    """Gives a drop-in its Keras class's constructor, arguments and all.

    The drop-ins add behaviour, never arguments, and their Keras classes'
    arguments differ between Keras 3 releases and tf-keras (TerminateOnNaN's
    `raise_error`, BackupAndRestore's `double_checkpoint` or
    `save_before_preemption`, ModelCheckpoint's `options`).
    """
    keras_class: Any = next(c for c in cls.__mro__[1:] if c.__module__.startswith(keras.__name__ + "."))

    @functools.wraps(keras_class.__init__)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        super(cls, self).__init__(*args, **kwargs)

    __init__.__signature__ = inspect.signature(keras_class.__init__)  # type: ignore[attr-defined]
    cls.__init__ = __init__
    return cls
