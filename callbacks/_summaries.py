"""Summary protos of TensorBoard's own plugins, built without TensorFlow.

`tf.summary` and TensorBoard's `tensor_util` import TensorFlow when it is
installed, which on the JAX and torch backends is exactly what we must not do
(docs/architecture.md, "TensorBoard facts"). The protos below carry the same
metadata and tensor layout as what `keras.callbacks.TensorBoard` writes
through `tf.summary` (scalars as float32 scalars, histograms as float64
`[buckets, 3]`, images as `[width, height, png...]` strings, the Keras model
as a JSON string), so TensorBoard's Scalars, Histograms, Images and Graphs
tabs read them as theirs.
"""

from __future__ import annotations

import contextlib
import io
import numbers
import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.graph import metadata as graph_metadata
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata

from tb_callbacks_plugin.eventfiles import hparams as hparams_reader

# tf.summary.histogram's default.
HISTOGRAM_BUCKETS = 30
# tf.summary.image's default `max_outputs`.
MAX_IMAGES = 3

_SCALAR_METADATA = scalar_metadata.create_summary_metadata(display_name=None, description=None)
_HISTOGRAM_METADATA = histogram_metadata.create_summary_metadata(display_name=None, description=None)
_IMAGE_METADATA = image_metadata.create_summary_metadata(display_name=None, description=None)
# What Keras's keras_model_summary writes: plugin "graph_keras_model", version "1".
_KERAS_MODEL_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(
        plugin_name=graph_metadata.PLUGIN_NAME_KERAS_MODEL, content=b"1"
    )
)


def _shape(*dims: int) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
    )


_SCALAR_SHAPE = tensor_shape_pb2.TensorShapeProto()
# What TensorBoard's hparams API writes (tensorboard.plugins.hparams.metadata,
# whose tensor_util import is what we avoid): plugin "hparams", content version
# 0, and an empty float vector as the tensor.
_HPARAMS_NULL_TENSOR = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=_shape(0))


def is_scalar_value(value: object) -> bool:
    """Whether `value` can be written as a scalar (numbers, 0-d arrays)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, numbers.Real):
        return True
    shape = getattr(value, "shape", None)
    return shape is not None and len(shape) == 0 and hasattr(value, "dtype")


def scalar_value(tag: str, value: float) -> summary_pb2.Summary.Value:
    """A scalar as `tf.summary.scalar` writes it: float32, shape []."""
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=_SCALAR_SHAPE,
        tensor_content=np.float32(value).tobytes(),
    )
    return summary_pb2.Summary.Value(tag=tag, metadata=_SCALAR_METADATA, tensor=tensor)


def scalars(values: Iterable[tuple[str, float]]) -> summary_pb2.Summary:
    """One `Summary` holding several scalars of the same step."""
    return summary_pb2.Summary(value=[scalar_value(tag, v) for tag, v in values])


def histogram_buckets(data: np.ndarray, bucket_count: int = HISTOGRAM_BUCKETS) -> np.ndarray:
    """`[bucket_count, 3]` rows of (left edge, right edge, count).

    The same bucketing as TensorBoard's histogram summaries: equal-width
    buckets from min to max, the maximum counted in the last bucket; when all
    values are equal every edge is that value and the last bucket holds the
    count. Non-finite values cannot be placed on such an axis and are left
    out.
    """
    data = np.asarray(data, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    out = np.zeros((bucket_count, 3), dtype=np.float64)
    if bucket_count == 0 or data.size == 0:
        return out
    low = data.min()
    high = data.max()
    if high == low:
        out[:, 0] = out[:, 1] = low
        out[-1, 2] = data.size
        return out
    width = (high - low) / bucket_count
    index = np.minimum(((data - low) / width).astype(np.int64), bucket_count - 1)
    edges = np.linspace(low, high, bucket_count + 1)
    out[:, 0] = edges[:-1]
    out[:, 1] = edges[1:]
    out[:, 2] = np.bincount(index, minlength=bucket_count)
    return out


def histogram_value(tag: str, data: np.ndarray) -> summary_pb2.Summary.Value:
    buckets = histogram_buckets(data)
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_DOUBLE,
        tensor_shape=_shape(*buckets.shape),
        tensor_content=buckets.astype("<f8").tobytes(),
    )
    return summary_pb2.Summary.Value(tag=tag, metadata=_HISTOGRAM_METADATA, tensor=tensor)


_png_warned = False


def _encode_png(image: np.ndarray) -> bytes | None:
    """PNG bytes of a `[height, width, channels]` uint8 image, via Pillow."""
    global _png_warned
    try:
        from PIL import Image
    except ImportError:
        if not _png_warned:
            _png_warned = True
            warnings.warn(
                "callbacks.TensorBoard(write_images=True) needs Pillow to encode images "
                "(pip install pillow); images are not written",
                RuntimeWarning,
                stacklevel=3,
            )
        return None
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[image.shape[-1]]
    pixels = image[..., 0] if mode == "L" else image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def float_image_to_uint8(images: np.ndarray) -> np.ndarray:
    """What `tf.image.convert_image_dtype(x, tf.uint8, saturate=True)` does to floats in [0, 1]."""
    # NaN (a diverged weight) becomes 0 without numpy's cast warning: TF casts it silently.
    scaled = np.nan_to_num(np.asarray(images, dtype=np.float64) * 255.5, nan=0.0)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def image_value(
    tag: str, images: np.ndarray, max_outputs: int = MAX_IMAGES
) -> summary_pb2.Summary.Value | None:
    """Images `[k, height, width, channels]` (floats in [0, 1]) as `tf.summary.image` writes them."""
    images = float_image_to_uint8(images)[:max_outputs]
    encoded = []
    for image in images:
        png = _encode_png(image)
        if png is None:
            return None
        encoded.append(png)
    _, height, width, _ = images.shape
    items = [str(width).encode(), str(height).encode(), *encoded]
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING, tensor_shape=_shape(len(items)), string_val=items
    )
    return summary_pb2.Summary.Value(tag=tag, metadata=_IMAGE_METADATA, tensor=tensor)


def weight_as_images(weight: np.ndarray, channels_last: bool = True) -> np.ndarray | None:
    """A weight laid out as images the way keras.callbacks.TensorBoard does, or None.

    Biases become a 1-pixel-wide column, dense kernels one image (the long
    side vertical), 3-D kernels one image per output channel; anything that
    does not end up as `[k, h, w, 1|3|4]` is not drawable.
    """
    w = np.squeeze(np.asarray(weight))
    if w.ndim == 1:
        w = w.reshape(1, w.shape[0], 1, 1)
    elif w.ndim == 2:
        if w.shape[0] > w.shape[1]:
            w = w.T
        w = w.reshape(1, w.shape[0], w.shape[1], 1)
    elif w.ndim == 3:
        if channels_last:
            w = np.transpose(w, (2, 0, 1))
        w = w.reshape(w.shape[0], w.shape[1], w.shape[2], 1)
    if w.ndim == 4 and w.shape[-1] in (1, 3, 4):
        return w
    return None


def keras_model_value(model_json: str) -> summary_pb2.Summary.Value:
    """The conceptual Keras graph, tag "keras", as Keras's keras_model_summary writes it."""
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING, tensor_shape=_SCALAR_SHAPE, string_val=[model_json.encode("utf-8")]
    )
    return summary_pb2.Summary.Value(tag="keras", metadata=_KERAS_MODEL_METADATA, tensor=tensor)


def hparams_session_start(hparams: dict[str, Any], *, start_time_secs: float) -> summary_pb2.Summary:
    """A session's hyperparameters, as `hp.hparams(...)` writes them (`_hparams_/session_start_info`).

    Values are numbers, strings or bools; TensorBoard names the session by
    the run holding it and groups sessions without a group name one apiece.
    """
    info = plugin_data_pb2.SessionStartInfo(start_time_secs=start_time_secs)
    for name in sorted(hparams):
        value = hparams[name]
        if isinstance(value, bool):
            info.hparams[name].bool_value = value
        elif isinstance(value, str):
            info.hparams[name].string_value = value
        else:
            info.hparams[name].number_value = float(value)
    content = plugin_data_pb2.HParamsPluginData(version=0, session_start_info=info)
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=hparams_reader.HPARAMS_PLUGIN, content=content.SerializeToString()
        )
    )
    return summary_pb2.Summary(
        value=[
            summary_pb2.Summary.Value(
                tag=hparams_reader.SESSION_START_TAG, metadata=metadata, tensor=_HPARAMS_NULL_TENSOR
            )
        ]
    )


@contextlib.contextmanager
def _tensorflow_not_probed() -> Iterator[None]:
    # Keras's serializer asks `tf.available` (importing TensorFlow when it is
    # installed) to test for tf.TensorShape/DType/TypeSpec. With TensorFlow not
    # imported no object can be of those types, so answering "unavailable"
    # for the duration gives the same JSON without the import.
    if "tensorflow" in sys.modules:
        yield
        return
    try:
        from keras.src.utils.module_utils import tensorflow as lazy_tf
    except ImportError:
        yield
        return
    if getattr(lazy_tf, "_available", True) is not None:
        yield
        return
    lazy_tf._available = False
    try:
        yield
    finally:
        if lazy_tf._available is False and "tensorflow" not in sys.modules:
            lazy_tf._available = None


def model_json(model: Any) -> str:
    """`model.to_json()`, without importing TensorFlow on the JAX/torch backends."""
    with _tensorflow_not_probed():
        return model.to_json()
