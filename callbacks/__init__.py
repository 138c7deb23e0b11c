"""Keras side of tb-callbacks-plugin: event-aware callbacks.

`callbacks.TensorBoard` is a drop-in for `keras.callbacks.TensorBoard` that
also records what every callback of the fit did (learning-rate changes, early
stops, NaN stops, checkpoints, restored weights, resumed backups) on a
timeline that TensorBoard's "Callback Events" tab draws next to the metrics.
The other classes are drop-ins for their `keras.callbacks` namesakes that
describe their own actions in detail, and `Callback` lets your own callbacks
log events.
"""

from .backup_and_restore import BackupAndRestore
from .callback import Callback
from .early_stopping import EarlyStopping
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN

__all__ = [
    "BackupAndRestore",
    "Callback",
    "EarlyStopping",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
]
