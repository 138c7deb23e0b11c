"""One call for requests that ask for the same thing at the same time.

The tab's first load asks for `many_events` and `runs` together, and each
lists every run's callback event tags: at 3,000 runs a listing takes
TensorBoard a good part of a second, most of it turning the data server's
answer into Python objects. A request that needs a listing already being
made waits for that one and shares its answer instead of making another.

Nothing is kept once a call returns: a request that starts after an answer
was given always makes a new call, so a run or event written since is in
it (the tab's next reload sees it). Only requests arriving while a call is
under way share its answer, which is as fresh as theirs would have been to
within that call's duration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Call(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class SharedCalls(Generic[T]):
    """Runs `make()` once per `key` for callers that overlap in time.

    Example:

    ```python
    listings: SharedCalls[dict] = SharedCalls()
    listing = listings.call(("list_tensors", experiment_id), lambda: provider.list_tensors(...))
    ```
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, _Call[T]] = {}

    def call(self, key: Hashable, make: Callable[[], T]) -> T:
        """`make()`'s answer, or that of the call for `key` under way (its error too)."""
        with self._lock:
            running = self._running.get(key)
            owner = running is None
            if running is None:
                running = self._running[key] = _Call()
        if not owner:
            running.done.wait()
            if running.error is not None:
                raise running.error
            return running.result  # type: ignore[return-value]  # set before done
        try:
            running.result = make()
            return running.result
        except BaseException as e:
            running.error = e
            raise
        finally:
            with self._lock:
                del self._running[key]
            running.done.set()
