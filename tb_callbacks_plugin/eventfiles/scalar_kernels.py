"""The compiled path of bulk scalar reading, with numba (the optional `fast` extra).

Two loops that numpy can only express as many passes over the records:
following the chain of length fields, and, per layout (`scalar_layout`),
comparing each record with the template, checking its data CRC from the
bytes that differ (`crc_bulk`) and decoding its step, wall time and value.
Each is one pass, compiled once (cached on disk) and run
without the GIL, so files are read on all cores in threads.

`scalar_layout` uses these when numba imports and a file is large enough
to pay for loading them (`MIN_BYTES`); otherwise, and with
`TB_CALLBACKS_PURE_READER=1`, the numpy path does the same work. Both are
tested to give the same rows.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tb_callbacks_plugin.eventfiles import records
from tb_callbacks_plugin.eventfiles.crc_bulk import SpanCRC

# Files smaller than this are read by the numpy path: importing numba and
# loading the compiled loops costs about half a second per process.
MIN_BYTES = 8 * 2**20
PURE_ENV = "TB_CALLBACKS_PURE_READER"

_kernels: Any = None  # the compiled functions, once loaded; False when numba is missing


def available() -> bool:
    """Whether the compiled path can be used (numba installed, not switched off)."""
    return os.environ.get(PURE_ENV, "") in ("", "0") and _load() is not False


def _load() -> Any:
    global _kernels
    if _kernels is None:
        try:
            import numba  # noqa: F401 - the `fast` extra
        except ImportError:
            _kernels = False
        else:
            from tb_callbacks_plugin.eventfiles import _scalar_kernels_jit

            _kernels = _scalar_kernels_jit
    return _kernels


def walk(view: np.ndarray, max_length: int) -> tuple[np.ndarray, np.ndarray, int]:
    """`records.walk_records`, compiled: `(heads, lengths, end)` of the chain from byte 0."""
    k = _load()
    count, end = k.walk_count(view, max_length)
    heads = np.empty(count, dtype=np.int64)
    lengths = np.empty(count, dtype=np.int64)
    k.walk_fill(view, heads, lengths)
    return heads, lengths, int(end)


def match_decode(
    view: np.ndarray,
    heads: np.ndarray,
    template: np.ndarray,
    compared: np.ndarray,
    wall_at: int,
    step_at: int,
    step_len: int,
    value_at: int,
    value_width: int,
    crc: SpanCRC,
    footer_at: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """`(fits, step, wall_time, value, bad)` of the records at `heads` against one layout.

    A record fits when its bytes equal `template`'s wherever `compared` has
    bits (both a multiple of 8 bytes long); for those, step (a varint at `step_at`, or 0 when -1), wall time
    (a double at `wall_at`, or 0.0 when -1) and value (a little-endian
    float of `value_width` bytes, 4 or 8) are decoded, and the data CRC
    (`crc`, whose positions are in the data, which starts 12 bytes into the
    record) is checked against the footer at `footer_at`: `bad` counts the
    fitting records whose CRC is wrong.
    """
    n = len(heads)
    fits = np.empty(n, dtype=np.bool_)
    step = np.empty(n, dtype=np.int64)
    wall = np.empty(n, dtype=np.float64)
    value = np.empty(n, dtype=np.float64)
    bad = _load().match_decode(
        view,
        heads,
        template.view("<u8"),
        compared.view("<u8"),
        np.flatnonzero(compared.view("<u8")),
        wall_at,
        step_at,
        step_len,
        value_at,
        value_width,
        np.array(crc.positions, dtype=np.int64) + records.HEADER_SIZE,
        np.stack(crc.tables),
        crc.base,
        footer_at,
        fits,
        step,
        wall,
        value,
    )
    return fits, step, wall, value, int(bad)
