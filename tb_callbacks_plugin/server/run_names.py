"""The run names of an experiment, listed once for a burst of requests.

The tab asks for the tags and series of every run at once (a hundred runs
are two hundred requests), and each needs the run names: to answer 404 for
an unknown run and to find a run's siblings. TensorBoard's Rust data server
answers `list_runs` for a hundred runs in about 40 ms (against 0.2 ms for a
small listing, measured here), so listing per request would make the
listing the cost of the tab's first render.

A kept list is used for at most `max_age` seconds. A run that is not in it
is looked up again at once, so a new run is never reported unknown; only a
sibling created in the last `max_age` seconds can be missing from a run's
group (the tab asks again on its next reload).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from tensorboard.data import provider

from tb_callbacks_plugin import conventions

DEFAULT_MAX_AGE = 1.0


class RunNames:
    """Run names from a data provider, kept for `max_age` seconds.

    Args:
      data_provider: TensorBoard's `DataProvider`.
      max_age: seconds a listing is used for.

    Example:

    ```python
    names = RunNames(context.data_provider)
    if "exp/train" in names.names(ctx, experiment_id="", including="exp/train"):
        ...
    ```
    """

    def __init__(self, data_provider: provider.DataProvider, *, max_age: float = DEFAULT_MAX_AGE) -> None:
        self._provider = data_provider
        self._max_age = max_age
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, frozenset[str], list[str]]] = {}
        # The experiment groups of a kept list, made once per listing: grouping
        # thousands of names per request would make a request O(runs).
        self._groups: dict[int, tuple[list[str], dict[str, list[str]]]] = {}
        self._now = time.monotonic

    def names(self, ctx: Any, *, experiment_id: str, including: str | None = None) -> list[str]:
        """The run names, sorted; listed afresh when the kept list is older
        than `max_age` or lacks `including`."""
        with self._lock:
            kept = self._kept.get(experiment_id)
        now = self._now()
        if kept is not None and now - kept[0] < self._max_age and (including is None or including in kept[1]):
            return kept[2]
        runs = sorted(r.run_name for r in self._provider.list_runs(ctx, experiment_id=experiment_id))
        with self._lock:
            if len(self._kept) >= 64 and experiment_id not in self._kept:
                self._kept.clear()  # many experiments (a hosted TensorBoard): keep it bounded
            self._kept[experiment_id] = (now, frozenset(runs), runs)
        return runs

    def siblings(self, ctx: Any, *, experiment_id: str, run: str) -> list[str]:
        """`run` and the runs of its experiment (`scalar_series.sibling_runs`),
        from the kept list: a lookup, not a scan of every name."""
        names = self.names(ctx, experiment_id=experiment_id, including=run)
        with self._lock:
            kept = self._groups.get(id(names))
            if kept is None or kept[0] is not names:
                if len(self._groups) >= 64:
                    self._groups.clear()
                kept = (names, conventions.experiment_groups(names))
                self._groups[id(names)] = kept
        group = kept[1].get(conventions.experiment_of(run), [])
        return group if run in group else sorted([run, *group])
