"""What the plugin's reads through TensorBoard's data provider share."""

from __future__ import annotations

# `read_tensors`/`read_scalars` need a sample count; 0 would return nothing.
# This is "everything the loader kept" (both loaders accept any count above
# the number of records).
KEEP_ALL = 1_000_000_000


def answer_too_large(error: BaseException) -> bool:
    """True for the data server's refusal of an answer over its gRPC limit
    (256 MiB): the read can be split, unlike any other failure."""
    code = getattr(error, "code", None)
    return callable(code) and getattr(code(), "name", "") == "RESOURCE_EXHAUSTED"
