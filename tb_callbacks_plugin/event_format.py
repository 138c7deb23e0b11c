"""The on-disk record of callback events.

Layout (format version 1, see `metadata`):

- Events go into the run's ordinary TensorBoard event file as `Summary`
  values whose tensor is a 1-D `DT_STRING` tensor; each element is one event
  as compact JSON `{"kind", "epoch", "wall_time", "source", "message",
  "data"}`. The record's `Event.step` is the training step (optimizer
  iterations) shared by every event in it, so generic tools (tbparse,
  `EventAccumulator`) see the real step.
- Events at the same step that are written together go into one record (a
  bundle), so one step with thousands of events costs one record.
- Tags are `callback_events/events/<writer>.<slot>`. `<writer>` is unique to
  each `EventWriter` instance and `<slot>` is chosen so that within a tag the
  steps strictly increase. This is what keeps everything through both of
  TensorBoard's loaders: the Rust data server treats a record at step s as a
  restart that deletes earlier records of the same tag with step >= s, so a
  tag must never repeat or go back in step. A second bundle at an already
  written step, or an event at an earlier step, moves to the next slot; a
  second fit into the same directory (a new writer) uses new tags. Most runs
  have one tag per writer.
- `callback_events/epochs/<writer>`: role "epochs", a scalar int64 tensor
  holding the epoch that ended at the record's step (for drawing epoch-indexed
  metrics on a step axis). Readers of events ignore it.

All values carry the plugin metadata with `DATA_CLASS_TENSOR`.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from tb_callbacks_plugin import metadata

KIND_PATTERN = re.compile(r"[a-z0-9_.-]{1,64}")
BUILTIN_KINDS = (
    "train_begin",
    "train_end",
    "lr_change",
    "early_stop",
    "nan_terminated",
    "checkpoint_saved",
    "weights_restored",
    "backup_restored",
)
# Events after which the process may well die: on disk when `write` returns.
DURABLE_KINDS = frozenset({"early_stop", "nan_terminated", "train_end"})

MAX_MESSAGE_BYTES = 4 * 1024
MAX_DATA_BYTES = 64 * 1024
MAX_DATA_DEPTH = 32
TRUNCATION_MARK = "…[truncated]"
TAG_PREFIX = metadata.PLUGIN_NAME + "/"
EVENTS_TAG_PREFIX = TAG_PREFIX + metadata.ROLE_EVENTS + "/"
EPOCHS_TAG_PREFIX = TAG_PREFIX + metadata.ROLE_EPOCHS + "/"


@dataclass(frozen=True, slots=True)
class Event:
    """One thing a callback did, as read back from an event file.

    `run` is None only for an event a `callbacks.Callback` kept in memory
    (`.events`) because its fit had no writer. `fit` is which fit of the run
    dir the event belongs to (0-based): fits are numbered by the run's
    `train_begin` times and an event is the fit's whose writer wrote its
    file (`eventfiles.fits.FitRule`). `hparams` are the hyperparameters of
    the event's experiment (of its fit) where TensorBoard HParams data names
    them (a search's trial), else None.
    """

    run: str | None
    kind: str
    step: int
    epoch: int | None
    wall_time: float
    source: str | None
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    fit: int = 0
    hparams: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tag_writer(tag: str) -> str | None:
    """The writer part of an events tag (`callback_events/events/<writer>.<slot>`), None for other tags.

    Every event a writer writes (one writer per fit and run) carries it, and
    TensorBoard's loaders both keep tags: it tells concurrent fits' events apart.
    """
    if not tag.startswith(EVENTS_TAG_PREFIX):
        return None
    writer, dot, slot = tag[len(EVENTS_TAG_PREFIX) :].rpartition(".")
    return writer if dot and writer and slot.isdigit() else None


# ---------------------------------------------------------------- validation


def check_kind(kind: Any) -> str:
    if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
        raise ValueError(f"kind must match [a-z0-9_.-]{{1,64}}, got {kind!r}")
    return kind


def check_step(name: str, value: Any) -> int:
    """`value` as a non-negative int (a step or an epoch); TypeError or ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative int, got {type(value).__name__}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value}")
    return value


def truncate_text(text: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, marked when cut."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return text
    keep = limit - len(TRUNCATION_MARK.encode())
    head = encoded[:keep].decode("utf-8", "ignore")
    return f"{head}{TRUNCATION_MARK}"


def _jsonable(value: Any, depth: int, path: str) -> Any:
    """`value` as plain JSON types; numpy scalars and arrays converted."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if depth >= MAX_DATA_DEPTH:
        return f"{TRUNCATION_MARK} nested deeper than {MAX_DATA_DEPTH} levels"
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, numbers.Integral)) or isinstance(key, bool):
                raise TypeError(f"data key {path}{key!r} must be a str")
            out[str(key)] = _jsonable(item, depth + 1, f"{path}{key}.")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, depth + 1, f"{path}{i}.") for i, item in enumerate(value)]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist) and hasattr(value, "dtype"):
        return _jsonable(tolist(), depth, path)
    raise TypeError(
        f"data[{path.rstrip('.') or '?'}] is a {type(value).__name__}, which is not JSON-representable"
    )


def normalize_data(data: dict[str, Any]) -> dict[str, Any]:
    """Validated, JSON-ready event data, truncated when too large."""
    out = _jsonable(data, 0, "")
    size = len(dumps(out))
    if size > MAX_DATA_BYTES:
        preview = dumps(out)[: MAX_DATA_BYTES // 2]
        return {
            "_truncated": f"{TRUNCATION_MARK} data was {size} bytes, over {MAX_DATA_BYTES}",
            "_preview": preview,
        }
    return out


def dumps(value: Any) -> str:
    # allow_nan keeps NaN/Infinity: a loss of NaN is a fact worth recording.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True)


def make_event_json(
    kind: str,
    message: str = "",
    *,
    epoch: int | None = None,
    source: str | None = None,
    wall_time: float | None = None,
    data: dict[str, Any] | None = None,
) -> bytes:
    """Validates one event and encodes it as a bundle element."""
    check_kind(kind)
    epoch = None if epoch is None else check_step("epoch", epoch)
    if not isinstance(message, str):
        raise TypeError(f"message must be a str, got {type(message).__name__}")
    if source is not None and not isinstance(source, str):
        raise TypeError(f"source must be a str or None, got {type(source).__name__}")
    if wall_time is None:
        wall_time = time.time()
    elif (
        isinstance(wall_time, bool) or not isinstance(wall_time, numbers.Real) or not math.isfinite(wall_time)
    ):
        raise ValueError(f"wall_time must be a finite number of seconds, got {wall_time!r}")
    record = {
        "kind": kind,
        "epoch": epoch,
        "wall_time": float(wall_time),
        "source": None if source is None else truncate_text(source, 256),
        "message": truncate_text(message),
        "data": normalize_data(data or {}),
    }
    return dumps(record).encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- summaries


def _string_tensor(items: list[bytes]) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(items))]
        ),
        string_val=items,
    )


def bundle_summary(tag: str, encoded_events: list[bytes]) -> summary_pb2.Summary:
    """A `Summary` holding one bundle of encoded events under `tag`."""
    value = summary_pb2.Summary.Value(
        tag=tag,
        metadata=metadata.create_summary_metadata(metadata.ROLE_EVENTS),
        tensor=_string_tensor(encoded_events),
    )
    return summary_pb2.Summary(value=[value])


def epoch_summary(tag: str, epoch: int) -> summary_pb2.Summary:
    value = summary_pb2.Summary.Value(
        tag=tag,
        metadata=metadata.create_summary_metadata(metadata.ROLE_EPOCHS),
        tensor=tensor_pb2.TensorProto(
            dtype=types_pb2.DT_INT64,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(),
            int64_val=[int(epoch)],
        ),
    )
    return summary_pb2.Summary(value=[value])


# ---------------------------------------------------------------- decoding


def _decode_element(raw: bytes) -> dict[str, Any] | None:
    try:
        item = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
        return None
    if not _numbers_in_range(item):
        return None
    return item


def _numbers_in_range(item: dict[str, Any]) -> bool:
    """False for an epoch outside int64 or a wall time beyond a float's range.

    JSON numbers are unbounded, so a hand-made or damaged element can hold a
    400-digit wall time (`float()` raises OverflowError) or an epoch of 2**70
    (no int64 column holds it: pandas, Parquet). Such an element is damage,
    skipped and counted like unreadable JSON, rather than a crash in every
    reader downstream.
    """
    epoch = item.get("epoch")
    if isinstance(epoch, int) and not -(2**63) <= epoch < 2**63:
        return False
    wall_time = item.get("wall_time")
    if isinstance(wall_time, int) and not isinstance(wall_time, bool):
        try:
            float(wall_time)
        except OverflowError:
            return False
    return True


def decode_bundle(run: str, step: int, tensor: tensor_pb2.TensorProto) -> tuple[list[Event], int]:
    """Events of one bundle record, and how many elements were unreadable."""
    return decode_elements(run, step, tensor.string_val)


def decode_elements(run: str, step: int, elements: Iterable[bytes]) -> tuple[list[Event], int]:
    """Like `decode_bundle`, from the bundle's elements (e.g. the items of
    the numpy array TensorBoard's data provider gives for the tensor)."""
    events = []
    bad = 0
    for raw in elements:
        item = _decode_element(raw)
        if item is None:
            bad += 1
            continue
        events.append(event_from_dict(run, step, item, within_caps=_within_data_caps(raw)))
    return events, bad


def _within_data_caps(raw: bytes) -> bool:
    """True when the element is too small to hold data over the caps: each
    byte re-encodes to at most 6 characters (a `\\uXXXX` escape), and each
    level of nesting needs a bracket. Checking bytes is far cheaper than
    walking and re-encoding the data of every event read."""
    return len(raw) * 6 <= MAX_DATA_BYTES and raw.count(b"{") + raw.count(b"[") <= MAX_DATA_DEPTH


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return False


def event_from_dict(run: str | None, step: int, item: dict[str, Any], *, within_caps: bool = False) -> Event:
    """An `Event` from a decoded element, with hostile sizes capped again
    (unless the caller knows the element is `within_caps`)."""
    data = item.get("data")
    if not isinstance(data, dict):
        data = {}
    elif (
        data and not within_caps and (_deeper_than(data, MAX_DATA_DEPTH) or len(dumps(data)) > MAX_DATA_BYTES)
    ):
        # Only a hand-made or damaged file gets here: our writer caps both.
        data = normalize_data(data)
    epoch = item.get("epoch")
    wall_time = item.get("wall_time")
    source = item.get("source")
    return Event(
        run=run,
        kind=item["kind"][:64],
        step=int(step),
        epoch=epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
        wall_time=float(wall_time) if isinstance(wall_time, (int, float)) else 0.0,
        source=truncate_text(source, 256) if isinstance(source, str) else None,
        message=truncate_text(str(item.get("message", ""))),
        data=data,
    )
