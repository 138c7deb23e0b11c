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


SWEEP_DONE, SWEEP_UNKNOWN, SWEEP_DAMAGED = 0, 1, 2


@numba.njit(nogil=True, cache=True)
def _u64_tail(view, at):
    """`_u64`, for a word that may run past the end of `view` (missing bytes read as 0)."""
    x = np.uint64(0)
    for i in range(8):
        if at + i < len(view):
            x |= np.uint64(view[at + i]) << np.uint64(8 * i)
    return x


@numba.njit(nogil=True, cache=True)
def sweep(
    view, words, heads, lengths, start, force_slow, crc_table, header_crcs,
    cand_start, cand_end, cand,
    word_start, word_end, word_at, word_tmpl, word_mask,
    crc_start, crc_end, crc_pos, crc_tables, crc_base,
    budget, rec_layout,
):
    """Matches records from `start` on in file order against the layouts; returns
    `(status, record)`: SWEEP_DONE, or the first record that fits no layout while
    its length still has a `budget` of tries (SWEEP_UNKNOWN), or the first
    damaged one (SWEEP_DAMAGED)."""
    max_len = len(cand_start) - 1
    last_word = words.shape[1]
    for i in range(start, len(heads)):
        head = heads[i]
        length = lengths[i]
        # The header: the masked CRC32C of the 8-byte length field (by table
        # for the lengths layouts have).
        if length < len(header_crcs):
            expected = header_crcs[length]
        else:
            state = np.uint32(0xFFFFFFFF)
            for b in range(8):
                state = crc_table[(state ^ view[head + b]) & np.uint32(0xFF)] ^ (state >> np.uint32(8))
            expected = _masked(state ^ np.uint32(0xFFFFFFFF))
        if expected != _u32(view, head + 8):
            return SWEEP_DAMAGED, i
        rec_layout[i] = -1
        if i == force_slow or length > max_len:
            continue
        found = -1
        for c in range(cand_start[length], cand_end[length]):
            k = cand[c]
            ok = True
            for w in range(word_start[k], word_end[k]):
                at = head + word_at[w]
                x = words[at & 7, at >> 3] if (at >> 3) < last_word else _u64_tail(view, at)
                if (x ^ word_tmpl[w]) & word_mask[w]:
                    ok = False
                    break
            if ok:
                found = k
                break
        if found < 0:
            if budget[length] > 0:
                return SWEEP_UNKNOWN, i
            continue
        crc = np.uint32(crc_base[found])
        for t in range(crc_start[found], crc_end[found]):
            crc = np.uint32(crc ^ crc_tables[t, view[head + crc_pos[t]]])
        if _masked(crc) != _u32(view, head + 12 + length):
            return SWEEP_DAMAGED, i
        rec_layout[i] = found
    return SWEEP_DONE, len(heads)


@numba.njit(nogil=True, cache=True)
def slot_counts(rec_layout, slot_of, slots, first_of):
    """How many matched records go to each slot; `first_of` gets each layout's first record."""
    counts = np.zeros(slots, dtype=np.int64)
    for i in range(len(rec_layout)):
        k = rec_layout[i]
        if k >= 0:
            if first_of[k] < 0:
                first_of[k] = i
            if slot_of[k] >= 0:
                counts[slot_of[k]] += 1
    return counts


@numba.njit(nogil=True, cache=True)
def gather(
    view, words, heads, rec_layout, slot_of, at, wall_at, step_at, step_len, value_at, value_len, value_kind,
    step, wall, value, record, base,
):
    """Decodes the matched records into the output columns, a slot's rows from `at[slot]`
    on in file order, record numbers from `base` on (the columns are allocated
    by the caller, where numpy accounts for them)."""
    for i in range(len(heads)):
        k = rec_layout[i]
        if k < 0 or slot_of[k] < 0:
            continue
        j = at[slot_of[k]]
        at[slot_of[k]] += 1
        head = heads[i]
        s = np.uint64(0)
        if step_at[k] >= 0:
            for b in range(step_len[k]):
                s |= np.uint64(view[head + step_at[k] + b] & 0x7F) << np.uint64(7 * b)
        step[j] = np.int64(s)
        w = head + wall_at[k]
        wall[j] = np.uint64(words[w & 7, w >> 3]).view(np.float64) if wall_at[k] >= 0 else 0.0
        p = head + value_at[k]
        kind = value_kind[k]
        if kind == 0:
            value[j] = np.float64(np.uint32(_u32(view, p)).view(np.float32))
        elif kind == 1:
            value[j] = np.uint64(words[p & 7, p >> 3]).view(np.float64)
        elif kind == 2:  # int32
            value[j] = np.float64(np.int64(_u32(view, p)) - (np.int64(_u32(view, p) >> np.uint32(31)) << 32))
        elif kind == 3:  # int64
            value[j] = np.float64(np.uint64(_u64(view, p)).view(np.int64))
        elif kind == 4:  # int8
            value[j] = np.float64(np.int64(view[p]) - (np.int64(view[p] >> 7) << 8))
        elif kind == 5:  # int16
            u = np.int64(view[p]) | (np.int64(view[p + 1]) << 8)
            value[j] = np.float64(u - ((u >> 15) << 16))
        elif kind == 6:  # uint8
            value[j] = np.float64(view[p])
        else:  # a varint (int64_val), two's complement
            acc = np.uint64(0)
            for b in range(value_len[k]):
                acc |= np.uint64(view[p + b] & 0x7F) << np.uint64(7 * b)
            value[j] = np.float64(np.int64(acc))
        record[j] = base + i
