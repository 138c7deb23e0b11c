"""The Keras callback hooks the package watches, and where their logs are."""

from __future__ import annotations

from typing import Any

# The hooks of `CallbackList` around all callbacks: batch hooks are left out,
# Keras dispatches them asynchronously on JAX/torch.
LIST_HOOKS = ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end")
BATCH_HOOKS = frozenset(("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"))
BATCH_END_HOOKS = frozenset(("on_train_batch_end", "on_batch_end"))
# The hooks of a sibling callback wrapped when it overrides them.
SIBLING_HOOKS = (*LIST_HOOKS, *sorted(BATCH_HOOKS))


def hook_logs(hook: str, args: tuple, kwargs: dict) -> Any:
    """The `logs` argument of a call of `hook` (train hooks take no batch/epoch first)."""
    if "logs" in kwargs:
        return kwargs["logs"]
    index = 0 if hook in ("on_train_begin", "on_train_end") else 1
    return args[index] if len(args) > index else None
