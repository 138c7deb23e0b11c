"""The naming rules every layer relies on, each decided here once.

The callbacks write by them, the readers, the server and the CLI read by
them, and the tab gets their answers from the server (a run's `experiment` in
the `runs` route) rather than keeping copies. docs/architecture.md tells
where each comes from.

- Tags: Keras's TensorBoard callback names its per-epoch scalars
  `epoch_<metric>` and writes them at step = epoch (0-based); every other
  scalar (`batch_*`, `evaluation_*_vs_iterations`, users' own) is written at
  a global training step.
- Experiments: one `TensorBoard(log_dir=...)` writes its runs
  `<log_dir>/train` and `<log_dir>/validation`; those, and `eval` or
  `evaluation` runs beside them, form the experiment `<log_dir>` (`.` when
  the log dir is the logdir TensorBoard reads). Any other run is an
  experiment of its own, which also takes those runs below it: events
  written to `<log_dir>` itself group with `<log_dir>/train`.
- Keras's logs: `val_<metric>` is the validation run's `<metric>`.
- Epochs: fields (`epoch`, `best_epoch`, `initial_epoch`, `epoch_*` steps)
  are 0-based, as Keras's arguments and TensorBoard's epoch axis; what people
  read (messages, tables, the tab's text) counts from 1, as Keras's console
  prints "Epoch 17: early stopping" for epoch 16 (`console_epoch`).
- Non-finite numbers are named "NaN", "Infinity" and "-Infinity" wherever
  JSON (which has none) carries them, as JavaScript's `String(x)` names them.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Iterable
from typing import Any

# ---------------------------------------------------------------- tags

EPOCH_TAG_PREFIX = "epoch_"


def is_epoch_tag(tag: str) -> bool:
    """True for a tag whose record step counts epochs (`epoch_loss`), not training steps."""
    return tag.startswith(EPOCH_TAG_PREFIX)


def epoch_tag(metric: str) -> str:
    """The tag of a metric's per-epoch scalar: `epoch_tag("loss") == "epoch_loss"`."""
    return EPOCH_TAG_PREFIX + metric


def console_epoch(epoch: int) -> int:
    """A 0-based epoch as Keras's console numbers it ("Epoch 17/50" is epoch 16)."""
    return epoch + 1


# ---------------------------------------------------------------- runs and experiments

TRAIN_RUN = "train"
VALIDATION_RUN = "validation"
# The runs of one experiment's directory; Keras writes the first two.
EXPERIMENT_RUN_NAMES = frozenset({TRAIN_RUN, VALIDATION_RUN, "eval", "evaluation"})
# The experiment of train/validation runs written directly into the logdir.
ROOT_EXPERIMENT = "."

_VALIDATION_PREFIX = "val_"


def experiment_of(run: str) -> str:
    """The experiment `run` belongs to.

    Args:
      run: a run name as TensorBoard gives it (`/`-separated, relative to
        the logdir; `.` for the logdir itself).

    Returns:
      The run's parent directory for `train`, `validation`, `eval` and
      `evaluation` runs (`.` at the top level), else the run itself.

    Example:

    ```python
    experiment_of("exp1/train")  # "exp1"
    experiment_of("exp1/eval")   # "exp1"
    experiment_of("exp1")        # "exp1": events written to the log dir itself
    experiment_of("validation")  # "."
    experiment_of("exp1/custom") # "exp1/custom"
    ```
    """
    parent, name = posixpath.split(run)
    if name in EXPERIMENT_RUN_NAMES:
        return parent or ROOT_EXPERIMENT
    return run


def run_label(run: str) -> str:
    """What tells `run` apart within its experiment: `train`, `eval`; "" for the experiment's own run."""
    experiment = experiment_of(run)
    return "" if experiment == run else posixpath.basename(run)


def experiment_groups(runs: Iterable[str]) -> dict[str, list[str]]:
    """Experiment -> its runs among `runs` (each list sorted)."""
    groups: dict[str, list[str]] = {}
    for run in sorted(set(runs)):
        groups.setdefault(experiment_of(run), []).append(run)
    return groups


def split_logs_key(key: str) -> tuple[str, str]:
    """(run name, metric) of a key of Keras's epoch logs: `val_loss` -> ("validation", "loss")."""
    if key.startswith(_VALIDATION_PREFIX):
        return VALIDATION_RUN, key[len(_VALIDATION_PREFIX) :]
    return TRAIN_RUN, key


# ---------------------------------------------------------------- non-finite numbers

NAN = "NaN"
POSITIVE_INFINITY = "Infinity"
NEGATIVE_INFINITY = "-Infinity"
NONFINITE_NAMES = (NAN, POSITIVE_INFINITY, NEGATIVE_INFINITY)


def nonfinite_name(value: float) -> str:
    """The name of a non-finite float: "NaN", "Infinity" or "-Infinity"."""
    if math.isnan(value):
        return NAN
    return POSITIVE_INFINITY if value > 0 else NEGATIVE_INFINITY


def name_nonfinite(value: Any) -> Any:
    """`value` with every non-finite float, in dicts, lists and tuples too, replaced by its name.

    Lists and tuples both come back as lists; anything else is returned as is.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else nonfinite_name(value)
    if isinstance(value, dict):
        return {k: name_nonfinite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [name_nonfinite(v) for v in value]
    return value
