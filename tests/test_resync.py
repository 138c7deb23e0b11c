"""Resynchronizing after damage does work linear in the file's size, and finds what a byte-by-byte scan finds.

Nothing is timed: the readers' checksum functions and header check are
replaced by counting ones, and the bytes they are handed are the work.
"""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tb_callbacks_plugin.eventfiles import crc_ranges, records

# Bytes examined per byte of file, whatever the file: headers are checked
# 8 bytes per offset (an offset may be looked at twice as windows
# overshoot), a claimed range costs two prefixes of under STEP bytes each,
# and every byte is checksummed once for the prefixes and once more as the
# data of the record it is in.
WORK_PER_BYTE = 64
WORK_FIXED = 4096


def _header(length: int) -> bytes:
    field = struct.pack("<Q", length)
    return field + struct.pack("<I", records.masked_crc32c(field))


def _valid_at(buf: bytes, pos: int) -> int | None:
    """The data length of a whole valid record at `pos`, checked the plain way."""
    if pos + 16 > len(buf):
        return None
    length, length_crc = struct.unpack_from("<QI", buf, pos)
    if records.masked_crc32c(buf[pos : pos + 8]) != length_crc or length > records.MAX_RECORD_BYTES:
        return None
    end = pos + 12 + length
    if end + 4 > len(buf):
        return None
    (data_crc,) = struct.unpack_from("<I", buf, end)
    return length if records.masked_crc32c(buf[pos + 12 : end]) == data_crc else None


def _reference(buf: bytes) -> list[bytes]:
    """What the readers must yield: each valid record, damage skipped to the next offset where one starts."""
    out, pos, size = [], 0, len(buf)
    while pos < size:
        length = _valid_at(buf, pos)
        if length is not None:
            out.append(buf[pos + 12 : pos + 12 + length])
            pos += 16 + length
            continue
        pos = next((s for s in range(pos + 1, size) if _valid_at(buf, s) is not None), size)
    return out


def _piece(draw: st.DrawFn, budget: int) -> bytes:
    kind = draw(st.sampled_from(["record", "record", "garbage", "claim", "claims", "cut"]))
    if kind == "record":
        data = draw(st.binary(max_size=draw(st.sampled_from([8, 80, 400]))))
        return records.frame(data)
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=40))
    if kind == "cut":
        framed = records.frame(draw(st.binary(min_size=1, max_size=60)))
        return framed[: draw(st.integers(1, len(framed) - 1))]
    claimed = draw(st.integers(0, 2 * budget))
    if kind == "claim":
        return _header(claimed)
    # The quadratic case: runs of valid-looking headers, each claiming a long record.
    return _header(claimed) * draw(st.integers(1, budget // 12))


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    budget = draw(st.sampled_from([2_000, 40_000]))
    return b"".join(_piece(draw, budget) for _ in range(draw(st.integers(1, 12))))


class _Work:
    """Counts the bytes handed to the readers' checksums and header checks."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        crc, extend, headers = records._crc32c, crc_ranges._extend, getattr(records, "header_crcs", None)
        prefixes = crc_ranges.RangeCrcs.prefixes

        def counted_crc(data: bytes) -> int:
            self.bytes += len(data)
            return crc(data)

        def counted_extend(value: int, data: bytes) -> int:
            self.bytes += len(data)
            return extend(value, data)

        def counted_headers(view: np.ndarray, starts: np.ndarray) -> np.ndarray:
            self.bytes += 8 * len(starts)
            return headers(view, starts)

        def counted_prefixes(ranges: crc_ranges.RangeCrcs, ends: np.ndarray) -> np.ndarray:
            self.bytes += crc_ranges.STEP * len(ends)  # each extends a known prefix by under STEP bytes
            return prefixes(ranges, ends)

        monkeypatch.setattr(records, "_crc32c", counted_crc)
        monkeypatch.setattr(records, "_crc32c_extend", counted_extend, raising=False)
        monkeypatch.setattr(records, "header_crcs", counted_headers, raising=False)
        monkeypatch.setattr(crc_ranges.RangeCrcs, "prefixes", counted_prefixes)
        records._length_crcs.clear()  # cached header checks would hide work


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(buf=damaged_files())
def test_resync_is_linear_and_finds_every_valid_record(buf, monkeypatch):
    expected = _reference(buf)
    with monkeypatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore", records.CorruptRecordWarning)
        for read in (
            lambda: list(records.iter_records(buf)),
            lambda: [
                buf[a : a + n]
                for a, n in zip(*map(np.ndarray.tolist, records.record_spans(buf)), strict=True)
            ],
        ):
            work = _Work(patch)
            assert read() == expected
            assert work.bytes <= WORK_PER_BYTE * len(buf) + WORK_FIXED, (work.bytes, len(buf))


def test_a_file_of_valid_looking_headers_costs_linear_work(monkeypatch):
    """The case that took 28 s at 4 MB: headers every 12 bytes, each claiming half the file."""
    counts = []
    for size in (60_000, 240_000):
        buf = (_header(size // 2) * (size // 12))[:size]
        work = _Work(monkeypatch)
        with pytest.warns(records.CorruptRecordWarning):
            assert list(records.iter_records(buf)) == []
        counts.append(work.bytes)
    assert counts[1] <= 4.5 * counts[0], counts
    assert counts[1] <= WORK_PER_BYTE * 240_000, counts
