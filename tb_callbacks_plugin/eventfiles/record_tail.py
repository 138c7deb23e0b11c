"""Our plugin's records of one local event file, each read once as the file grows.

For the plugin on TensorBoard's Python loader (`server/logdir_store.py`),
which reads its runs itself rather than wait for TensorBoard to load every
run one after another. Our records are a few in files of many: a search's
trial holds ~20 event records among hundreds of scalars, a long fit a few
thousand among millions. So the chain of records is not followed: the tag
prefix is found by `bytes.find` (in C), and the record holding it by its
length field's CRC a few bytes before (a value's tag is the first field of
an `Event`'s summary, `records.records_holding`); only those records are
checksummed and decoded. A file is read again from where the last read
stopped, a little before, so that a record whose tag was not yet written is
found whole later; a record still being written, or torn by a killed
writer, is read once whole. As TensorBoard's loaders, it warns about
nothing: a torn last record is the normal state of a file being written,
and a damaged record is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from tensorboard.compat.proto import event_pb2, tensor_pb2

from tb_callbacks_plugin import metadata
from tb_callbacks_plugin.eventfiles import records

# content -> (role, None) or (None, why the tag's records are skipped)
RoleOf = Callable[[bytes], tuple[str | None, str | None]]


@dataclass(slots=True)
class PluginRecord:
    """One summary value of our plugin: `role` is from its tag's metadata."""

    tag: str
    role: str
    step: int
    wall_time: float
    tensor: tensor_pb2.TensorProto


@dataclass
class FileTail:
    """Reads the records of `path` whose data hold `marker`, each once.

    Example:

    ```python
    tail = FileTail(path, event_format.EVENTS_TAG_PREFIX.encode())
    found, restarted = tail.read_new(metadata.role_or_reason)
    ```
    """

    path: str
    marker: bytes
    offset: int = 0  # where the next read starts: the end of the last whole record
    size: int = -1  # the file's size at the last read
    unreadable: int = 0  # records holding the marker that are not protos
    # tag -> (role, None) or (None, why not), from the first of its records with metadata
    roles: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def read_new(self, role_of: RoleOf) -> tuple[list[PluginRecord], bool]:
        """(records written since the last read, whether the file was replaced
        or truncated: then everything read before is gone and the records are
        the whole file's). A file that vanished reads as empty."""
        try:
            size = os.stat(self.path).st_size
        except OSError:
            size = 0
        if size == self.size:
            return [], False
        restarted = size < self.size
        if restarted:
            self.offset, self.unreadable, self.roles = 0, 0, {}
        self.size = size
        base = max(0, self.offset - _OVERLAP)
        try:
            with open(self.path, "rb") as f:
                f.seek(base)
                buf = f.read(size - base)
        except OSError:
            return [], restarted
        spans, done = marked_spans(buf, self.marker, self.offset - base)
        self.offset = base + done
        return self._decode(buf, spans, role_of), restarted

    def _decode(self, buf: bytes, spans: list[tuple[int, int]], role_of: RoleOf) -> list[PluginRecord]:
        out = []
        for start, end in spans:
            try:
                event = event_pb2.Event.FromString(buf[start:end])
            except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
                self.unreadable += 1
                continue
            for value in event.summary.value:
                plugin = value.metadata.plugin_data
                if plugin.plugin_name == metadata.PLUGIN_NAME and value.tag not in self.roles:
                    self.roles[value.tag] = role_of(plugin.content)
                role = self.roles.get(value.tag, (None, None))[0]
                if role is not None:
                    out.append(PluginRecord(value.tag, role, event.step, event.wall_time, value.tensor))
        return out


# Bytes from a record's data to its tag, at most: the event's wall time (9),
# step (up to 11), the summary's and the value's headers (about 10).
_REACH = 64
# Bytes at a file's end that may hold a record whose tag prefix (a marker of
# up to 64 bytes) is not all written yet: read again next time.
_OVERLAP = records.HEADER_SIZE + _REACH + 64


def marked_spans(buf: bytes, marker: bytes, done: int) -> tuple[list[tuple[int, int]], int]:
    """(data start, data end) of each whole, valid record of `buf` that begins
    at or after `done` and whose data hold `marker` near their start, and
    where the next read is to begin: a record before it is done with."""
    found = []
    at = buf.find(marker, done)
    while at != -1:
        found.append(at)
        at = buf.find(marker, at + 1)
    size = len(buf)
    # Past this point a record may not have its tag yet: read it next time.
    settled = max(done, size - _OVERLAP)
    spans: list[tuple[int, int]] = []
    for head, length in records.records_holding(buf, found, reach=_REACH):
        if head < done:
            continue  # read before
        end = head + records.HEADER_SIZE + length
        if end + records.FOOTER_SIZE > size:
            return spans, head  # a record still being written: the file ends inside it
        if records.data_ok(buf, head, length):
            spans.append((head + records.HEADER_SIZE, end))
        settled = max(settled, end + records.FOOTER_SIZE)
    return spans, settled
