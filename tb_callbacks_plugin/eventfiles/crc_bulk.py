"""CRC32C of many records at once, for records that differ only in a few bytes.

CRC32C is affine over GF(2): for two messages of one length,
`crc(a) ^ crc(b)` is a linear function of `a ^ b`, and the part a byte
contributes depends only on its value and its distance from the message's
end. So the records of one layout (`scalar_layout`), equal to a template
record except at the bytes of their wall time, step and value, have
`crc(record) = crc(template) ^ T[p][record[p]]` XORed over those few
positions `p`, with 256-entry tables `T[p]` built from the template. With
the other bytes checked equal to the template's, this is the exact checksum
of every record, computed a column at a time with numpy instead of one call
per record.
"""

from __future__ import annotations

import numpy as np

from tb_callbacks_plugin.eventfiles import records

try:
    from google_crc32c import value as _crc32c
except ImportError:  # pragma: no cover - google-crc32c is a dependency
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import (  # type: ignore[no-redef]
        crc32c as _crc32c,
    )

# distance from the message's end -> what each value of a byte there adds to the CRC
_by_distance: dict[int, np.ndarray] = {}


def _byte_table(distance: int) -> np.ndarray:
    """`t[v]`: the CRC difference made by XORing `v` into the byte `distance`
    bytes before the end of a message (256 uint32)."""
    table = _by_distance.get(distance)
    if table is None:
        zeros = bytes(distance)
        base = _crc32c(zeros)
        table = np.zeros(1, dtype=np.uint32)
        for bit in range(8):
            message = bytes([1 << bit]) + zeros[1:]
            # Doubling: the values with this bit set add its term to those without.
            table = np.concatenate((table, table ^ np.uint32(_crc32c(message) ^ base)))
        if len(_by_distance) > 4096:
            _by_distance.clear()
        _by_distance[distance] = table
    return table


class SpanCRC:
    """Masked CRC32Cs of messages equal to `template` outside `positions`.

    Args:
      template: one message (its CRC is computed once).
      positions: the byte offsets (in the message) where messages may differ.
    """

    def __init__(self, template: bytes, positions: list[int]) -> None:
        self.positions = positions
        self.base = np.uint32(_crc32c(template))
        size = len(template)
        # Each table is indexed by the byte's own value: the template's byte is folded in.
        self.tables = [_byte_table(size - p)[np.arange(256) ^ template[p]] for p in positions]

    def masked(self, columns: np.ndarray) -> np.ndarray:
        """The masked CRC of each message, from `columns[:, i]`: its byte at `positions[i]` (uint8)."""
        acc = np.full(len(columns), self.base, dtype=np.uint32)
        for i, table in enumerate(self.tables):
            acc ^= table[columns[:, i]]
        return records.masked_crcs(acc)
