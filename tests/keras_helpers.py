"""Small real models and data for the callback tests (scikit-learn's digits)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

# Data and models stay tiny: these tests run real fits on 2 shared cores.
N_SAMPLES = 384
BATCH = 64  # 384 * 0.75 / 64 -> 5 steps per epoch with validation_split=0.25


@functools.lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x[:N_SAMPLES] / 16.0).astype("float32"), y[:N_SAMPLES].astype("int32")


def seed(value: int = 0) -> None:
    """Seeds Python, numpy and Keras. keras.utils.set_random_seed imports
    TensorFlow whenever it is installed, so off TensorFlow only Python's and
    numpy's generators (which Keras draws its default seeds from) are seeded."""
    import random

    import keras

    keras.backend.clear_session()  # also restarts layer names: sequential, dense, ...
    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(value)
    else:
        random.seed(value)
        np.random.seed(value)


def classifier(lr: float = 0.01, optimizer: str = "adam", hidden: int = 8) -> Any:
    import keras

    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    opt = keras.optimizers.Adam(lr) if optimizer == "adam" else keras.optimizers.SGD(lr)
    model.compile(opt, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def diverging_regressor(lr: float = 1e6) -> Any:
    """A linear regression with a learning rate that sends the loss to inf/NaN in a few steps."""
    import keras

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(lr), "mse")
    return model


def fit(model: Any, callbacks: list, epochs: int = 6, **kwargs: Any) -> Any:
    x, y = digits()
    if model.loss == "mse":
        y = y.astype("float32") * 100.0
    kwargs.setdefault("validation_split", 0.25)
    kwargs.setdefault("batch_size", BATCH)
    kwargs.setdefault("shuffle", False)
    return model.fit(x, y, epochs=epochs, verbose=0, callbacks=callbacks, **kwargs)


def events(logdir: str, kind: str | None = None, run: str = "train") -> list:
    from tb_callbacks_plugin import read_events

    return [e for e in read_events(logdir) if e.run == run and (kind is None or e.kind == kind)]


def kinds(logdir: str, run: str = "train") -> list[str]:
    return [e.kind for e in events(logdir, run=run)]


def accumulate(run_dir: str) -> Any:
    """TensorBoard's own EventAccumulator over one run, keeping everything."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(run_dir, size_guidance={"tensors": 0, "scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


def scalar_series(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] of every scalar-plugin tensor in a run."""
    from tensorboard.util import tensor_util

    acc = accumulate(run_dir)
    out = {}
    for tag in acc.Tags()["tensors"]:
        metadata = acc.SummaryMetadata(tag)
        if metadata.plugin_data.plugin_name != "scalars":
            continue
        out[tag] = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
    return out
