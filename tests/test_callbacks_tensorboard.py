"""callbacks.TensorBoard writes what keras.callbacks.TensorBoard writes (TensorFlow backend).

The same seeded fit runs once with Keras's callback and once with ours; the
runs are read back with TensorBoard's own EventAccumulator and served by real
`tensorboard` processes (both loaders).
"""

from __future__ import annotations

import glob
import io
import json
import math
import os

import keras
import keras_helpers as kh
import numpy as np
import pytest
from tensorboard.util import tensor_util

from tb_callbacks_plugin import callbacks

CONFIGS = {
    "default": {},
    "full": {
        "histogram_freq": 1,
        "write_images": True,
        "write_steps_per_second": True,
        "update_freq": 2,
    },
    "batch": {"update_freq": "batch", "histogram_freq": 2},
}
TIMING_TAGS = {"epoch_steps_per_second", "batch_steps_per_second"}


def _image_model():
    # A conv kernel gives per-channel images, dense kernels and biases the others.
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Reshape((8, 8, 1)),
            keras.layers.Conv2D(3, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def paired(tmp_path_factory, shared_tensorboards):
    """The `full` config's directory (published under the shared TensorBoards' root), and
    config -> (keras logdir, our logdir): the same seeded fit with each callback."""
    root = tmp_path_factory.mktemp("paired")
    out = {}
    for name, kwargs in CONFIGS.items():
        dirs = []
        for flavour, cls in (("keras", keras.callbacks.TensorBoard), ("ours", callbacks.TensorBoard)):
            logdir = str(root / name / flavour)
            kh.seed(7)
            model = _image_model() if name == "full" else kh.classifier()
            kh.fit(model, [cls(logdir, **kwargs)], epochs=3)
            dirs.append(logdir)
        out[name] = tuple(dirs)
    full = shared_tensorboards.publish(root / "full", "callbacks_tensorboard_full")
    out["full"] = (str(full / "keras"), str(full / "ours"))
    return full, out


def _tensor_tags(acc):
    return {t for t in acc.Tags()["tensors"] if not t.startswith("callback_events/")}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("run", ["train", "validation"])
def test_same_tags_steps_and_values_as_keras(paired, config, run):
    theirs_dir, ours_dir = paired[1][config]
    theirs, ours = kh.accumulate(os.path.join(theirs_dir, run)), kh.accumulate(os.path.join(ours_dir, run))
    assert _tensor_tags(ours) == _tensor_tags(theirs)
    assert _tensor_tags(ours)  # not vacuous
    for tag in _tensor_tags(theirs):
        a, b = theirs.Tensors(tag), ours.Tensors(tag)
        # Keras bug up to some 3.x release (the floor has it): every batch's
        # scalars at step 0, whatever update_freq says. We write them at
        # their global batch, every update_freq batches: nothing to compare.
        at_step_0 = tag.startswith("batch_") and {e.step for e in a} == {0} and len(a) > 1
        if config == "full" and not at_step_0:
            # Keras bug: with an integer update_freq its batch-level
            # tf.summary.record_if stays active at epoch end, so epoch scalars
            # and histograms are dropped for every epoch whose last global
            # batch is not a multiple of update_freq (here it keeps epoch 1 of
            # 0..2). We write every epoch: compare where Keras wrote.
            assert {e.step for e in a} <= {e.step for e in b}, tag
            kept = {e.step for e in a}
            b = [e for e in b if e.step in kept]
        if at_step_0:
            steps = [e.step for e in b]
            assert steps and steps == sorted(set(steps)) and steps[0] > 0, tag
            continue
        else:
            assert [e.step for e in a] == [e.step for e in b], tag
        meta_a, meta_b = theirs.SummaryMetadata(tag), ours.SummaryMetadata(tag)
        assert meta_a.plugin_data.plugin_name == meta_b.plugin_data.plugin_name, tag
        assert meta_a.plugin_data.content == meta_b.plugin_data.content, tag
        for ea, eb in zip(a, b, strict=True):
            va, vb = tensor_util.make_ndarray(ea.tensor_proto), tensor_util.make_ndarray(eb.tensor_proto)
            assert va.dtype == vb.dtype and va.shape == vb.shape, tag
            plugin = meta_a.plugin_data.plugin_name
            if tag in TIMING_TAGS:
                assert math.isfinite(float(vb)) and float(vb) > 0
            elif plugin == "scalars":
                assert float(vb) == pytest.approx(float(va), rel=1e-5), (tag, ea.step)
            elif plugin == "histograms":
                np.testing.assert_allclose(vb, va, rtol=1e-5, atol=1e-7, err_msg=tag)
            elif plugin == "images":
                from PIL import Image

                assert list(va[:2]) == list(vb[:2]), tag  # width, height
                for pa, pb in zip(va[2:], vb[2:], strict=True):
                    np.testing.assert_array_equal(
                        np.asarray(Image.open(io.BytesIO(pa))),
                        np.asarray(Image.open(io.BytesIO(pb))),
                        err_msg=tag,
                    )
            elif plugin == "graph_keras_model":
                assert json.loads(va.item()) == json.loads(vb.item())
            else:
                raise AssertionError(f"unexpected plugin {plugin} for {tag}")


@pytest.mark.timeout(60)
def test_expected_tags_present(paired):
    theirs, ours = paired[1]["full"]
    train = _tensor_tags(kh.accumulate(os.path.join(ours, "train")))
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_steps_per_second", "keras"} <= train
    assert {"batch_loss", "batch_accuracy", "batch_steps_per_second"} <= train
    # Weights by path (sequential/conv2d/kernel) since some Keras 3.x release,
    # by name (kernel) before, as that Keras's own TensorBoard names them.
    keras_train = _tensor_tags(kh.accumulate(os.path.join(theirs, "train")))
    by_path = "sequential/conv2d/kernel/histogram" in keras_train
    conv, dense = ("sequential/conv2d/", "sequential/dense/") if by_path else ("", "")
    assert f"{conv}kernel/histogram" in train and f"{conv}kernel/image" in train
    assert f"{dense}bias/image" in train
    val = _tensor_tags(kh.accumulate(os.path.join(ours, "validation")))
    assert {"epoch_loss", "evaluation_loss_vs_iterations", "evaluation_accuracy_vs_iterations"} <= val


@pytest.mark.timeout(60)
def test_one_event_file_per_run_and_op_graph(paired):
    for config in CONFIGS:
        _, ours = paired[1][config]
        for run in ("train", "validation"):
            assert len(glob.glob(os.path.join(ours, run, "events.out.tfevents.*"))) == 1, (config, run)
        acc = kh.accumulate(os.path.join(ours, "train"))
        graph = acc.Graph()  # the op-level graph of the forward pass
        ops = {node.op for node in graph.node}
        assert {"MatMul", "Softmax", "ReadVariableOp"} <= ops


def _served(server, run_prefix):
    out = {}
    for plugin in ("scalars", "histograms", "images"):
        tags = server.get_json(f"/data/plugin/{plugin}/tags")
        for run, run_tags in tags.items():
            if run.startswith(run_prefix):
                key = (plugin, run[len(run_prefix) :])
                out[key] = set(run_tags)
    return out


@pytest.mark.timeout(180)
@pytest.mark.parametrize("load_fast", [False, True])
def test_tensorboard_tabs_show_the_same(paired, load_fast, shared_tensorboards):
    full, _ = paired
    server = shared_tensorboards.view(full, load_fast=load_fast)

    def ready():
        served = _served(server, "ours/")
        return served if ("images", "train") in served and ("scalars", "validation") in served else None

    ours = server.wait_for(ready, timeout=90)
    theirs = server.wait_for(lambda: _served(server, "keras/") if ready() else None)
    for key, tags in theirs.items():
        assert tags <= ours[key], key
    assert ("histograms", "train") in ours and ("histograms", "train") in theirs
    info = server.get_json("/data/plugin/graphs/info")
    assert info["ours/train"]["run_graph"] is True
    assert info["ours/train"]["tags"]["keras"]["conceptual_graph"] is True
    assert info["keras/train"]["tags"]["keras"]["conceptual_graph"] is True
    scalars = server.get_json("/data/plugin/scalars/scalars?run=ours/validation&tag=epoch_loss")
    assert [row[1] for row in scalars] == [0, 1, 2]


# ---------------------------------------------------------------- other arguments


@pytest.mark.timeout(60)
def test_evaluate_alone_writes_evaluation_scalars(tmp_path):
    model = kh.classifier()
    kh.fit(model, [], epochs=1, validation_split=0.0)
    x, y = kh.digits()
    model.evaluate(x, y, verbose=0, callbacks=[callbacks.TensorBoard(str(tmp_path))])
    series = kh.scalar_series(str(tmp_path / "validation"))
    assert set(series) == {"evaluation_loss_vs_iterations", "evaluation_accuracy_vs_iterations"}
    steps = math.ceil(len(x) / kh.BATCH)
    assert [s for s, _ in series["evaluation_loss_vs_iterations"]] == [steps]


@pytest.mark.timeout(90)
def test_profile_batch_on_tensorflow(tmp_path):
    kh.fit(kh.classifier(), [callbacks.TensorBoard(str(tmp_path), profile_batch=2)], epochs=1)
    assert glob.glob(str(tmp_path / "train" / "plugins" / "profile" / "*" / "*.xplane.pb"))
    assert len(glob.glob(str(tmp_path / "train" / "events.out.tfevents.*"))) == 1
    with pytest.raises(ValueError, match="profile_batch"):
        callbacks.TensorBoard(str(tmp_path), profile_batch=(3, 1))


@pytest.mark.timeout(90)
def test_embeddings_like_keras(tmp_path):
    for flavour, cls in (("keras", keras.callbacks.TensorBoard), ("ours", callbacks.TensorBoard)):
        model = keras.Sequential(
            [
                keras.Input((64,), dtype="int32"),
                keras.layers.Embedding(17, 4, name="emb"),
                keras.layers.Flatten(),
            ]
        )
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile("adam", "sparse_categorical_crossentropy")
        x, y = kh.digits()
        model.fit(
            (x * 16).astype("int32"),
            y,
            epochs=2,
            verbose=0,
            callbacks=[
                cls(str(tmp_path / flavour), embeddings_freq=1, embeddings_metadata={"emb": "labels.tsv"})
            ],
        )
    for name in ("projector_config.pbtxt", "train/keras_embedding.ckpt-1.weights.h5"):
        assert os.path.exists(tmp_path / "keras" / name) and os.path.exists(tmp_path / "ours" / name)
    assert (tmp_path / "keras" / "projector_config.pbtxt").read_text() == (
        tmp_path / "ours" / "projector_config.pbtxt"
    ).read_text()


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.out = keras.layers.Dense(10, activation="softmax")

    def call(self, x):
        return self.out(self.hidden(x))


@pytest.mark.timeout(60)
def test_subclassed_model_gets_op_graph_only(tmp_path):
    model = Subclassed()
    model.compile("adam", "sparse_categorical_crossentropy")
    kh.fit(model, [callbacks.TensorBoard(str(tmp_path))], epochs=1)
    acc = kh.accumulate(str(tmp_path / "train"))
    assert "keras" not in acc.Tags()["tensors"]  # as Keras: only Functional/Sequential
    assert "MatMul" in {node.op for node in acc.Graph().node}


def test_same_signature_as_keras():
    import inspect

    def params(cls):
        return [(p.name, p.default, p.kind) for p in inspect.signature(cls).parameters.values()]

    ours = params(callbacks.TensorBoard)
    assert ours[: len(params(keras.callbacks.TensorBoard))] == params(keras.callbacks.TensorBoard)
    assert all(
        kind == inspect.Parameter.KEYWORD_ONLY
        for _, _, kind in ours[len(params(keras.callbacks.TensorBoard)) :]
    )
