"""Metric scalars read straight from event files, for the CLI's plot and summary.

Keras (through `tf.summary.scalar`) writes each metric as a tensor summary
with the `scalars` plugin's metadata: a 0-d float tensor in `tensor_content`.
Older writers (tf.compat.v1, tensorboardX, PyTorch) use `simple_value`. Both
are read here without TensorFlow and without TensorBoard's sampling.

Keras writes `epoch_*` tags at step = epoch (`conventions.is_epoch_tag`);
`callbacks.TensorBoard` also writes `callback_events/epochs/*` records (the
global step at which each epoch ended), which `RunMetrics.epoch_steps`
returns so that epoch-indexed metrics can be drawn on the same step axis as
the events.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, types_pb2

from tb_callbacks_plugin import event_format, metadata
from tb_callbacks_plugin.eventfiles import records, storage

if TYPE_CHECKING:
    from tb_callbacks_plugin.eventfiles.scalar_layout import FileScalars, Rows

SCALARS_PLUGIN = "scalars"  # tensorboard.plugins.scalar.metadata.PLUGIN_NAME
_F32 = struct.Struct("<f")

_NUMPY_DTYPES = {
    types_pb2.DT_FLOAT: np.float32,
    types_pb2.DT_DOUBLE: np.float64,
    types_pb2.DT_HALF: np.float16,
    types_pb2.DT_INT32: np.int32,
    types_pb2.DT_INT64: np.int64,
    types_pb2.DT_INT16: np.int16,
    types_pb2.DT_INT8: np.int8,
    types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_BOOL: np.bool_,
}


@dataclass
class Series:
    """One scalar tag of one run, sorted by step; a repeated step keeps the last value."""

    steps: list[int]
    values: list[float]


@dataclass
class RunMetrics:
    """The scalars of one run and, when recorded, where each epoch ended.

    Attributes:
      scalars: tag -> `Series`.
      epoch_steps: epoch (0-based) -> the global step at which it ended.
      points: tag -> every (step, wall_time, value) as written, in file
        order; with several fits in one log_dir `scalars` and `epoch_steps`
        mix them up (a later fit's epoch 0 replaces the first's), these
        keep them apart (see `fits.split_points`).
      epoch_records: every (epoch, step, wall_time) epoch end, in file order.
      point_files, epoch_files: the event file of each of `points[tag]` and
        of each of `epoch_records` (a fit is one writer's file: `fits.FitRule`).
      begins: (event file, wall time) of each `train_begin` event.
    """

    run: str
    scalars: dict[str, Series] = field(default_factory=dict)
    epoch_steps: dict[int, int] = field(default_factory=dict)
    points: dict[str, list[tuple[int, float, float]]] = field(default_factory=dict)
    epoch_records: list[tuple[int, int, float]] = field(default_factory=list)
    point_files: dict[str, list[str]] = field(default_factory=dict)
    epoch_files: list[str] = field(default_factory=list)
    begins: list[tuple[str, float]] = field(default_factory=list)
    # tag -> the plugin of the first metadata the run carries for it (`add_scalars`)
    plugins: dict[str, str] = field(default_factory=dict)


def scalar_value(value: summary_pb2.Summary.Value) -> float | None:
    """The number held by a `Summary.Value` that is a scalar, else None."""
    which = value.WhichOneof("value")
    if which == "simple_value":
        return float(value.simple_value)
    if which != "tensor":
        return None
    tensor = value.tensor
    content = tensor.tensor_content
    if tensor.dtype == types_pb2.DT_FLOAT and len(content) == 4 and not tensor.tensor_shape.dim:
        return float(_F32.unpack(content)[0])  # the usual case (tf.summary.scalar), without the search below
    if tensor.tensor_shape.dim and math.prod(d.size for d in tensor.tensor_shape.dim) != 1:
        return None
    dtype = _NUMPY_DTYPES.get(tensor.dtype)
    if dtype is None:
        return None
    if tensor.tensor_content:
        array: np.ndarray = np.frombuffer(tensor.tensor_content, dtype=dtype)
        return float(array[0]) if array.size == 1 else None
    for name in ("float_val", "double_val", "int_val", "int64_val", "bool_val"):
        items = getattr(tensor, name)
        if len(items) == 1:
            return float(items[0])
    if len(tensor.half_val) == 1:  # float16 bit patterns stored as ints
        return float(np.array([tensor.half_val[0]], dtype=np.uint16).view(np.float16)[0])
    return None


def add_file(into: RunMetrics, path: str | os.PathLike) -> None:
    """Adds the scalars and epoch ends of one event file (a path or URL) to `into`; files in name order."""
    buf = storage.read_bytes(path)
    name = os.fspath(path)
    tag_kind: dict[str, str] = {}  # tag -> "scalar" | "epochs" | "events" | "other"
    # TF 2 repeats a tag's metadata on every record: classified once per distinct metadata.
    kind_of_metadata: dict[tuple[bytes, bool], str] = {}
    points: dict[str, dict[int, float]] = {}
    for data in records.iter_records(buf, name=name):
        try:
            event = event_pb2.Event.FromString(data)
        except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
            continue  # damage is reported once by the events reader
        if not event.HasField("summary"):
            continue
        for value in event.summary.value:
            kind = tag_kind.get(value.tag)
            plugin = value.metadata.plugin_data.plugin_name if value.HasField("metadata") else ""
            if plugin or kind is None:
                key = (value.metadata.SerializeToString(), value.WhichOneof("value") == "simple_value")
                kind = kind_of_metadata.get(key)
                if kind is None:
                    kind = kind_of_metadata[key] = _classify(value, plugin)
                tag_kind[value.tag] = kind
            if kind == "scalar":
                number = scalar_value(value)
                if number is not None:
                    points.setdefault(value.tag, {})[int(event.step)] = number
                    into.points.setdefault(value.tag, []).append((int(event.step), event.wall_time, number))
                    into.point_files.setdefault(value.tag, []).append(name)
            elif kind == "epochs":
                epoch = scalar_value(value)
                if epoch is not None and math.isfinite(epoch):
                    into.epoch_steps[int(epoch)] = int(event.step)
                    into.epoch_records.append((int(epoch), int(event.step), event.wall_time))
                    into.epoch_files.append(name)
            elif kind == "events":
                begun = [raw for raw in value.tensor.string_val if b"train_begin" in raw]
                for found in event_format.decode_elements(into.run, int(event.step), begun)[0]:
                    if found.kind == "train_begin":
                        into.begins.append((name, found.wall_time))
    for tag, by_step in points.items():
        if tag in into.scalars:  # a later file of the same run continues the series
            old = into.scalars[tag]
            by_step = {**dict(zip(old.steps, old.values, strict=True)), **by_step}
        steps = sorted(by_step)
        into.scalars[tag] = Series(steps=steps, values=[by_step[s] for s in steps])


def add_scalars(
    into: RunMetrics, found: FileScalars, name: str, begins: Iterable[event_format.Event] = ()
) -> None:
    """`add_file` from what the bulk reader decoded of one file (`scalar_layout.read_file`),
    without a protobuf parse per record; files in name order.

    A tensor tag is a scalar when the first metadata its run carries for it
    names the scalars plugin (as TensorBoard decides), and epoch ends are
    this plugin's `epochs` tags. `begins` are the file's events (its
    `train_begin`s are kept).
    """
    for _, tag, plugin in sorted(found.plugins):
        into.plugins.setdefault(tag, plugin)
    chunks: dict[tuple[str, bool], list[Rows]] = {}
    for rows in found.rows:
        chunks.setdefault((rows.tag, rows.tensor), []).append(rows)
    # Tags in the order of their first record, as `add_file` meets them.
    for (tag, tensor), parts in sorted(chunks.items(), key=lambda kv: min(int(r.record[0]) for r in kv[1])):
        plugin = into.plugins.get(tag, "")
        epochs = tensor and plugin == metadata.PLUGIN_NAME and tag.startswith(event_format.EPOCHS_TAG_PREFIX)
        if tensor and plugin != SCALARS_PLUGIN and not epochs:
            continue
        order = np.argsort(np.concatenate([r.record for r in parts]), kind="stable")
        columns = [np.concatenate([getattr(r, c) for r in parts])[order].tolist() for c in _COLUMNS]
        if epochs:
            for epoch, step, wall in zip(columns[2], columns[0], columns[1], strict=True):
                if math.isfinite(epoch):
                    into.epoch_steps[int(epoch)] = step
                    into.epoch_records.append((int(epoch), step, wall))
                    into.epoch_files.append(name)
            continue
        into.points.setdefault(tag, []).extend(zip(*columns, strict=True))
        into.point_files.setdefault(tag, []).extend([name] * len(columns[0]))
        old = into.scalars.get(tag)  # a later file of the same run continues the series
        by_step = dict(zip(old.steps, old.values, strict=True)) if old else {}
        by_step.update(zip(columns[0], columns[2], strict=True))
        steps = sorted(by_step)
        into.scalars[tag] = Series(steps=steps, values=[by_step[s] for s in steps])
    into.begins.extend((name, e.wall_time) for e in begins if e.kind == "train_begin")


_COLUMNS = ("step", "wall_time", "value")


def _classify(value: summary_pb2.Summary.Value, plugin: str) -> str:
    if plugin == SCALARS_PLUGIN or value.WhichOneof("value") == "simple_value":
        return "scalar"
    if plugin == metadata.PLUGIN_NAME:
        try:
            _, role = metadata.parse_plugin_content(value.metadata.plugin_data.content)
        except ValueError:
            return "other"
        return {metadata.ROLE_EPOCHS: "epochs", metadata.ROLE_EVENTS: "events"}.get(role, "other")
    return "other"


def read_run_metrics(run: str, paths: Iterable[str | os.PathLike]) -> RunMetrics:
    """Scalars and epoch ends of one run, from its event files in name order.

    Example:

    ```python
    from tb_callbacks_plugin.eventfiles.event_reader import find_runs
    runs = find_runs("logs")
    metrics = read_run_metrics("baseline/train", runs["baseline/train"])
    loss = metrics.scalars["epoch_loss"]
    print(list(zip(loss.steps, loss.values)))
    ```
    """
    result = RunMetrics(run=run)
    for path in paths:
        add_file(result, path)
    return result
