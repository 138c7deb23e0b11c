"""CRC32C of many, possibly overlapping, byte ranges of one buffer, each in bounded work.

Looking for the next valid record after damage means checking the data CRC
of every place that looks like a record header; a hostile or unlucky file
has such places every few bytes, each claiming a length of half the file.
Checksumming each claimed range would be quadratic. CRC32C is linear over
GF(2), so the CRC of a range follows from CRCs of two prefixes of the
buffer:

    crc(buf[a:b]) = crc(buf[:b]) ^ Z**(b - a) (crc(buf[:a]))

where `Z` is what one zero byte does to the CRC register (zlib's
`crc32_combine` rests on the same identity). Prefix CRCs are kept at every
`STEP` bytes, computed once as far as they are asked for; a prefix at any
other offset extends the nearest one by fewer than `STEP` bytes, and
`Z**n` is applied as at most 29 table lookups of 4 bytes (one per bit of
`n`). So a range of any length costs a bounded amount of work, and each byte
of the buffer is checksummed at most once for the prefixes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from google_crc32c import extend as _extend
from google_crc32c import value as _value

if TYPE_CHECKING:
    from tb_callbacks_plugin.eventfiles.storage import Contents

_POLY = 0x82F63B78  # CRC32C (Castagnoli), bit-reflected
_ONES = 0xFFFFFFFF
STEP = 32
# Z**(2**k) for k below this covers every range length under 2**29 bytes
# (records are capped at 256 MiB).
_LEVELS = 29
# Fewer ranges than this are computed one by one: numpy's per-call cost
# outweighs its speed for a handful.
_VECTOR_MIN = 16


def _byte_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        x = i
        for _ in range(8):
            x = (x >> 1) ^ (_POLY if x & 1 else 0)
        table[i] = x
    return table


TABLE = _byte_table()


def _tables_of(columns: list[int]) -> np.ndarray:
    """The (4, 256) lookup tables of the linear map whose image of bit j is `columns[j]`."""
    out = np.zeros((4, 256), dtype=np.uint32)
    for part in range(4):
        for bit in range(8):
            span = 1 << bit
            out[part, span : 2 * span] = out[part, :span] ^ np.uint32(columns[8 * part + bit])
    return out


@functools.cache
def _zero_tables() -> tuple[np.ndarray, list[list[list[int]]]]:
    """Z**(2**k) for each level k, as (levels, 4, 256) tables and the same as nested lists."""
    table = TABLE.tolist()
    columns = [table[(1 << j) & 0xFF] ^ ((1 << j) >> 8) for j in range(32)]
    levels = []
    for _ in range(_LEVELS):
        tables = _tables_of(columns)
        levels.append(tables)
        lists = tables.tolist()
        columns = [_apply(lists, c) for c in columns]  # Z**(2**(k+1)) = Z**(2**k) twice
    stacked = np.stack(levels)
    return stacked, stacked.tolist()


def _apply(tables: list[list[int]], x: int) -> int:
    return tables[0][x & 0xFF] ^ tables[1][(x >> 8) & 0xFF] ^ tables[2][(x >> 16) & 0xFF] ^ tables[3][x >> 24]


def shift(crc: int, n: int) -> int:
    """Z**n (crc): what `n` zero bytes do to a CRC, as far as the CRC of what follows them is concerned."""
    _, levels = _zero_tables()
    k = 0
    while n:
        if n & 1:
            crc = _apply(levels[k], crc)
        n >>= 1
        k += 1
    return crc


def shift_many(crcs: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """`shift` of each of `crcs` (uint32) by the matching `ns` (int64), vectorized."""
    stacked, _ = _zero_tables()
    out = crcs.astype(np.uint32, copy=True)
    for k in range(_LEVELS):
        rows = np.flatnonzero((ns >> k) & 1)
        if not len(rows):
            continue
        x = out[rows]
        t = stacked[k]
        out[rows] = t[0][x & 0xFF] ^ t[1][(x >> 8) & 0xFF] ^ t[2][(x >> 16) & 0xFF] ^ t[3][x >> 24]
    return out


def window_values(view: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """CRC32C of the `width` bytes at each of `starts`, vectorized (uint32)."""
    state = np.full(len(starts), _ONES, dtype=np.uint32)
    for k in range(width):
        state = TABLE[(state ^ view[starts + k]) & 0xFF] ^ (state >> 8)
    return state ^ np.uint32(_ONES)


class RangeCrcs:
    """CRC32C of ranges of one buffer (see the module's docstring).

    `crc` and `extend` are the checksum functions (google-crc32c's), given
    so a test can count the bytes they are handed.
    """

    def __init__(
        self,
        buf: Contents,
        *,
        crc: Callable[[bytes], int] = _value,
        extend: Callable[[int, bytes], int] = _extend,
    ) -> None:
        self._buf = buf
        self._view = np.frombuffer(buf, dtype=np.uint8)
        self._crc = crc
        self._extend = extend
        self._marks = np.zeros(1, dtype=np.uint32)  # prefix CRC at 0, STEP, 2*STEP, ...
        self._known = 1

    def _grow(self, index: int) -> None:
        """Prefix CRCs at every STEP up to mark `index`, continuing from the last known."""
        if index < self._known:
            return
        if index >= len(self._marks):
            grown = np.zeros(max(index + 1, 2 * len(self._marks)), dtype=np.uint32)
            grown[: self._known] = self._marks[: self._known]
            self._marks = grown
        buf, extend = self._buf, self._extend
        crc = int(self._marks[self._known - 1])
        pos = (self._known - 1) * STEP
        new = []
        for _ in range(self._known, index + 1):
            crc = extend(crc, buf[pos : pos + STEP])
            pos += STEP
            new.append(crc)
        self._marks[self._known : index + 1] = new
        self._known = index + 1

    def prefix(self, end: int) -> int:
        """CRC32C of `buf[:end]`."""
        mark = end // STEP
        self._grow(mark)
        crc = int(self._marks[mark])
        return self._extend(crc, self._buf[mark * STEP : end]) if end % STEP else crc

    def prefixes(self, ends: np.ndarray) -> np.ndarray:
        """`prefix` of each of `ends` (int64), vectorized."""
        marks = ends // STEP
        if len(marks):
            self._grow(int(marks.max()))
        state = self._marks[marks] ^ np.uint32(_ONES)
        base = marks * STEP
        rest = ends - base
        last = len(self._view) - 1
        for k in range(int(rest.max()) if len(rest) else 0):
            byte = self._view[np.minimum(base + k, last)]
            state = np.where(rest > k, TABLE[(state ^ byte) & 0xFF] ^ (state >> 8), state)
        return state ^ np.uint32(_ONES)

    def value(self, start: int, end: int) -> int:
        """CRC32C of `buf[start:end]`."""
        if end - start <= 2 * STEP:
            return self._crc(self._buf[start:end])
        return self.prefix(end) ^ shift(self.prefix(start), end - start)

    def values(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """`value` of each range, vectorized (uint32)."""
        if len(starts) < _VECTOR_MIN:
            return np.array(
                [self.value(a, b) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)],
                dtype=np.uint32,
            )
        return self.prefixes(ends) ^ shift_many(self.prefixes(starts), ends - starts)
