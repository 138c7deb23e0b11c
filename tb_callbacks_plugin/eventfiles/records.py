"""TFRecord framing: the container format of TensorBoard event files.

A record is `uint64 length | uint32 masked_crc32c(length) | data |
uint32 masked_crc32c(data)`, little-endian. We frame records ourselves rather
than through `tensorboard.summary.writer.record_writer`, whose CRC is pure
Python (about 0.1 ms per KiB) and would dominate writing; google-crc32c
computes the same checksum in C. A test checks our bytes equal TensorBoard's.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np
from google_crc32c import extend as _crc32c_extend
from google_crc32c import value as _crc32c

from tb_callbacks_plugin.eventfiles import crc_ranges

if TYPE_CHECKING:
    from tb_callbacks_plugin.eventfiles.storage import Contents, Segment

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")
HEADER_SIZE = _HEADER.size  # 12
FOOTER_SIZE = _FOOTER.size  # 4
# A record longer than this is treated as damage: no event file we or
# TensorBoard write comes near it, and trusting a corrupt length would make us
# allocate or skip gigabytes.
MAX_RECORD_BYTES = 256 * 1024 * 1024


class CorruptRecordWarning(UserWarning):
    """Part of an event file could not be read and was skipped."""


def masked_crc32c(data: bytes) -> int:
    return _mask(_crc32c(data))


def frame(data: bytes) -> bytes:
    """One record's bytes, ready to append to an event file."""
    length = struct.pack("<Q", len(data))
    return b"".join((length, _FOOTER.pack(masked_crc32c(length)), data, _FOOTER.pack(masked_crc32c(data))))


# Masked CRCs of length fields seen so far. An event file's records come in a
# handful of lengths (every epoch_loss scalar is the same size), so the
# header check is mostly a dict lookup; it is still a full check, keyed by
# the exact 8 bytes.
_length_crcs: dict[bytes, int] = {}


def header_length(buf: Segment, pos: int) -> int | None:
    """The data length the record header at `pos` gives, if the header checks out."""
    return _header_ok(bytes(buf[pos : pos + HEADER_SIZE]), 0)


def _header_ok(buf: Contents, pos: int) -> int | None:
    """The record length at `pos` if its header checks out, else None."""
    if pos + HEADER_SIZE > len(buf):
        return None
    length_bytes = buf[pos : pos + 8]
    expected = _length_crcs.get(length_bytes)
    if expected is None:
        expected = masked_crc32c(length_bytes)
        if len(_length_crcs) > 65536:
            _length_crcs.clear()
        _length_crcs[length_bytes] = expected
    length, length_crc = _HEADER.unpack_from(buf, pos)
    if expected != length_crc or length > MAX_RECORD_BYTES:
        return None
    return length


class _Resync:
    """Finding valid records again after damage, in work linear in the file's size.

    After damage every offset is a possible record start. Most fail the
    12-byte header check, checked for a window of offsets at once. One
    that passes claims a length (up to `MAX_RECORD_BYTES`, maybe half the
    file), and checksumming that claimed data at every such offset would be
    quadratic in a file of valid-looking headers; `crc_ranges` gives each
    range's CRC in bounded work instead. The window doubles as it moves on
    (a short damage costs a short scan; a long one a few large vectorized
    ones), so each byte is examined a bounded number of times. Every
    record is still checked by both its CRCs, and the first offset where a
    whole valid record starts is found, as a byte-by-byte scan would.
    """

    _FIRST_WINDOW = 64
    _MAX_WINDOW = 1 << 20

    def __init__(self, buf: Contents) -> None:
        self.buf = buf
        self.view = np.frombuffer(buf, dtype=np.uint8)
        self.ranges = crc_ranges.RangeCrcs(buf, crc=_crc32c, extend=_crc32c_extend)

    def record_at(self, pos: int) -> int | None:
        """The data length of the valid record at `pos`, or None."""
        length = _header_ok(self.buf, pos)
        if length is None:
            return None
        data_end = pos + HEADER_SIZE + length
        if data_end + FOOTER_SIZE > len(self.buf):
            return None
        (data_crc,) = _FOOTER.unpack_from(self.buf, data_end)
        return length if _mask(self.ranges.value(pos + HEADER_SIZE, data_end)) == data_crc else None

    def next_record(self, pos: int) -> int:
        """The first offset after `pos` where a whole, valid record starts (the size if none)."""
        size = len(self.buf)
        last = size - HEADER_SIZE - FOOTER_SIZE  # the last offset a record fits at
        lo, width = pos + 1, self._FIRST_WINDOW
        while lo <= last:
            hi = min(lo + width, last + 1)
            starts = self._header_starts(lo, hi)
            if len(starts):
                lengths = _gather(self.view, starts, "<u8").astype(np.int64)
                data_starts = starts + HEADER_SIZE
                crcs = self.ranges.values(data_starts, data_starts + lengths)
                ok = _mask_many(crcs) == _gather(self.view, data_starts + lengths, "<u4")
                if ok.any():
                    return int(starts[int(np.argmax(ok))])
            lo, width = hi, min(2 * width, self._MAX_WINDOW)
        return size

    def _header_starts(self, lo: int, hi: int) -> np.ndarray:
        """Offsets in [lo, hi) whose 12-byte header checks out and whose record fits in the file."""
        starts = np.arange(lo, hi, dtype=np.int64)
        lengths = _gather(self.view, starts, "<u8")
        fits = lengths <= min(MAX_RECORD_BYTES, len(self.buf))
        fits &= starts + (HEADER_SIZE + FOOTER_SIZE) + np.minimum(lengths, len(self.buf)).astype(
            np.int64
        ) <= len(self.buf)
        starts = starts[fits]
        ok = _mask_many(header_crcs(self.view, starts)) == _gather(self.view, starts + 8, "<u4")
        return starts[ok]


def header_crcs(view: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The CRC32C of the 8-byte length field at each of `starts` (a hook a test counts)."""
    return crc_ranges.window_values(view, starts, 8)


def _mask(x: int) -> int:
    return ((((x >> 15) | (x << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _mask_many(raw: np.ndarray) -> np.ndarray:
    raw = raw.astype(np.uint64)
    masked = ((raw >> np.uint64(15)) | (raw << np.uint64(17))) & np.uint64(0xFFFFFFFF)
    return ((masked + np.uint64(0xA282EAD8)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def iter_records(buf: Contents, *, name: str = "<buffer>", marker: bytes | None = None) -> Iterator[bytes]:
    """Yields the data of each valid record in `buf`.

    With `marker`, only records whose data contain it are yielded; the others
    are skipped before their data is copied or checksummed (the framing, the
    header CRC, is still checked, so damage is always found).

    Damage in the middle is skipped with a `CorruptRecordWarning` and reading
    resumes at the next valid record; a torn final record (a writer killed
    mid-write, or one still writing) ends the file with one warning.
    """
    pos = 0
    size = len(buf)
    unpack_header = _HEADER.unpack_from
    unpack_footer = _FOOTER.unpack_from
    length_crcs = _length_crcs
    find = buf.find
    crc = _crc32c
    while pos < size:
        # The hot loop: most files hold a million scalar records, so the
        # header check is inlined (the same check as `_header_ok`).
        length = None
        if pos + HEADER_SIZE <= size:
            candidate, length_crc = unpack_header(buf, pos)
            if length_crcs.get(buf[pos : pos + 8]) == length_crc or _header_ok(buf, pos) is not None:
                length = candidate
        data_start = pos + HEADER_SIZE
        data_end = data_start + (length or 0)
        if length is not None and data_end + FOOTER_SIZE <= size:
            (data_crc,) = unpack_footer(buf, data_end)
            data = buf[data_start:data_end]
            x = crc(data)
            if ((((x >> 15) | (x << 17)) + 0xA282EAD8) & 0xFFFFFFFF) == data_crc:
                if marker is None or find(marker, data_start, data_end) != -1:
                    yield data
                pos = data_end + FOOTER_SIZE
                continue
        # Damage: the rest of the file goes record by record, resynchronizing.
        for data_start, data_end in _spans_from(buf, pos, name):
            if marker is None or find(marker, data_start, data_end) != -1:
                yield buf[data_start:data_end]
        return


def record_spans(buf: Contents, *, name: str = "<buffer>") -> tuple[np.ndarray, np.ndarray]:
    """`(starts, lengths)` of the data of every valid record in `buf`, as int64 arrays.

    The same records, checks and warnings as `iter_records`, for readers that
    decode many small records at once (`scalar_layout`): following the
    length fields and one C checksum call per record are the only
    per-record Python work; the other checks are vectorized. Damage anywhere
    sends the rest of the file through the record-by-record path, which
    resynchronizes.
    """
    size = len(buf)
    view = np.frombuffer(buf, dtype=np.uint8)
    starts, pos = _walk(buf)
    heads = starts
    lengths = _gather(view, heads, "<u8")
    ok = lengths <= MAX_RECORD_BYTES
    ok &= heads + (HEADER_SIZE + FOOTER_SIZE) + np.minimum(lengths, size).astype(np.int64) <= size
    good = len(heads) if ok.all() else int(np.argmin(ok))
    heads, lengths = heads[:good], lengths[:good].astype(np.int64)
    ok = _gather(view, heads + 8, "<u4") == _length_crcs_of(lengths)
    data_starts = heads + HEADER_SIZE
    crc = _crc32c
    raw = np.array(
        [crc(buf[a:b]) for a, b in zip(data_starts.tolist(), (data_starts + lengths).tolist(), strict=True)],
        dtype=np.uint64,
    )
    ok &= _gather(view, data_starts + lengths, "<u4") == _mask_many(raw)
    if good == len(starts) and pos == size and ok.all():
        return data_starts, lengths
    first_bad = good if ok.all() else int(np.argmin(ok))
    resume = int(starts[first_bad]) if first_bad < len(starts) else pos
    rest = list(_spans_from(buf, resume, name))
    return (
        np.concatenate((data_starts[:first_bad], np.array([a for a, _ in rest], dtype=np.int64))),
        np.concatenate((lengths[:first_bad], np.array([b - a for a, b in rest], dtype=np.int64))),
    )


def _walk(buf: Contents) -> tuple[np.ndarray, int]:
    """Offsets of the records that follow each other from byte 0, and where the chain ends.

    Only the length fields are followed here (the tightest loop Python
    allows: a record's length says where the next starts); every record is
    checked after, vectorized.
    """
    limit = len(buf) - HEADER_SIZE - FOOTER_SIZE
    unpack_length = _LENGTH.unpack_from
    heads: list[int] = []
    add = heads.append
    pos = 0
    while pos <= limit:
        add(pos)
        pos += unpack_length(buf, pos)[0] + HEADER_SIZE + FOOTER_SIZE
    return np.array(heads, dtype=np.int64), pos


def _spans_from(buf: Contents, pos: int, name: str, at: int = 0) -> Iterator[tuple[int, int]]:
    """`(data_start, data_end)` of each valid record from `pos` on, record by record.

    Damage is skipped with a `CorruptRecordWarning` up to the next valid
    record (`_Resync`); a record cut short with nothing valid after it is a
    torn tail (a writer killed or still writing) and ends the file. `buf` is
    the end of a file from its byte `at` on (warnings give the file's offsets).
    """
    size = len(buf)
    resync = _Resync(buf)
    while pos < size:
        length = resync.record_at(pos)
        if length is not None:
            yield pos + HEADER_SIZE, pos + HEADER_SIZE + length
            pos += HEADER_SIZE + length + FOOTER_SIZE
            continue
        nxt = resync.next_record(pos)
        claimed = _header_ok(buf, pos)
        cut_short = pos + HEADER_SIZE > size or (
            claimed is not None and pos + HEADER_SIZE + claimed + FOOTER_SIZE > size
        )
        if cut_short and nxt >= size:
            warnings.warn(
                f"{name}: incomplete record at byte {at + pos} of {at + size} "
                "(writer killed or still writing); skipped",
                CorruptRecordWarning,
                stacklevel=2,
            )
            return
        warnings.warn(
            f"{name}: corrupt bytes {at + pos}..{at + nxt} of {at + size} skipped",
            CorruptRecordWarning,
            stacklevel=2,
        )
        pos = nxt


def _length_crcs_of(lengths: np.ndarray) -> np.ndarray:
    """The masked CRC of each length field: records come in a handful of
    lengths, so one checksum per distinct length."""
    if not len(lengths):
        return np.zeros(0, dtype=np.uint32)
    if int(lengths.max()) < 1 << 20:  # the usual case: a table indexed by length
        distinct = np.flatnonzero(np.bincount(lengths))
        table = np.zeros(int(distinct[-1]) + 1, dtype=np.uint32)
        table[distinct] = [masked_crc32c(_LENGTH.pack(n)) for n in distinct.tolist()]
        return table[lengths]
    distinct, which = np.unique(lengths, return_inverse=True)
    crcs = np.array([masked_crc32c(_LENGTH.pack(n)) for n in distinct.tolist()], dtype=np.uint32)
    return crcs[which.ravel()]


def length_crcs(lengths: np.ndarray) -> np.ndarray:
    """The masked CRC each record header stores for these data lengths (uint32)."""
    return _length_crcs_of(lengths)


def windows(view: np.ndarray, width: int) -> np.ndarray:
    """Every `width`-byte window of `view` as the rows of a zero-copy 2-D view."""
    count = max(len(view) - width + 1, 0)
    return np.ndarray((count, width), dtype=np.uint8, buffer=view, strides=(1, 1))


def _gather(view: np.ndarray, offsets: np.ndarray, dtype: str) -> np.ndarray:
    """The little-endian integer of type `dtype` at each of `offsets` (unaligned)."""
    width = np.dtype(dtype).itemsize
    if not len(offsets) or len(view) < width:
        return np.zeros(len(offsets), dtype=dtype)
    return np.ascontiguousarray(windows(view, width)[offsets]).view(dtype).ravel()


# --- Bulk reading (scalar_layout): the chain of records walked a block at a time ---

# A run of records that repeats (`batch_loss`, `batch_accuracy`, `batch_loss`,
# ...) is recognized once it has been seen twice in a row, for periods up to
# this many records.
_MAX_PERIOD = 8
# Rows of a repeating block checked by the first probe; each further probe
# checks 4x more, so a pattern that breaks early costs little.
_FIRST_PROBE = 64


def walk_records(buf: Contents) -> tuple[np.ndarray, np.ndarray, int]:
    """`(heads, lengths, end)`: the offset and data length of each record in the
    chain that follows length fields from byte 0, and where the chain stops
    (`len(buf)` when it covers the whole buffer).

    Nothing is checked but that each record lies inside `buf` and is at most
    `MAX_RECORD_BYTES` long: the caller checks every header and data CRC
    (`check_records`) and, on any damage, reads the buffer again with
    `record_spans`, which resynchronizes. Where record lengths repeat with a
    short period (one record per tag per step) the chain is followed with
    numpy a block at a time: a block is a strided 2-D view whose rows are one
    period of records, and only their length fields are compared.
    """
    size = len(buf)
    limit = size - HEADER_SIZE - FOOTER_SIZE
    unpack_length = _LENGTH.unpack_from
    head_parts: list[np.ndarray] = []
    length_parts: list[np.ndarray] = []
    heads: list[int] = []
    lengths: list[int] = []
    pos = 0
    while pos <= limit:
        length = unpack_length(buf, pos)[0]
        if length > MAX_RECORD_BYTES or pos + length + HEADER_SIZE + FOOTER_SIZE > size:
            break
        heads.append(pos)
        lengths.append(length)
        pos += length + HEADER_SIZE + FOOTER_SIZE
        period = _period(lengths)
        if not period:
            continue
        pattern = lengths[-period:]
        repeats = _repeats(buf, pos, pattern)
        if not repeats:
            continue
        head_parts.append(np.array(heads, dtype=np.int64))
        length_parts.append(np.array(lengths, dtype=np.int64))
        heads, lengths = [], []
        sizes = np.array(pattern, dtype=np.int64) + (HEADER_SIZE + FOOTER_SIZE)
        offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        stride = int(sizes.sum())
        block = pos + stride * np.arange(repeats, dtype=np.int64)
        head_parts.append((block[:, None] + offsets[None, :]).ravel())
        length_parts.append(np.tile(np.array(pattern, dtype=np.int64), repeats))
        pos += stride * repeats
    head_parts.append(np.array(heads, dtype=np.int64))
    length_parts.append(np.array(lengths, dtype=np.int64))
    return np.concatenate(head_parts), np.concatenate(length_parts), pos


def _period(lengths: list[int]) -> int:
    """The shortest period with which the last records' lengths have just repeated, or 0."""
    n = len(lengths)
    last = lengths[-1]
    for period in range(1, min(_MAX_PERIOD, n // 2) + 1):
        if lengths[-1 - period] == last and lengths[-period:] == lengths[-2 * period : -period]:
            return period
    return 0


def _repeats(buf: Contents, pos: int, pattern: list[int]) -> int:
    """How many times in a row the records from `pos` on have exactly `pattern`'s lengths."""
    sizes = [n + HEADER_SIZE + FOOTER_SIZE for n in pattern]
    stride = sum(sizes)
    available = (len(buf) - pos) // stride
    offsets = np.cumsum([0, *sizes[:-1]]).tolist()
    done = 0
    probe = _FIRST_PROBE
    while done < available:
        n = min(probe, available - done)
        ok = np.ones(n, dtype=bool)
        for at, length in zip(offsets, pattern, strict=True):
            # The length field of every row's record `at`: an unaligned strided view, no copy.
            first = pos + done * stride + at
            fields = np.ndarray((n,), dtype="<u8", buffer=buf, offset=first, strides=(stride,))
            ok &= fields == length
        if not ok.all():
            return done + int(np.argmin(ok))
        done += n
        probe *= 4
    return done


def spans_from(
    buf: Contents, pos: int, *, name: str = "<buffer>", at: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """`(starts, lengths)` of the data of every valid record from `pos` on, record by
    record, damage skipped with the warnings of `iter_records` (for the tail
    a bulk walk could not follow). `buf` may be a file's end from its byte
    `at` on: warnings name the file's offsets."""
    spans = list(_spans_from(buf, pos, name, at))
    return (
        np.array([a for a, _ in spans], dtype=np.int64),
        np.array([b - a for a, b in spans], dtype=np.int64),
    )


def masked_crcs(raw: np.ndarray) -> np.ndarray:
    """`masked_crc32c` of many raw CRC32C values at once (uint32 out)."""
    return _mask_many(raw)


def check_records(buf: Segment, heads: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per record (offset `heads`, data length `lengths`, both inside `buf`): are its
    header and data CRCs right? One checksum call per record: for records no
    bulk check covers."""
    view = np.frombuffer(buf, dtype=np.uint8)
    ok = headers_ok(buf, heads, lengths)
    starts = (heads + HEADER_SIZE).tolist()
    ends = (heads + HEADER_SIZE + lengths).tolist()
    crc = _crc32c
    if isinstance(buf, bytes):
        raw = np.array([crc(buf[a:b]) for a, b in zip(starts, ends, strict=True)], dtype=np.uint32)
    else:  # a segment's buffer: the C checksum takes only bytes
        raw = np.array([crc(bytes(buf[a:b])) for a, b in zip(starts, ends, strict=True)], dtype=np.uint32)
    return ok & (_gather(view, heads + HEADER_SIZE + lengths, "<u4") == masked_crcs(raw))


def headers_ok(buf: Segment, heads: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per record (as `check_records` takes them): is its length field's CRC right?
    Vectorized; for readers that checksum the data of only the records they decode."""
    return _gather(np.frombuffer(buf, dtype=np.uint8), heads + 8, "<u4") == _length_crcs_of(lengths)


def records_holding(buf: Contents, positions: Iterable[int], *, reach: int) -> list[tuple[int, int]]:
    """`(head, data length)` of the records whose data hold one of `positions`
    and begin at most `reach` bytes before it, sorted, each once.

    Found without following the chain of records from byte 0: from the
    position back, the first offset whose length field covers the position
    and has the right CRC (a false match is one in 2**32 per offset tried),
    for readers of a few records in a large file (a tag prefix found by
    `bytes.find`, which a record's tag follows closely). A position no record
    holds is left out; the caller checks whether the record is whole and its
    data's CRC (`data_ok`).
    """
    found: dict[int, int] = {}
    unpack_length = _LENGTH.unpack_from
    for position in positions:
        for head in range(position - HEADER_SIZE, max(-1, position - HEADER_SIZE - reach - 1), -1):
            length = unpack_length(buf, head)[0]
            # Most offsets fail here: bytes of a record's data read as a length are huge.
            if length > MAX_RECORD_BYTES or head + HEADER_SIZE + length <= position:
                continue
            if _header_ok(buf, head) is not None:
                found[head] = length
                break
    return sorted(found.items())


def data_ok(buf: Contents, head: int, length: int) -> bool:
    """Is the data CRC of the whole record at `head` (data `length` bytes) right?"""
    end = head + HEADER_SIZE + length
    return masked_crc32c(buf[head + HEADER_SIZE : end]) == _FOOTER.unpack_from(buf, end)[0]
