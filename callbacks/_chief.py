"""Which worker of a multi-worker job writes to the shared run directories.

Keras 3 runs every callback on every worker with no chief gating, so several
workers would append to (and race on) the same run. Only the chief writes.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _tf_config_says_chief() -> bool | None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
        task = config.get("task") or {}
        cluster = config.get("cluster") or {}
        task_type = task.get("type")
        index = int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError):
        return None
    if not task_type:
        return None
    if task_type == "chief":
        return True
    if task_type == "worker":
        # With no explicit chief, worker 0 is the chief (TF's convention).
        return "chief" not in cluster and index == 0
    # "evaluator" writes its own runs; parameter servers never run callbacks.
    return task_type == "evaluator"


def _backend() -> str:
    from . import _keras

    return _keras.backend_name()


def is_chief(model: Any) -> bool:
    """True when this process should write summaries for `model`'s training.

    False on a non-chief worker by any of: the model's TensorFlow distribution
    strategy (`should_save_summary`, False on non-chief workers of
    MultiWorkerMirroredStrategy), a multi-process JAX job (only process 0
    writes), or the `TF_CONFIG` cluster spec (its chief, or worker 0 when
    there is no chief).
    """
    if _tf_config_says_chief() is False:
        return False
    strategy = getattr(model, "_distribute_strategy", None)
    if strategy is not None:
        should = getattr(getattr(strategy, "extended", None), "should_save_summary", None)
        if should is not None and not should:
            return False
    jax = sys.modules.get("jax")
    if jax is not None and _backend() == "jax":
        try:
            if jax.process_count() > 1:
                return jax.process_index() == 0
        except Exception:  # noqa: BLE001 - a backend not initialised answers nothing useful
            pass
    return True
