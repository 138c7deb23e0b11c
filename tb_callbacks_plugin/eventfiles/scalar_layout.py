"""Decoding the scalar records of one event file in bulk, from their byte layout.

A training run writes the same few records over and over: `batch_loss` at
step 1, 2, 3, ... differs from one record to the next only in the bytes of
its wall time, its step and its value. So instead of a protobuf parse per
record (a few microseconds each, most of the time of reading a large run),
records are grouped by length, one record of a group is walked field by
field to find where those three variable spans sit (its *layout*), and every
record of the group whose other bytes are identical to it is decoded at once
with numpy. Anything that does not fit a layout (histograms, graphs, merged
summaries of many values, a varint-encoded integer tensor) is decoded by
protobuf record by record, so every record is still read exactly as
protobuf reads it.

The layouts understood are the single-value `Summary` events that
`tf.summary.scalar` (TF 2: a 0-d tensor in `tensor_content`), tf.compat.v1,
tensorboardX and PyTorch (`simple_value`) and this project write.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_shape_pb2

from tb_callbacks_plugin.eventfiles import crc_bulk, records, scalar_kernels
from tb_callbacks_plugin.eventfiles.scalar_reader import _NUMPY_DTYPES, scalar_value

if TYPE_CHECKING:
    from tb_callbacks_plugin.eventfiles.storage import Contents, Segment

# Records longer than this are never scalars worth a layout (a first record
# carrying a long description is decoded by protobuf instead), and copying
# their bytes into a matrix would cost more than parsing them.
MAX_LAYOUT_BYTES = 1024
# Files smaller than this are parsed record by record with protobuf (each
# layout found costs about as much as parsing a hundred records).
SMALL_FILE_BYTES = 64 * 1024
# Records of one length that fit no layout are parsed one by one; past this
# many misses a length group is left to protobuf entirely, which bounds the
# work spent looking for layouts in a file of non-scalar records.
MAX_MISSES_PER_LENGTH = 64

_FLOAT_VAL, _DOUBLE_VAL, _INT64_VAL = 5, 6, 10  # TensorProto field numbers
_DT_FLOAT, _DT_DOUBLE = 1, 2


@dataclass
class Rows:
    """The scalar-shaped values of one tag found in one file.

    Attributes:
      tag: the summary value's tag.
      tensor: True for a tensor value (a scalar only when the tag's plugin is
        "scalars"), False for a `simple_value` (always a scalar).
      record: index of each row's record in the file, for the file's order.
    """

    tag: str
    tensor: bool
    record: np.ndarray
    step: np.ndarray
    wall_time: np.ndarray
    value: np.ndarray


@dataclass
class FileScalars:
    """What one event file holds for the scalar frame.

    Attributes:
      rows: scalar-shaped values, in chunks of one tag each.
      plugins: `(record index, tag, plugin name)` of every value carrying
        plugin metadata, to decide per run which tensor tags are scalars.
    """

    rows: list[Rows] = field(default_factory=list)
    plugins: list[tuple[int, str, str]] = field(default_factory=list)
    unreadable: int = 0  # records protobuf could not parse (warned once per file)
    # `(data starts, lengths)` of the file's other records (not decoded by a layout), every
    # one's CRCs checked, when the whole file is a clean chain of records (else None): the
    # CLI reads its events from these without walking and checking the file again.
    others: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class _Layout:
    tag: str
    tensor: bool
    plugin: str | None
    wall_at: int | None
    step_at: int | None
    step_len: int
    value_at: int
    value_dtype: np.dtype
    value_len: int  # of a varint value (int64_val); 0 for the fixed-width ones
    compared: np.ndarray  # per byte of the row, the bits that must equal the template's
    length: int  # of the record's data
    variable: list[int]  # the row's bytes that may differ from the template's
    crc: crc_bulk.SpanCRC  # the data CRCs of records of this layout


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint too long")


def _fields(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """`(field number, wire type, value start, value end)` of each field in data[start:end]."""
    pos = start
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            begin = pos
            _, pos = _varint(data, pos)
        elif wire == 1:
            begin, pos = pos, pos + 8
        elif wire == 2:
            size, begin = _varint(data, pos)
            pos = begin + size
        elif wire == 5:
            begin, pos = pos, pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        if pos > end:
            raise ValueError("field past its message")
        yield number, wire, begin, pos


def _tensor_value(data: bytes, start: int, end: int) -> tuple[int, np.dtype, int] | None:
    """Where the one number of a scalar tensor sits, its type, and its length when it is a
    varint (`int64_val`, as this project's epoch records hold it; 0 otherwise)."""
    dtype = 0
    content = None
    vals: dict[int, tuple[int, int, int]] = {}
    for number, wire, a, b in _fields(data, start, end):
        if number == 1 and wire == 0:
            dtype, _ = _varint(data, a)
        elif number == 2 and wire == 2:
            shape = tensor_shape_pb2.TensorShapeProto.FromString(data[a:b])
            if shape.unknown_rank or math.prod(d.size for d in shape.dim) != 1:
                return None
        elif number == 3 and wire == 0:
            continue  # version_number
        elif number == 4 and wire == 2:
            content = (a, b - a)
        elif number in (_FLOAT_VAL, _DOUBLE_VAL, _INT64_VAL) and number not in vals:
            vals[number] = (wire, a, b - a)
        else:
            return None  # any other field, or a value field twice (unpacked repeats)
    if content is not None and content[1]:
        numpy_type = _NUMPY_DTYPES.get(dtype)
        if numpy_type is None or np.dtype(numpy_type).itemsize != content[1]:
            return None
        return content[0], np.dtype(numpy_type).newbyteorder("<"), 0
    if len(vals) != 1:
        return None
    ((number, (wire, a, size)),) = vals.items()
    if number == _INT64_VAL:
        # One varint, packed (its length before it) or not; any dtype protobuf's
        # reader would turn into a number (scalar_reader.scalar_value).
        if dtype not in _NUMPY_DTYPES:
            return None
        if wire == 2:
            try:
                _, stop = _varint(data, a)
            except (IndexError, ValueError):
                return None
            return (a, np.dtype("<i8"), size) if stop == a + size else None
        return (a, np.dtype("<i8"), size) if wire == 0 else None
    width = 4 if number == _FLOAT_VAL else 8
    if (number, dtype) not in ((_FLOAT_VAL, _DT_FLOAT), (_DOUBLE_VAL, _DT_DOUBLE)) or size != width:
        return None
    if wire not in (2, 5 if width == 4 else 1):
        return None
    return a, np.dtype("<f4" if width == 4 else "<f8"), 0


def _layout(row: bytes, length: int, width: int) -> _Layout | None:
    """The layout of a one-value scalar `Event`, or None for anything else.

    `row` is the whole record (header, `length` bytes of data, footer) and
    `width` (at least `len(row)`) the width of the rows it will be compared
    with. Positions are in the row; bytes past the record are not compared,
    the header is (it is the same for every record of one length), the
    footer (the data's CRC) is not.
    """
    data = row[records.HEADER_SIZE : records.HEADER_SIZE + length]
    try:
        wall_at = step_at = summary = None
        step_len = 0
        for number, wire, a, b in _fields(data, 0, len(data)):
            if number == 1 and wire == 1:
                wall_at = a
            elif number == 2 and wire == 0:
                step_at, step_len = a, b - a
            elif number == 5 and wire == 2:
                summary = (a, b)
            else:
                return None
        if summary is None:
            return None
        values = list(_fields(data, *summary))
        if len(values) != 1 or values[0][:2] != (1, 2):
            return None
        _, _, start, end = values[0]
        tag = plugin = value = None
        tensor = False
        for number, wire, a, b in _fields(data, start, end):
            if number == 1 and wire == 2:
                tag = data[a:b].decode("utf-8")
            elif number == 2 and wire == 5:
                value, tensor = (a, np.dtype("<f4"), 0), False
            elif number == 8 and wire == 2:
                value, tensor = _tensor_value(data, a, b), True
                if value is None:
                    return None
            elif number == 9 and wire == 2:
                plugin = summary_pb2.SummaryMetadata.FromString(data[a:b]).plugin_data.plugin_name
            else:
                return None
    except Exception:  # noqa: BLE001 - a malformed record (IndexError, ValueError, DecodeError...)
        return None
    if not tag or value is None:
        return None
    at = records.HEADER_SIZE
    compared = np.zeros(width, dtype=np.uint8)
    compared[: at + length] = 0xFF
    variable: list[int] = []
    if wall_at is not None:
        wall_at += at
        compared[wall_at : wall_at + 8] = 0
        variable.extend(range(wall_at, wall_at + 8))
    if step_at is not None:
        step_at += at
        # Of the step's varint only the continuation bits must agree: they
        # fix its length, hence where every later field sits.
        compared[step_at : step_at + step_len] = 0x80
        variable.extend(range(step_at, step_at + step_len))
    value_at, value_dtype, value_len = value
    value_at += at
    if value_len:  # a varint: as for the step, only its continuation bits must agree
        compared[value_at : value_at + value_len] = 0x80
        variable.extend(range(value_at, value_at + value_len))
    else:
        compared[value_at : value_at + value_dtype.itemsize] = 0
        variable.extend(range(value_at, value_at + value_dtype.itemsize))
    crc = crc_bulk.SpanCRC(data, [p - at for p in variable])
    return _Layout(
        tag,
        tensor,
        plugin,
        wall_at,
        step_at,
        step_len,
        value_at,
        value_dtype,
        value_len,
        compared,
        length,
        variable,
        crc,
    )


def _columns(rows: np.ndarray, at: int, width: int, dtype: str | np.dtype) -> np.ndarray:
    return np.ascontiguousarray(rows[:, at : at + width]).view(dtype).ravel()


def _decode(layout: _Layout, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, wall times and values of the records in `rows` (one per row) that fit `layout`."""
    n = len(rows)
    step = (
        np.zeros(n, dtype=np.int64)
        if layout.step_at is None
        else _varints(rows, layout.step_at, layout.step_len)
    )
    if layout.wall_at is None:
        wall = np.zeros(n, dtype=np.float64)
    else:
        wall = _columns(rows, layout.wall_at, 8, "<f8").astype(np.float64)
    if layout.value_len:
        value = _varints(rows, layout.value_at, layout.value_len)
    else:
        value = _columns(rows, layout.value_at, layout.value_dtype.itemsize, layout.value_dtype)
    return step, wall, value.astype(np.float64)


def _varints(rows: np.ndarray, at: int, length: int) -> np.ndarray:
    """The int64 varint of `length` bytes at `at` in each row (two's complement, as protobuf reads it)."""
    out = np.zeros(len(rows), dtype=np.uint64)
    for i in range(length):
        byte = rows[:, at + i].astype(np.uint64) & np.uint64(0x7F)
        out |= byte << np.uint64(7 * i)
    return out.view(np.int64)


def _fits(layout: _Layout, template: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Which of `rows` have the layout's bytes: equal outside its variable spans,
    and a step varint of the same length."""
    # Compared 8 bytes at a time, a column of words at a time (numpy reduces
    # a short axis slowly): rows are padded to a multiple of 8 bytes, whose
    # extra bytes `compared` masks out.
    words = rows.view("<u8")
    template_words = template.view("<u8")
    masks = layout.compared.view("<u8")
    differ = np.zeros(len(rows), dtype=np.uint64)
    for i in np.flatnonzero(masks).tolist():
        differ |= (words[:, i] ^ template_words[i]) & masks[i]
    return differ == 0


def _crcs_ok(layout: _Layout, rows: np.ndarray) -> bool:
    """Whether every row (a record of the layout) has the data CRC its footer says."""
    footer = records.HEADER_SIZE + layout.length
    stored = np.ascontiguousarray(rows[:, footer : footer + records.FOOTER_SIZE]).view("<u4").ravel()
    return bool(np.array_equal(layout.crc.masked(rows[:, layout.variable]), stored))


class _Damaged(Exception):
    """A record failed its checks: the file is read again record by record."""


def read_file(buf: Contents, name: str, want_tag: Callable[[str], bool] | None = None) -> FileScalars:
    """The scalar-shaped values and plugin metadata of one event file's bytes
    (`FileReader.read_buffer` of a reader of this one file)."""
    compiled = len(buf) >= scalar_kernels.MIN_BYTES
    return FileReader(want_tag, compiled=compiled).read_buffer(buf, name)


# A reader keeps at most about this many layouts from file to file (see FileReader._next_file).
MAX_KEPT_LAYOUTS = 64
# A large local file is read into a buffer this size at a time (kept by its
# reader, so its pages are faulted in once) rather than copied whole or
# mapped: a mapping of a file that is cut short while it is read (a crashed
# writer's file truncated, a run rewritten) kills the process with SIGBUS,
# where a read just ends early.
SEGMENT_BYTES = 4 * 2**20


class FileReader:
    """Reads the scalars of event files one after another, keeping what it learned.

    The layouts found in one file (`_layout`) are the next one's too: a
    search's trials, or the runs of one training script, write the same tags
    in the same record shapes, so with the compiled path (`scalar_kernels`)
    only the first file pays for learning them and every later file, small or
    large, is swept in bulk. Without it, files are decoded by numpy, and files
    under `SMALL_FILE_BYTES` by protobuf. A reader is for one thread.

    Every record's header and data CRC are checked: in bulk for the records
    decoded by layout (`crc_bulk`), one by one for the others. Damage
    anywhere sends the file to `records.record_spans`, which skips damaged
    records with a `CorruptRecordWarning` and resynchronizes; a torn or
    damaged tail after the chain of records is read the same way. Records
    protobuf cannot parse are counted in one warning per file.

    Args:
      want_tag: keeps only the rows of tags it accepts (default: all).
      compiled: use the compiled path when numba is installed (callers ask
        for it when the bytes to read pay for loading it: `MIN_BYTES`).
    """

    def __init__(self, want_tag: Callable[[str], bool] | None = None, *, compiled: bool = True) -> None:
        self.want_tag = want_tag
        self.compiled = compiled and scalar_kernels.available()
        self._sweeper: scalar_kernels.Sweeper | None = None
        self._layouts: list[_Layout] = []  # the sweeper's specs' layouts
        self._slots: dict[tuple[str, bool], int] = {}  # (tag, tensor) -> the slot of its rows
        self._slot_keys: list[tuple[str, bool]] = []
        self._buffer = bytearray()
        # Per record length, how many more records that fit no layout to learn from (kept past resets).
        self._budget = np.full(MAX_LAYOUT_BYTES + 1, MAX_MISSES_PER_LENGTH, dtype=np.int64)
        self._next_file()

    def _next_file(self) -> None:
        """Before each file: past `MAX_KEPT_LAYOUTS` layouts (a search whose trials each
        have their own epoch tag), forget them all, so the tables the sweep
        searches stay short; the common ones are learned again from one record."""
        if self.compiled and (self._sweeper is None or len(self._layouts) > MAX_KEPT_LAYOUTS):
            self._sweeper = scalar_kernels.Sweeper(MAX_LAYOUT_BYTES, self._budget)
            self._layouts, self._slots, self._slot_keys = [], {}, []

    def read_buffer(self, buf: Contents, name: str) -> FileScalars:
        """The scalar-shaped values and plugin metadata of one event file's bytes
        (`name`: its path or URL, for warnings)."""
        self._next_file()
        out = FileScalars()
        if not self.compiled and len(buf) < SMALL_FILE_BYTES:
            # A few hundred records (a search's trial, an eval run): finding
            # layouts would cost more than parsing every record with protobuf.
            starts, lengths = records.record_spans(buf, name=name)
            _read_slow(buf, starts, lengths, np.arange(len(starts)), out, self.want_tag)
            return _warned(out, name)
        if self.compiled:
            heads, lengths, end = scalar_kernels.walk(
                np.frombuffer(buf, dtype=np.uint8), records.MAX_RECORD_BYTES
            )
        else:
            heads, lengths, end = records.walk_records(buf)
        try:
            if self.compiled:
                self._read_swept(buf, heads, lengths, out)
            else:
                out = _read_records(buf, heads, lengths, self.want_tag)
        except _Damaged:
            starts, lengths = records.record_spans(buf, name=name)
            return _warned(_read_records(buf, starts - records.HEADER_SIZE, lengths, self.want_tag), name)
        if end < len(buf):
            self._read_tail(buf, end, len(heads), name, out)
            out.others = None
        return _warned(out, name)

    def read_path(self, path: str) -> FileScalars | None:
        """`read_buffer` of a local file (None if it is gone), a segment at a time
        on the compiled path: memory is a segment, not the file, and a file
        cut short meanwhile reads as a torn one."""
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below, on every path
        except FileNotFoundError:
            return None
        with f:
            return self.read_stream(f, path)

    def read_stream(self, f: io.RawIOBase | io.BufferedIOBase, name: str) -> FileScalars:
        """`read_path` of an open local file (`name`: its path, for warnings)."""
        if not self.compiled or os.fstat(f.fileno()).st_size < SEGMENT_BYTES:
            return self.read_buffer(f.read(), name)
        self._next_file()
        try:
            return self._read_segments(f, name)
        except _Damaged:
            f.seek(0)
            return self.read_buffer(f.read(), name)  # the record-by-record reader, from the start

    def _read_segments(self, f: io.RawIOBase | io.BufferedIOBase, name: str) -> FileScalars:
        """The compiled path over a file read a segment at a time, carrying each
        segment's last, incomplete record over to the next. Raises `_Damaged` on
        any damage before the file's end (the caller reads the file whole)."""
        out = FileScalars()
        if len(self._buffer) < SEGMENT_BYTES:
            self._buffer = bytearray(SEGMENT_BYTES)
        buffer = self._buffer
        offset = filled = done = 0  # the file offset of buffer[0]; bytes in it; records read
        while True:
            at_end = False
            while filled < len(buffer):
                n = f.readinto(memoryview(buffer)[filled:])
                if not n:
                    at_end = True
                    break
                filled += n
            # Read-only, as a whole file's bytes are: one compiled variant of the loops.
            held = memoryview(buffer).toreadonly()[:filled]
            view = np.frombuffer(held, dtype=np.uint8)
            heads, lengths, end = scalar_kernels.walk(view, records.MAX_RECORD_BYTES)
            if len(heads):
                self._read_swept(held, heads, lengths, out, done, view)
                done += len(heads)
            del view
            held.release()
            if at_end:
                if end < filled:
                    self._read_tail(bytes(buffer[end:filled]), 0, done, name, out, at=offset + end)
                out.others = None  # (offsets in the last segment, not the file)
                return _warned(out, name)
            if filled - end >= records.HEADER_SIZE:
                # The walk stopped at a record this segment does not hold whole:
                # a longer segment for a valid header, the whole file for damage.
                length = records.header_length(bytes(buffer[end : end + records.HEADER_SIZE]), 0)
                if length is None:
                    raise _Damaged
                needed = records.HEADER_SIZE + length + records.FOOTER_SIZE
                if needed > len(buffer):
                    buffer = self._buffer = buffer[end:filled] + bytearray(needed - (filled - end))
                    offset, filled = offset + end, filled - end
                    continue
            buffer[: filled - end] = buffer[end:filled]
            offset, filled = offset + end, filled - end

    def _read_tail(
        self, buf: Contents, end: int, done: int, name: str, out: FileScalars, at: int = 0
    ) -> None:
        """The records after `end`, where the chain of lengths broke (a torn or
        damaged tail), record by record; `done` records came before them."""
        starts, tail_lengths = records.spans_from(buf, end, name=name, at=at)
        tail = _read_records(buf, starts - records.HEADER_SIZE, tail_lengths, self.want_tag)
        for rows in tail.rows:
            rows.record = rows.record + done
        out.rows.extend(tail.rows)
        out.plugins.extend((record + done, tag, plugin) for record, tag, plugin in tail.plugins)
        out.unreadable += tail.unreadable

    def _learn(
        self, buf: Segment, view: np.ndarray, heads: np.ndarray, lengths: np.ndarray, index: int
    ) -> scalar_kernels.Spec | None:
        head, length = int(heads[index]), int(lengths[index])
        frame = records.HEADER_SIZE + records.FOOTER_SIZE
        width = -(-(length + frame) // 8) * 8
        layout = _layout(bytes(buf[head : head + length + frame]), length, width)
        if layout is None or layout.value_dtype.str not in scalar_kernels.VALUE_KINDS:
            return None
        _check_template(buf, head, length)
        wanted = self.want_tag is None or self.want_tag(layout.tag)
        template = np.zeros(width, dtype=np.uint8)
        template[: length + frame] = view[head : head + length + frame]
        self._layouts.append(layout)
        return scalar_kernels.Spec(
            length=length,
            template=template,
            compared=layout.compared,
            crc=layout.crc,
            wall_at=-1 if layout.wall_at is None else layout.wall_at,
            step_at=-1 if layout.step_at is None else layout.step_at,
            step_len=layout.step_len,
            value_at=layout.value_at,
            value_dtype=layout.value_dtype,
            value_len=layout.value_len,
            slot=self._slot_of((layout.tag, layout.tensor)) if wanted else -1,
        )

    def _slot_of(self, key: tuple[str, bool]) -> int:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = len(self._slot_keys)
            self._slot_keys.append(key)
        return slot

    def _read_swept(
        self,
        buf: Segment,
        heads: np.ndarray,
        lengths: np.ndarray,
        out: FileScalars,
        base: int = 0,
        view: np.ndarray | None = None,
    ) -> None:
        """The records at `heads` (data `lengths` long) with the compiled sweep
        (`scalar_kernels.Sweeper`): one pass over the records in file order
        matches each with the layouts learned so far (learning one from a
        record that fits none) and checks its CRCs, a second decodes the rows
        straight into one array per tag; record numbers start at `base`.

        Raises `_Damaged` when any record fails its checks.
        """
        assert self._sweeper is not None  # (compiled)
        if view is None:
            view = np.frombuffer(buf, dtype=np.uint8)
        try:
            matched = self._sweeper.sweep(
                view, heads, lengths, lambda index: self._learn(buf, view, heads, lengths, index)
            )
        except scalar_kernels.Damaged:
            raise _Damaged from None
        bounds, step, wall, value, record, first = self._sweeper.gather(
            view, heads, matched, len(self._slots), base
        )
        for slot in np.flatnonzero(np.diff(bounds)).tolist():
            tag, tensor = self._slot_keys[slot]
            a, b = int(bounds[slot]), int(bounds[slot + 1])
            out.rows.append(Rows(tag, tensor, record[a:b], step[a:b], wall[a:b], value[a:b]))
        out.plugins.extend(
            (at, layout.tag, layout.plugin)
            for layout, at in zip(self._layouts, first.tolist(), strict=True)
            if layout.plugin and at >= 0
        )
        slow = np.flatnonzero(matched < 0)
        out.others = (heads[slow] + records.HEADER_SIZE, lengths[slow])
        if len(slow):
            if not records.check_records(buf, heads[slow], lengths[slow]).all():
                raise _Damaged
            _read_slow(buf, heads, lengths, slow, out, self.want_tag, at=records.HEADER_SIZE, base=base)


def _warned(out: FileScalars, name: str) -> FileScalars:
    """`out`, after one warning for the records of its file protobuf could not parse."""
    if out.unreadable:
        warnings.warn(
            f"{os.fspath(name)}: {out.unreadable} unreadable record(s) skipped",
            records.CorruptRecordWarning,
            stacklevel=3,
        )
    return out


# Records of one length are decoded this many at a time, bounding the memory
# of their row copies.
_CHUNK = 1 << 16


def _read_records(
    buf: Contents,
    heads: np.ndarray,
    lengths: np.ndarray,
    want_tag: Callable[[str], bool] | None,
) -> FileScalars:
    """The records at `heads` (offsets of whole records, data `lengths` long), decoded
    with numpy, length group by length group.

    Raises `_Damaged` when any record fails its checks.
    """
    out = FileScalars()
    if not len(heads):
        return out
    # Every record of one length is a row of a zero-copy window view, so
    # gathering a length group copies its bytes once, with no index matrix;
    # rows are a multiple of 8 bytes wide. A record whose padded row would
    # run past the end of the buffer is left to protobuf.
    view = np.frombuffer(buf, dtype=np.uint8)
    frame = records.HEADER_SIZE + records.FOOTER_SIZE
    # (A row is at most 7 bytes of padding past its record.)
    bulk = (lengths <= MAX_LAYOUT_BYTES) & (heads + lengths <= len(buf) - frame - 7)
    slow: list[np.ndarray] = [np.flatnonzero(~bulk)]
    # Sorting 16-bit keys is a radix sort (lengths are at most MAX_LAYOUT_BYTES here).
    keys = np.where(bulk, lengths, MAX_LAYOUT_BYTES + 1).astype(np.uint16)
    del bulk
    by_length = np.argsort(keys, kind="stable")
    keys = keys[by_length]
    cuts = np.flatnonzero(np.diff(keys)) + 1
    windows: dict[int, np.ndarray] = {}
    firsts = [0, *cuts.tolist()]
    for first_of_group, group in zip(firsts, np.split(by_length, cuts), strict=True):
        length = int(keys[first_of_group]) if len(group) else MAX_LAYOUT_BYTES + 1
        if length > MAX_LAYOUT_BYTES:
            continue  # none, or the records already listed for the slow path
        width = -(-(length + frame) // 8) * 8
        if width not in windows:
            windows[width] = records.windows(view, width)
        for first in range(0, len(group), _CHUNK):
            part = group[first : first + _CHUNK]
            _match_layouts(buf, windows[width][heads[part]], length, part, heads, out, slow, want_tag)
    indices = np.sort(np.concatenate(slow))
    if len(indices):
        if not records.check_records(buf, heads[indices], lengths[indices]).all():
            raise _Damaged
        _read_slow(buf, heads, lengths, indices, out, want_tag, at=records.HEADER_SIZE)
    return out


# Odd 64-bit multipliers for hashing a row's compared bytes (any fixed odd
# numbers do: a collision only costs an exact check that fails).
_ROW_HASH = np.random.default_rng(0x5CA1A5).integers(
    1, 2**63, size=MAX_LAYOUT_BYTES // 8 + 1, dtype=np.uint64
)
_ROW_HASH |= np.uint64(1)


def _match_layouts(
    buf: Contents,
    rows: np.ndarray,
    length: int,
    group: np.ndarray,
    heads: np.ndarray,
    out: FileScalars,
    slow: list[np.ndarray],
    want_tag: Callable[[str], bool] | None,
) -> None:
    """Decodes the records of one length (`rows`, record indices `group`) layout by layout.

    Most records of one length are usually one tag's, decoded in one pass.
    When they are not (`layer_01/norm`, `layer_02/norm`, ...: one structure,
    many tags), every remaining row is hashed on the bytes the first
    record's layout compares, and each set of equal hashes is checked
    exactly against its own first row, so many tags cost one pass rather
    than one pass each. A layout's template record has its CRCs checked
    on its own; the rows it matches, in bulk.
    """
    remaining = np.arange(len(group))
    misses = 0
    templates: set[int] = set()

    def layout_of(i: int) -> _Layout | None:
        row = rows[i][: records.HEADER_SIZE + length + records.FOOTER_SIZE].tobytes()
        found = _layout(row, length, rows.shape[1])
        if found is not None and i not in templates:
            _check_template(buf, int(heads[group[i]]), length)
            templates.add(i)
        return found

    while len(remaining):
        first = int(remaining[0])
        layout = layout_of(first)
        if layout is None:
            misses += 1
            if misses >= MAX_MISSES_PER_LENGTH:
                slow.append(group[remaining])
                return
            slow.append(group[first : first + 1])
            remaining = remaining[1:]
            continue
        candidates = rows[remaining] if len(remaining) < len(rows) else rows
        match = _fits(layout, rows[first], candidates)
        if match.mean() >= 0.5:
            # Mostly one tag (the usual case): decode its rows, go on with the rest.
            matched = remaining[match]
            _add(out, layout, group[matched], rows[matched], want_tag)
            remaining = remaining[~match]
            continue
        words = candidates.view("<u8") & layout.compared.view("<u8")
        keys = (words * _ROW_HASH[: words.shape[1]]).sum(axis=1)
        order = np.argsort(keys, kind="stable")
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(keys[order])) + 1, [len(order)]))
        # A lone row is most often one of another structure, whose bytes this
        # layout's mask does not line up: a later round (with a template of
        # its own) takes it. The set holding the first row is always taken.
        sets = np.flatnonzero((np.diff(bounds) > 1) | (order[bounds[:-1]] == 0))
        decided = np.zeros(len(remaining), dtype=bool)
        for i in sets.tolist():
            members = order[bounds[i] : bounds[i + 1]]
            head = int(members[0])  # stable: the earliest record of its set
            own = layout if head == 0 else layout_of(int(remaining[head]))
            if own is None or not np.array_equal(own.compared, layout.compared):
                continue  # another structure: a later round
            fits = _fits(own, candidates[head], candidates[members])
            matched = members[fits]
            decided[matched] = True
            _add(out, own, group[remaining[matched]], candidates[matched], want_tag)
        remaining = remaining[~decided]


def _check_template(buf: Segment, head: int, length: int) -> None:
    """The CRCs of a layout's template record, which bulk checks compare the others with."""
    data = bytes(buf[head + records.HEADER_SIZE : head + records.HEADER_SIZE + length + records.FOOTER_SIZE])
    if records.header_length(buf, head) != length or records.masked_crc32c(data[:-4]) != int.from_bytes(
        data[-4:], "little"
    ):
        raise _Damaged


def _append(
    out: FileScalars,
    layout: _Layout,
    records_of: np.ndarray,
    step: np.ndarray,
    wall: np.ndarray,
    value: np.ndarray,
    want_tag: Callable[[str], bool] | None,
) -> None:
    if layout.plugin:
        out.plugins.append((int(records_of[0]), layout.tag, layout.plugin))
    if want_tag is None or want_tag(layout.tag):
        out.rows.append(Rows(layout.tag, layout.tensor, records_of, step, wall, value))


def _add(
    out: FileScalars,
    layout: _Layout,
    records_of: np.ndarray,
    rows: np.ndarray,
    want_tag: Callable[[str], bool] | None,
) -> None:
    """The decoded `rows` (record indices `records_of`, in file order) of one layout."""
    if not _crcs_ok(layout, rows):
        raise _Damaged
    if want_tag is None or want_tag(layout.tag):
        _append(out, layout, records_of, *_decode(layout, rows), want_tag)
    elif layout.plugin:
        out.plugins.append((int(records_of[0]), layout.tag, layout.plugin))


def _read_slow(
    buf: Segment,
    starts: np.ndarray,
    lengths: np.ndarray,
    indices: np.ndarray,
    out: FileScalars,
    want_tag: Callable[[str], bool] | None,
    at: int = 0,
    base: int = 0,
) -> None:
    """Protobuf, record by record, for the records no layout fits (their data starts
    `at` bytes after `starts`; record numbers start at `base`); the records it
    cannot parse are counted in `out.unreadable`."""
    found: dict[tuple[str, bool], tuple[list, list, list, list]] = {}
    bad = 0
    parse = event_pb2.Event.FromString
    spans = zip(
        (indices + base).tolist(), (starts[indices] + at).tolist(), lengths[indices].tolist(), strict=True
    )
    for index, start, length in spans:
        try:
            event = parse(buf[start : start + length])
        except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
            bad += 1
            continue
        if not event.HasField("summary"):
            continue
        for value in event.summary.value:
            if value.HasField("metadata"):
                plugin = value.metadata.plugin_data.plugin_name
                if plugin:
                    out.plugins.append((index, value.tag, plugin))
            which = value.WhichOneof("value")
            if which not in ("simple_value", "tensor") or (want_tag is not None and not want_tag(value.tag)):
                continue
            number = value.simple_value if which == "simple_value" else scalar_value(value)
            if number is None:
                continue
            lists = found.setdefault((value.tag, which == "tensor"), ([], [], [], []))
            lists[0].append(index)
            lists[1].append(event.step)
            lists[2].append(event.wall_time)
            lists[3].append(number)
    for (tag, tensor), (index, step, wall, value) in found.items():
        out.rows.append(
            Rows(
                tag,
                tensor,
                np.array(index, dtype=np.int64),
                np.array(step, dtype=np.int64),
                np.array(wall, dtype=np.float64),
                np.array(value, dtype=np.float64),
            )
        )
    out.unreadable += bad
