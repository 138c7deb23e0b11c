"""The op-level graph of a model's forward pass (TensorFlow backend only).

Keras 3 writes no op graph at all; tracing `model(x, training=False)` into a
`tf.function` gives the graph of the forward pass, which TensorBoard's Graphs
tab shows as the run's graph. Only called on the TensorFlow backend, where
importing TensorFlow is no cost.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from typing import Any

logger = logging.getLogger(__name__)

# The forward graph of a built model does not change between fits (variables
# enter it as reads, not values): a model fitted again is not traced again.
_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _input_specs(model: Any, tf: Any) -> Any | None:
    """TensorSpecs shaped like the model's inputs, or None when unknown."""
    try:
        inputs = model.input  # Functional and Sequential models built on Input
    except (AttributeError, ValueError):
        inputs = None
    if inputs is not None:
        # tf.nest, not keras.tree: the latter is missing before Keras 3.1.
        return tf.nest.map_structure(
            lambda t: tf.TensorSpec(t.shape, t.dtype, name=getattr(t, "name", None)), inputs
        )
    shapes = getattr(model, "_build_shapes_dict", None)
    if isinstance(shapes, dict) and len(shapes) == 1:
        (shape,) = shapes.values()
        dtype = getattr(model, "input_dtype", None) or "float32"
        try:
            return tf.TensorSpec(tuple(shape), dtype)
        except (TypeError, ValueError):
            return None
    return None


def forward_graph_def(model: Any) -> bytes | None:
    """Serialized `GraphDef` of the forward pass, or None if it cannot be traced."""
    import tensorflow as tf

    specs = _input_specs(model, tf)
    if specs is None:
        logger.info("op graph not written: the model's input shapes are unknown")
        return None
    key = repr(specs)
    try:
        cached = _cache.get(model)
    except TypeError:  # not weak-referenceable or hashable: no cache
        cached = None
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs)
        graph_def = concrete.graph.as_graph_def().SerializeToString()
    except Exception as e:  # noqa: BLE001 - an untraceable model must not stop training
        logger.warning("op graph not written: tracing the forward pass failed: %s", e)
        return None
    with contextlib.suppress(TypeError):
        _cache[model] = (key, graph_def)
    return graph_def
