"""numba-compiled loops of `scalar_kernels` (imported only when numba is installed)."""

# mypy: ignore-errors
from __future__ import annotations

import numba
import numpy as np

_HEADER, _FOOTER = 12, 4


@numba.njit(nogil=True, cache=True)
def _u64(view, at):
    x = np.uint64(0)
    for i in range(8):
        x |= np.uint64(view[at + i]) << np.uint64(8 * i)
    return x


@numba.njit(nogil=True, cache=True)
def _u32(view, at):
    x = np.uint64(0)
    for i in range(4):
        x |= np.uint64(view[at + i]) << np.uint64(8 * i)
    return np.uint32(x)


@numba.njit(nogil=True, cache=True)
def walk_count(view, max_length):
    size = len(view)
    pos = 0
    count = 0
    while pos + _HEADER + _FOOTER <= size:
        length = _u64(view, pos)
        if length > max_length or pos + _HEADER + _FOOTER + length > size:
            break
        pos += _HEADER + _FOOTER + np.int64(length)
        count += 1
    return count, pos


@numba.njit(nogil=True, cache=True)
def walk_fill(view, heads, lengths):
    pos = 0
    for i in range(len(heads)):
        length = np.int64(_u64(view, pos))
        heads[i] = pos
        lengths[i] = length
        pos += _HEADER + _FOOTER + length


@numba.njit(nogil=True, cache=True)
def _masked(x):
    x = np.uint64(x)
    rotated = ((x >> np.uint64(15)) | (x << np.uint64(17))) & np.uint64(0xFFFFFFFF)
    return np.uint32((rotated + np.uint64(0xA282EAD8)) & np.uint64(0xFFFFFFFF))


@numba.njit(nogil=True, cache=True)
def match_decode(
    view,
    heads,
    template,
    compared,
    words,
    wall_at,
    step_at,
    step_len,
    value_at,
    value_width,
    positions,
    tables,
    base,
    footer_at,
    fits,
    step,
    wall,
    value,
):
    bad = 0
    for i in range(len(heads)):
        head = heads[i]
        ok = True
        # A word at a time, only the words with compared bits (`words`).
        for w in range(len(words)):
            at = words[w]
            if (_u64(view, head + 8 * at) ^ template[at]) & compared[at]:
                ok = False
                break
        fits[i] = ok
        if not ok:
            continue
        crc = np.uint32(base)
        for t in range(len(positions)):
            crc = np.uint32(crc ^ tables[t, view[head + positions[t]]])
        if _masked(crc) != _u32(view, head + footer_at):
            bad += 1
        s = np.uint64(0)
        if step_at >= 0:
            for b in range(step_len):
                s |= np.uint64(view[head + step_at + b] & 0x7F) << np.uint64(7 * b)
        step[i] = np.int64(s)
        if wall_at >= 0:
            wall[i] = np.uint64(_u64(view, head + wall_at)).view(np.float64)
        else:
            wall[i] = 0.0
        if value_width == 4:
            value[i] = np.float64(np.uint32(_u32(view, head + value_at)).view(np.float32))
        else:
            value[i] = np.uint64(_u64(view, head + value_at)).view(np.float64)
    return bad
