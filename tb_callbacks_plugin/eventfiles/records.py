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
from collections.abc import Iterator

try:
    from google_crc32c import value as _crc32c
except ImportError:  # pragma: no cover - google-crc32c is a dependency
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import (  # type: ignore[no-redef]
        crc32c as _crc32c,
    )


_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
HEADER_SIZE = _HEADER.size  # 12
FOOTER_SIZE = _FOOTER.size  # 4
# A record longer than this is treated as damage: no event file we or
# TensorBoard write comes near it, and trusting a corrupt length would make us
# allocate or skip gigabytes.
MAX_RECORD_BYTES = 256 * 1024 * 1024


class CorruptRecordWarning(UserWarning):
    """Part of an event file could not be read and was skipped."""


def masked_crc32c(data: bytes) -> int:
    x = _crc32c(data)
    return ((((x >> 15) | (x << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One record's bytes, ready to append to an event file."""
    length = struct.pack("<Q", len(data))
    return b"".join((length, _FOOTER.pack(masked_crc32c(length)), data, _FOOTER.pack(masked_crc32c(data))))


# Masked CRCs of length fields seen so far. An event file's records come in a
# handful of lengths (every epoch_loss scalar is the same size), so the
# header check is mostly a dict lookup; it is still a full check, keyed by
# the exact 8 bytes.
_length_crcs: dict[bytes, int] = {}


def _header_ok(buf: bytes, pos: int) -> int | None:
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


def _resync(buf: bytes, pos: int) -> int:
    """The next offset after `pos` where a whole, valid record starts."""
    end = len(buf) - HEADER_SIZE - FOOTER_SIZE
    for start in range(pos + 1, end + 1):
        length = _header_ok(buf, start)
        if length is None:
            continue
        data_end = start + HEADER_SIZE + length
        if data_end + FOOTER_SIZE > len(buf):
            continue
        (data_crc,) = _FOOTER.unpack_from(buf, data_end)
        if masked_crc32c(buf[start + HEADER_SIZE : data_end]) == data_crc:
            return start
    return len(buf)


def iter_records(buf: bytes, *, name: str = "<buffer>", marker: bytes | None = None) -> Iterator[bytes]:
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
        cut_short = pos + HEADER_SIZE > size or (length is not None and data_end + FOOTER_SIZE > size)
        nxt = _resync(buf, pos)
        if cut_short and nxt >= size:
            # Nothing valid follows a record cut short: a torn tail from a
            # writer that was killed or is still writing.
            warnings.warn(
                f"{name}: incomplete record at byte {pos} of {size} "
                "(writer killed or still writing); skipped",
                CorruptRecordWarning,
                stacklevel=2,
            )
            return
        warnings.warn(
            f"{name}: corrupt bytes {pos}..{nxt} of {size} skipped",
            CorruptRecordWarning,
            stacklevel=2,
        )
        pos = nxt
