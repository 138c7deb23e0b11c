"""Log directories for the plugin's tests and benchmark, written without
TensorFlow; the tests here check that TensorBoard reads them as intended."""

from __future__ import annotations

import json
import os

import numpy as np
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.scalar import metadata as scalar_metadata

from tb_callbacks_plugin import EventWriter, event_format, metadata

T0 = 1_700_000_000.0


def scalar_summary(tag: str, value: float) -> summary_pb2.Summary:
    """A scalar as Keras writes it through tf.summary: a 0-d float32 tensor
    with the scalars plugin's metadata."""
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        tensor_content=np.float32(value).tobytes(),
    )
    meta = scalar_metadata.create_summary_metadata(display_name=tag, description="")
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)])


def write_scalars(writer: EventWriter, tag: str, values, steps=None, t0: float = T0) -> None:
    steps = range(len(values)) if steps is None else steps
    for step, value in zip(steps, values, strict=True):
        writer.write_summary(scalar_summary(tag, value), step, wall_time=t0 + step)


def raw_bundle(
    writer: EventWriter, tag: str, step: int, elements: list[bytes], content: bytes | None = None
) -> None:
    """A bundle record with hand-made elements and metadata (damage, newer versions)."""
    summary = event_format.bundle_summary(tag, elements)
    if content is not None:
        summary.value[0].metadata.plugin_data.content = content
    writer.write_summary(summary, step)


def newer_version_content() -> bytes:
    return json.dumps({"version": metadata.FORMAT_VERSION + 1, "role": "events"}).encode()


def write_keras_like(run_dir: str, *, epochs: int, steps_per_epoch: int, losses=None) -> None:
    """train/validation runs as callbacks.TensorBoard writes them: epoch_*
    scalars at step = epoch, epoch-end records, and a few events."""
    losses = losses if losses is not None else [1.0 / (e + 1) for e in range(epochs)]
    with (
        EventWriter(os.path.join(run_dir, "train")) as train,
        EventWriter(os.path.join(run_dir, "validation")) as val,
    ):
        train.write(
            "train_begin", 0, "fit started", epochs=epochs, steps=epochs * steps_per_epoch, wall_time=T0
        )
        for epoch in range(epochs):
            end = (epoch + 1) * steps_per_epoch
            train.write_summary(scalar_summary("epoch_loss", losses[epoch]), epoch, wall_time=T0 + epoch)
            train.write_epoch(epoch, end)
            val.write_summary(scalar_summary("epoch_loss", losses[epoch] * 1.1), epoch, wall_time=T0 + epoch)
            val.write_summary(scalar_summary("epoch_accuracy", 0.5), epoch, wall_time=T0 + epoch)
        train.write(
            "train_end", epochs * steps_per_epoch, "fit ended", reason="completed", wall_time=T0 + epochs
        )


# ---------------------------------------------------------------- self-checks


def test_scalar_summary_is_a_tensorboard_scalar(tmp_path):
    with EventWriter(tmp_path) as w:
        write_scalars(w, "epoch_loss", [0.5, 0.25])
    acc = event_accumulator.EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    assert "epoch_loss" in acc.Tags()["tensors"]
    values = [float(tensor_util_value(e.tensor_proto)) for e in acc.Tensors("epoch_loss")]
    assert values == [0.5, 0.25]


def tensor_util_value(proto) -> float:
    return np.frombuffer(proto.tensor_content, dtype=np.float32)[0]


def test_keras_like_runs_have_events_scalars_and_epochs(tmp_path):
    write_keras_like(str(tmp_path / "exp"), epochs=3, steps_per_epoch=5)
    acc = event_accumulator.EventAccumulator(str(tmp_path / "exp" / "train"), size_guidance={"tensors": 0})
    acc.Reload()
    tags = acc.Tags()["tensors"]
    assert "epoch_loss" in tags
    assert any(t.startswith(event_format.EPOCHS_TAG_PREFIX) for t in tags)
    assert any(t.startswith(event_format.EVENTS_TAG_PREFIX) for t in tags)
