"""The compiled path of bulk scalar reading, with numba (the optional `fast` extra).

Loops that numpy can only express as many passes over the records:
following the chain of length fields (`walk`); then one sweep over the
records in file order (`sweep`) that matches each with the layouts
(`scalar_layout`) learned so far, comparing it with a layout's template a
word at a time and checking its header CRC and its data CRC from the bytes
that differ (`crc_bulk`); a record that fits no layout goes back to Python
to learn one. A second pass (`gather`) decodes step, wall time and value of
every matched record straight into one column per tag. Reading the file in
order keeps memory access sequential; each loop is compiled once (cached on
disk) and runs without the GIL, so files are read on all cores in threads.

`scalar_layout` uses these when numba imports and a file is large enough
to pay for loading them (`MIN_BYTES`); otherwise, and with
`TB_CALLBACKS_PURE_READER=1`, the numpy path does the same work. Both are
tested to give the same rows."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tb_callbacks_plugin.eventfiles import crc_ranges, records
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


@functools.cache
def _header_crcs(max_length: int) -> np.ndarray:
    """The masked CRC of the header of a record of each data length up to `max_length`."""
    return records.length_crcs(np.arange(max_length + 1))


def word_view(view: np.ndarray) -> np.ndarray:
    """The 8-byte little-endian words of `view` at every offset, without a copy:
    row `p % 8`, column `p // 8` is the word at byte `p` (one unaligned load in
    the compiled loops rather than eight byte loads)."""
    count = max((len(view) - 7) // 8, 0)
    return np.ndarray((8, count), dtype="<u8", buffer=view, strides=(1, 8))


@dataclass(frozen=True)
class Spec:
    """One layout as the sweep matches and decodes it (see `scalar_layout._Layout`).

    Positions are in the record (header included); `template` is the
    record's bytes padded to a multiple of 8, `compared` the bits of each
    byte that must equal the template's. `slot` is where its rows go
    (several layouts of one tag share one), -1 for rows not wanted.
    """

    length: int
    template: np.ndarray
    compared: np.ndarray
    crc: SpanCRC
    wall_at: int
    step_at: int
    step_len: int
    value_at: int
    value_dtype: np.dtype
    slot: int
    value_len: int = 0  # a varint value's bytes (int64_val), decoded as kind VARINT


# Value types the sweep decodes (numpy's dtype.str -> the kernel's code).
VALUE_KINDS = {"<f4": 0, "<f8": 1, "<i4": 2, "<i8": 3, "|i1": 4, "<i2": 5, "|u1": 6}
VARINT = 7  # the kind of a varint value (`Spec.value_len` bytes)


class _Tables:
    """The specs as the flat arrays the compiled sweep takes, extended as specs are learned."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.lengths = np.zeros(0, dtype=np.int64)
        self.word_at = np.zeros(0, dtype=np.int64)
        self.word_tmpl = np.zeros(0, dtype=np.uint64)
        self.word_mask = np.zeros(0, dtype=np.uint64)
        self.crc_pos = np.zeros(0, dtype=np.int64)
        self._crc_tables = np.zeros((64, 256), dtype=np.uint32)  # grown by doubling
        self.crc_tables = self._crc_tables[:0]
        self.word_start = self.word_end = self.crc_start = self.crc_end = np.zeros(0, dtype=np.int64)
        self.crc_base = np.zeros(0, dtype=np.uint32)
        self._candidates()

    def add(self, spec: Spec) -> None:
        """Appends one spec (each array grows by its part: a search's reader learns a few
        layouts per file, so this is not a rebuild of every table)."""
        mask = spec.compared.view("<u8")
        live = np.flatnonzero(mask)
        words, crcs = len(self.word_at), len(self.crc_pos)
        self.lengths = np.append(self.lengths, spec.length)
        self.word_at = np.append(self.word_at, live * 8)
        self.word_tmpl = np.append(self.word_tmpl, spec.template.view("<u8")[live])
        self.word_mask = np.append(self.word_mask, mask[live])
        self.crc_pos = np.append(
            self.crc_pos, np.array(spec.crc.positions, dtype=np.int64) + records.HEADER_SIZE
        )
        tables = np.stack(spec.crc.tables).reshape(-1, 256)
        if crcs + len(tables) > len(self._crc_tables):
            grown = np.zeros((2 * (crcs + len(tables)), 256), dtype=np.uint32)
            grown[:crcs] = self._crc_tables[:crcs]
            self._crc_tables = grown
        self._crc_tables[crcs : crcs + len(tables)] = tables
        self.crc_tables = self._crc_tables[: crcs + len(tables)]
        self.word_start = np.append(self.word_start, words)
        self.word_end = np.append(self.word_end, len(self.word_at))
        self.crc_start = np.append(self.crc_start, crcs)
        self.crc_end = np.append(self.crc_end, len(self.crc_pos))
        self.crc_base = np.append(self.crc_base, np.uint32(spec.crc.base))
        self._candidates()

    def _candidates(self) -> None:
        # By length, the latest learned first: the layout a record most likely
        # fits is its own file's (a search's trials each have their own epoch tag).
        order = np.lexsort((-np.arange(len(self.lengths)), self.lengths))
        self.cand = order.astype(np.int64)
        every = np.arange(self.max_length + 1)
        by_length = self.lengths[order]
        self.cand_start = np.searchsorted(by_length, every, side="left").astype(np.int64)
        self.cand_end = np.searchsorted(by_length, every, side="right").astype(np.int64)


_SPEC_COLUMNS = ("slot", "wall_at", "step_at", "step_len", "value_at", "value_len", "kind")


class Damaged(Exception):
    """A record failed its header or data CRC."""


class Sweeper:
    """The compiled sweep of one reader, which keeps the layouts it learns (and how
    often each record length failed to give one) from one buffer to the next:
    the files of a search's trials, or the segments of one large file, share
    their tags and record shapes, so only the first pays for learning them.

    Args:
      max_length: records longer than this are never matched.
      budget: per record length (`max_length + 1` int64, shared by the
        sweepers of one reader), how many more records of that length that fit
        no layout are handed to `learn` (which found none for them); then they
        are left unmatched without asking: records of a length that holds no
        scalars, such as events, stop costing a look each.
    """

    def __init__(self, max_length: int, budget: np.ndarray) -> None:
        self.max_length = max_length
        self.specs: list[Spec] = []
        self._tables = _Tables(max_length)
        self._budget = budget
        self._header_crcs = _header_crcs(max_length)
        self._spec_rows: list[list[int]] = []  # per spec, the numbers gather takes (_SPEC_COLUMNS)
        self._columns: dict[str, np.ndarray] = {}  # those as columns, as of len(specs)

    def sweep(
        self, view: np.ndarray, heads: np.ndarray, lengths: np.ndarray, learn: Callable[[int], Spec | None]
    ) -> np.ndarray:
        """Which spec each record (offset `heads`, data `lengths`) fits, -1 for none, in
        one compiled pass in file order, every fitting record's header and data
        CRC checked.

        A record of at most `max_length` bytes that fits no spec yet is handed
        to `learn` (its index), which gives its spec or None. Unmatched records'
        data CRCs are the caller's to check.

        Raises `Damaged` when a header or a fitting record's data CRC is wrong.
        """
        k = _load()
        words = word_view(view)
        tables = self._tables
        rec_layout = np.empty(len(heads), dtype=np.int32)
        start, force = 0, -1
        while True:
            status, at = k.sweep(
                view, words, heads, lengths, start, force, crc_ranges.TABLE, self._header_crcs,
                tables.cand_start, tables.cand_end, tables.cand,
                tables.word_start, tables.word_end, tables.word_at, tables.word_tmpl, tables.word_mask,
                tables.crc_start, tables.crc_end, tables.crc_pos, tables.crc_tables, tables.crc_base,
                self._budget, rec_layout,
            )  # fmt: skip
            if status == k.SWEEP_DONE:
                return rec_layout
            if status == k.SWEEP_DAMAGED:
                raise Damaged
            spec = learn(int(at))
            if spec is None or spec.value_dtype.str not in VALUE_KINDS:
                self._budget[int(lengths[at])] -= 1
                start, force = int(at), int(at)
                continue
            self.specs.append(spec)
            tables.add(spec)
            kind = VARINT if spec.value_len else VALUE_KINDS[spec.value_dtype.str]
            self._spec_rows.append([*(getattr(spec, name) for name in _SPEC_COLUMNS[:-1]), kind])
            start, force = int(at), -1

    def gather(
        self, view: np.ndarray, heads: np.ndarray, rec_layout: np.ndarray, slots: int, base: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`(bounds, step, wall_time, value, record, first)`: the rows of the records `sweep`
        matched, slot by slot (slot `s` is `[bounds[s]:bounds[s + 1]]`, in file
        order), and each spec's first record (-1 if none); record numbers start
        at `base`."""
        k = _load()
        specs = self.specs
        first = np.full(len(specs), -1, dtype=np.int64)
        if "slot" not in self._columns or len(self._columns["slot"]) != len(specs):
            table = np.array(self._spec_rows, dtype=np.int64).reshape(len(specs), len(_SPEC_COLUMNS))
            self._columns = {name: table[:, i].copy() for i, name in enumerate(_SPEC_COLUMNS)}

        def column(name: str) -> np.ndarray:
            return self._columns[name]

        slot_of = column("slot")
        bounds = np.concatenate(([0], np.cumsum(k.slot_counts(rec_layout, slot_of, slots, first))))
        total = int(bounds[-1])
        step, record = np.empty(total, dtype=np.int64), np.empty(total, dtype=np.int64)
        wall, value = np.empty(total, dtype=np.float64), np.empty(total, dtype=np.float64)
        k.gather(
            view, word_view(view), heads, rec_layout, slot_of, bounds[:-1].copy(),
            column("wall_at"), column("step_at"), column("step_len"), column("value_at"), column("value_len"),
            column("kind"),
            step, wall, value, record, base,
        )  # fmt: skip
        if base:
            first[first >= 0] += base
        return bounds, step, wall, value, record, first
