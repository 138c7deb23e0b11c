"""On JAX and torch the package works, and imports no TensorFlow, where TensorFlow is not installed.

tests/test_backends.py runs this file in the JAX and torch environments
(scripts/backend_env.sh), which have no TensorFlow at all: a fit with every
writing option, the drop-ins and a user's event, the reader, the CLI, the
plugin's loader (in this process and in a real `tensorboard` on both loaders).
Where TensorFlow is installed, as in the main suite's venv, it skips.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

import keras
import keras_helpers as kh
import numpy as np
import pytest

from tb_callbacks_plugin import callbacks

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is not None,
    reason="TensorFlow is installed here (tests/test_backends.py runs this file where it is not)",
)
STEPS = 5


class Milestone(callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            self.log_event("milestone", "second epoch", loss=logs["loss"])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    assert keras.backend.backend() in ("jax", "torch")
    tmp = tmp_path_factory.mktemp("fit")
    logdir = str(tmp / "logs")
    kh.seed(0)
    model = kh.classifier(lr=0.01)
    cbs = [
        callbacks.TensorBoard(logdir, histogram_freq=1, write_images=True, update_freq="batch"),
        callbacks.ReduceLROnPlateau(monitor="loss", min_delta=100, patience=1, factor=0.5),
        callbacks.EarlyStopping(monitor="loss", min_delta=100, patience=2, restore_best_weights=True),
        callbacks.ModelCheckpoint(str(tmp / "best.weights.h5"), save_weights_only=True),
        Milestone(),
    ]
    kh.fit(model, cbs, epochs=6)
    return logdir, model


def test_fit_wrote_every_kind_without_tensorflow(fitted):
    logdir, _ = fitted
    assert [(e.kind, e.step, e.epoch) for e in kh.events(logdir) if e.kind != "checkpoint_saved"] == [
        ("train_begin", 0, 0),
        ("lr_change", 2 * STEPS, 1),
        ("milestone", 2 * STEPS, 1),
        ("lr_change", 3 * STEPS, 2),
        ("early_stop", 3 * STEPS, 2),
        ("weights_restored", 3 * STEPS, 2),
        ("train_end", 3 * STEPS, 2),
    ]
    assert len(kh.events(logdir, "checkpoint_saved")) == 3
    assert "tensorflow" not in sys.modules


def test_histograms_and_images_are_the_weights(fitted):
    from tensorboard.util import tensor_util

    logdir, model = fitted
    acc = kh.accumulate(os.path.join(logdir, "train"))
    tags = set(acc.Tags()["tensors"])
    kernel = "sequential/dense/kernel"
    assert {f"{kernel}/histogram", f"{kernel}/image", "batch_loss", "epoch_loss", "keras"} <= tags
    histograms = acc.Tensors(f"{kernel}/histogram")
    assert [e.step for e in histograms] == [0, 1, 2]  # one per epoch, as Keras writes them
    # The last one is of the weights at the end of epoch 2, before the restore
    # of epoch 0's weights: its bucket counts add up to the kernel's size.
    buckets = tensor_util.make_ndarray(histograms[-1].tensor_proto)
    assert buckets.shape == (30, 3) and buckets[:, 2].sum() == model.layers[0].kernel.shape[0] * 8
    assert "tensorflow" not in sys.modules


def test_reader_and_cli_without_tensorflow(fitted, capsys):
    from tb_callbacks_plugin import read_events
    from tb_callbacks_plugin.cli import main as cli

    logdir, _ = fitted
    assert {e.run for e in read_events(logdir)} == {"train"}
    assert cli.main(["events", logdir, "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["kind"] for r in rows][0] == "train_begin" and len(rows) == 10
    assert cli.main(["summary", logdir]) == 0
    assert "early_stop at epoch 3" in capsys.readouterr().out
    assert "tensorflow" not in sys.modules


def test_plugin_loader_serves_without_tensorflow(fitted):
    from importlib.metadata import entry_points

    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_ingester, data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from werkzeug.test import Client

    logdir, _ = fitted
    (entry,) = [e for e in entry_points(group="tensorboard_plugins") if e.name == "callback_events"]
    loader = entry.load()()
    flags = argparse.Namespace(samples_per_plugin={})
    loader.fix_flags(flags)
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE, tensor_size_guidance=flags.samples_per_plugin
    )
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
    context = base_plugin.TBContext(
        data_provider=provider, logdir=logdir, sampling_hints=flags.samples_per_plugin, flags=flags
    )
    plugin = loader.load(context)
    client = Client(application.TensorBoardWSGI([plugin], data_provider=provider))
    response = client.get("/data/plugin/callback_events/events?run=train")
    assert response.status_code == 200
    kinds = [e["kind"] for e in json.loads(response.get_data())["events"]]
    assert kinds[0] == "train_begin" and kinds[-1] == "train_end" and "milestone" in kinds
    assert "tensorflow" not in sys.modules


@pytest.mark.timeout(180)
@pytest.mark.parametrize("load_fast", [True, False])
def test_tensorboard_serves_the_tab_without_tensorflow(fitted, load_fast):
    from tb_server import tensorboard

    logdir, _ = fitted
    with tensorboard(logdir, load_fast=load_fast) as server:
        runs = server.wait_for(lambda: server.plugin_json("runs")["runs"], timeout=90)
        assert [r["run"] for r in runs] == ["train"] and runs[0]["kinds"]["early_stop"] == 1
        scalars = server.wait_for(
            lambda: server.get_json("/data/plugin/scalars/scalars?run=validation&tag=epoch_loss"), timeout=60
        )
        assert [row[1] for row in scalars] == [0, 1, 2]
        assert np.isfinite([row[2] for row in scalars]).all()
