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
from collections.abc import Callable, Iterator

try:
    import google_crc32c

    def _crc32c(data: bytes) -> int:
        return google_crc32c.value(data)

except ImportError:  # pragma: no cover - google-crc32c is a dependency
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c as _tb_crc

    def _crc32c(data: bytes) -> int:
        return _tb_crc(bytes(data))


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


def _header_ok(buf: bytes, pos: int) -> int | None:
    """The record length at `pos` if its header checks out, else None."""
    if pos + HEADER_SIZE > len(buf):
        return None
    length, length_crc = _HEADER.unpack_from(buf, pos)
    if masked_crc32c(buf[pos : pos + 8]) != length_crc:
        return None
    if length > MAX_RECORD_BYTES:
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


def iter_records(
    buf: bytes,
    *,
    name: str = "<buffer>",
    wanted: Callable[[bytes, int, int], bool] | None = None,
) -> Iterator[bytes]:
    """Yields the data of each valid record in `buf`.

    `wanted(buf, start, end)` lets a caller skip records it does not care
    about before their data is copied or checksummed; the framing (header CRC)
    is still checked so that damage is always found.

    Damage in the middle is skipped with a `CorruptRecordWarning` and reading
    resumes at the next valid record; a torn final record (a writer killed
    mid-write, or one still writing) ends the file with one warning.
    """
    pos = 0
    size = len(buf)
    while pos < size:
        length = _header_ok(buf, pos)
        data_start = pos + HEADER_SIZE
        data_end = data_start + (length or 0)
        if length is not None and data_end + FOOTER_SIZE <= size:
            if wanted is not None and not wanted(buf, data_start, data_end):
                pos = data_end + FOOTER_SIZE
                continue
            (data_crc,) = _FOOTER.unpack_from(buf, data_end)
            data = buf[data_start:data_end]
            if masked_crc32c(data) == data_crc:
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
