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


# Value types the sweep decodes (numpy's dtype.str -> the kernel's code).
VALUE_KINDS = {"<f4": 0, "<f8": 1, "<i4": 2, "<i8": 3, "|i1": 4, "<i2": 5, "|u1": 6}


class _Tables:
    """The specs as the flat arrays the compiled sweep takes, extended as specs are learned."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.lengths: list[int] = []
        self.parts: dict[str, list[np.ndarray]] = {
            name: [] for name in ("word_at", "word_tmpl", "word_mask", "crc_pos", "crc_tables")
        }
        self.word_bounds, self.crc_bounds = [0], [0]
        self.bases: list[int] = []
        self._arrays()

    def add(self, spec: Spec) -> None:
        mask = spec.compared.view("<u8")
        live = np.flatnonzero(mask)
        self.lengths.append(spec.length)
        self.parts["word_at"].append(live * 8)
        self.parts["word_tmpl"].append(spec.template.view("<u8")[live])
        self.parts["word_mask"].append(mask[live])
        self.parts["crc_pos"].append(np.array(spec.crc.positions, dtype=np.int64) + records.HEADER_SIZE)
        self.parts["crc_tables"].append(np.stack(spec.crc.tables).reshape(-1, 256))
        self.word_bounds.append(self.word_bounds[-1] + len(live))
        self.crc_bounds.append(self.crc_bounds[-1] + len(spec.crc.positions))
        self.bases.append(int(spec.crc.base))
        self._arrays()

    def _joined(self, name: str, dtype: type) -> np.ndarray:
        return np.concatenate([*self.parts[name], np.zeros(0, dtype)]).astype(dtype)

    def _arrays(self) -> None:
        lengths = np.array(self.lengths, dtype=np.int64)
        order = np.argsort(lengths, kind="stable")
        self.cand = order.astype(np.int64)
        every = np.arange(self.max_length + 1)
        self.cand_start = np.searchsorted(lengths[order], every, side="left").astype(np.int64)
        self.cand_end = np.searchsorted(lengths[order], every, side="right").astype(np.int64)
        self.word_at = self._joined("word_at", np.int64)
        self.word_tmpl = self._joined("word_tmpl", np.uint64)
        self.word_mask = self._joined("word_mask", np.uint64)
        self.crc_pos = self._joined("crc_pos", np.int64)
        tables = self.parts["crc_tables"]
        self.crc_tables = np.concatenate(tables) if tables else np.zeros((0, 256), dtype=np.uint32)
        bounds = np.array(self.word_bounds, dtype=np.int64)
        self.word_start, self.word_end = bounds[:-1], bounds[1:]
        bounds = np.array(self.crc_bounds, dtype=np.int64)
        self.crc_start, self.crc_end = bounds[:-1], bounds[1:]
        self.crc_base = np.array(self.bases, dtype=np.uint32)


class Damaged(Exception):
    """A record failed its header or data CRC."""


def sweep(
    view: np.ndarray,
    heads: np.ndarray,
    lengths: np.ndarray,
    learn: Callable[[int], Spec | None],
    max_length: int,
    max_misses: int,
) -> tuple[np.ndarray, list[Spec]]:
    """Which spec each record (offset `heads`, data `lengths`) fits, -1 for none, in one
    compiled pass in file order, every fitting record's header and data CRC
    checked; and the specs.

    A record of at most `max_length` bytes that fits no spec yet is handed to
    `learn` (its index), which gives its spec or None; after `max_misses`
    Nones for one length, records of that length are left unmatched without
    asking. Unmatched records' CRCs are the caller's to check.

    Raises `Damaged` when a header or a fitting record's data CRC is wrong.
    """
    k = _load()
    words = word_view(view)
    header_crcs = _header_crcs(max_length)
    specs: list[Spec] = []
    tables = _Tables(max_length)
    budget = np.full(max_length + 1, max_misses, dtype=np.int64)
    rec_layout = np.empty(len(heads), dtype=np.int32)
    start, force = 0, -1
    while True:
        status, at = k.sweep(
            view, words, heads, lengths, start, force, crc_ranges.TABLE, header_crcs,
            tables.cand_start, tables.cand_end, tables.cand,
            tables.word_start, tables.word_end, tables.word_at, tables.word_tmpl, tables.word_mask,
            tables.crc_start, tables.crc_end, tables.crc_pos, tables.crc_tables, tables.crc_base,
            budget, rec_layout,
        )  # fmt: skip
        if status == k.SWEEP_DONE:
            return rec_layout, specs
        if status == k.SWEEP_DAMAGED:
            raise Damaged
        spec = learn(int(at))
        if spec is None or spec.value_dtype.str not in VALUE_KINDS:
            budget[int(lengths[at])] -= 1
            start, force = int(at), int(at)
            continue
        specs.append(spec)
        tables.add(spec)
        start, force = int(at), -1


def gather(
    view: np.ndarray, heads: np.ndarray, rec_layout: np.ndarray, specs: list[Spec], slots: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(bounds, step, wall_time, value, record, first)`: the rows of the records `sweep`
    matched, slot by slot (slot `s` is `[bounds[s]:bounds[s + 1]]`, in file
    order), and each spec's first record (-1 if none)."""
    k = _load()
    first = np.full(len(specs), -1, dtype=np.int64)

    def column(name: str) -> np.ndarray:
        return np.array([getattr(spec, name) for spec in specs], dtype=np.int64)

    slot_of = column("slot")
    bounds = np.concatenate(([0], np.cumsum(k.slot_counts(rec_layout, slot_of, slots, first))))
    total = int(bounds[-1])
    step, record = np.empty(total, dtype=np.int64), np.empty(total, dtype=np.int64)
    wall, value = np.empty(total, dtype=np.float64), np.empty(total, dtype=np.float64)
    k.gather(
        view, word_view(view), heads, rec_layout, slot_of, bounds[:-1].copy(),
        column("wall_at"), column("step_at"), column("step_len"), column("value_at"),
        np.array([VALUE_KINDS[spec.value_dtype.str] for spec in specs], dtype=np.int64),
        step, wall, value, record,
    )  # fmt: skip
    return bounds, step, wall, value, record, first
