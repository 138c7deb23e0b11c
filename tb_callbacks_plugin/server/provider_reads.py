"""What the plugin's reads through TensorBoard's data provider share."""

from __future__ import annotations

import ctypes
from typing import Any, TypeVar

T = TypeVar("T")

# `read_tensors`/`read_scalars` need a sample count; 0 would return nothing.
# This is "everything the loader kept" (both loaders accept any count above
# the number of records).
KEEP_ALL = 1_000_000_000


def answer_too_large(error: BaseException) -> bool:
    """True for the data server's refusal of an answer over its gRPC limit
    (256 MiB): the read can be split, unlike any other failure."""
    code = getattr(error, "code", None)
    return callable(code) and getattr(code(), "name", "") == "RESOURCE_EXHAUSTED"


# Runs per read when a request needs many (a search's thousands): the
# answer of every run at once (TensorBoard's Python objects of each point,
# or the Rust data server's whole gRPC message) would be held at once, and
# the process keeps that peak as resident memory after it is freed.
READ_CHUNK_RUNS = 256


def chunks(items: list[T]) -> list[list[T]]:
    """`items` in consecutive slices of at most `READ_CHUNK_RUNS`."""
    return [items[i : i + READ_CHUNK_RUNS] for i in range(0, len(items), READ_CHUNK_RUNS)]


def is_large(items: list[Any]) -> bool:
    """More runs than one read takes: its garbage is worth handing back."""
    return len(items) > READ_CHUNK_RUNS


def return_freed_memory() -> None:
    """Hands memory freed after a large read back to the system (glibc's
    `malloc_trim`; elsewhere nothing): without it the freed pages of a
    search's first read stay resident in TensorBoard's process."""
    global _trim
    if _trim is None:
        try:
            _trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)


_trim: Any = None
