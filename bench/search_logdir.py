"""A generated search: many trials, each a run as a Keras fit with this
project's callbacks would leave it (~20 callback events, epoch records and a
200-epoch `epoch_loss`), written with the project's EventWriter, no fit.

Shared by bench/search.py and the search view's browser tests. Every trial
is `trial_NNNN/train`; its hyperparameters are written as TensorBoard's
HParams plugin's `_hparams_/session_start_info` into the same run (as the
`hparams` Keras callback does for a KerasTuner trial). `baseline=True`
writes the same scalars and hyperparameters without any callback events or
epoch records: what `keras.callbacks.TensorBoard` leaves.
"""

from __future__ import annotations

import math
import os

import numpy as np
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.scalar import metadata as scalar_metadata

from tb_callbacks_plugin import EventWriter

T0 = 1_700_000_000.0
EPOCHS = 200
STEPS_PER_EPOCH = 10
TAG = "epoch_loss"
ENDINGS = ("completed", "early_stop", "nan")
_ENDING_EVENTS = {
    "completed": [],
    "early_stop": [
        ("early_stop", "stopped early", "EarlyStopping"),
        ("weights_restored", "best weights restored", "EarlyStopping"),
    ],
    "nan": [("nan_terminated", "NaN loss", "TerminateOnNaN")],
}
_META = scalar_metadata.create_summary_metadata(display_name=TAG, description="")


def _scalar(value: float) -> summary_pb2.Summary:
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        tensor_content=np.float32(value).tobytes(),
    )
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=TAG, metadata=_META, tensor=tensor)])


def trial_name(index: int) -> str:
    return f"trial_{index:04d}"


def trial_plan(index: int) -> dict:
    """What trial `index` does: its hyperparameters, how it ends and after
    how many epochs (Keras's 0-based index of its last epoch)."""
    ending = ENDINGS[index % len(ENDINGS)] if index % 7 else "completed"
    last = EPOCHS - 1 if ending == "completed" else 40 + (index * 37) % (EPOCHS - 41)
    return {
        "hparams": {"learning_rate": round(10 ** -(1 + index % 4), 6), "units": 16 * (1 + index % 5)},
        "ending": ending,
        "last_epoch": last,
        "lr_changes": [e for e in (30, 70, 110, 150) if e <= last],
        "checkpoints": [e for e in range(9, last + 1, 12)],
    }


def write_trial(root: str, index: int, *, baseline: bool = False) -> None:
    plan = trial_plan(index)
    last = plan["last_epoch"]
    rate = 0.01 + 0.002 * (index % 11)
    with EventWriter(os.path.join(root, trial_name(index), "train")) as w:
        w.write_summary(
            hparams_summary.hparams_pb(plan["hparams"], trial_id=trial_name(index)), 0, wall_time=T0
        )
        if not baseline:
            w.write("train_begin", 0, f"training started: {EPOCHS} epochs", source=None, wall_time=T0)
        rate_now = 0.001
        for epoch in range(last + 1):
            step = (epoch + 1) * STEPS_PER_EPOCH
            wall = T0 + 1 + epoch
            loss = math.exp(-rate * epoch) + 0.05
            if plan["ending"] == "nan" and epoch == last:
                loss = float("nan")
            w.write_summary(_scalar(loss), epoch, wall_time=wall)
            if baseline:
                continue
            w.write_epoch(epoch, step, wall_time=wall)
            if epoch in plan["lr_changes"]:
                w.write(
                    "lr_change",
                    step,
                    f"learning rate {rate_now:g} -> {rate_now / 2:g}",
                    epoch=epoch,
                    source="ReduceLROnPlateau",
                    wall_time=wall,
                    old=rate_now,
                    new=rate_now / 2,
                )
                rate_now /= 2
            if epoch in plan["checkpoints"]:
                w.write(
                    "checkpoint_saved",
                    step,
                    f"saved model.{epoch + 1:03d}.keras",
                    epoch=epoch,
                    source="ModelCheckpoint",
                    wall_time=wall,
                    filepath=f"model.{epoch + 1:03d}.keras",
                )
        if baseline:
            return
        step = (last + 1) * STEPS_PER_EPOCH
        wall = T0 + 2 + last
        for kind, message, source in _ENDING_EVENTS[plan["ending"]]:
            w.write(kind, step, message, epoch=last, source=source, wall_time=wall)
        w.write(
            "train_end",
            step,
            "training ended",
            source=None,
            wall_time=wall,
            reason=plan["ending"],
            epochs=EPOCHS,
            steps=STEPS_PER_EPOCH,
            last_epoch=last,
        )


def write_search(root: str, trials: int, *, baseline: bool = False) -> None:
    for index in range(trials):
        write_trial(root, index, baseline=baseline)
