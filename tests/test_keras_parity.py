"""callbacks.TensorBoard next to keras.callbacks.TensorBoard: what Keras writes, we write.

Real fits on the TensorFlow backend (keras.callbacks.TensorBoard needs it),
read back with TensorBoard's own EventAccumulator and raw event records.
"""

from __future__ import annotations

import glob
import os

import keras
import keras_helpers as kh
import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2
from tensorboard.util import tensor_util

from tb_callbacks_plugin import callbacks, conventions
from tb_callbacks_plugin.eventfiles.records import iter_records

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="keras.callbacks.TensorBoard needs the TensorFlow backend"
)


def _raw_events(run_dir: str) -> list[event_pb2.Event]:
    out = []
    for path in sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))):
        with open(path, "rb") as f:
            out.extend(event_pb2.Event.FromString(r) for r in iter_records(f.read(), name=path))
    return out


def _series(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] of the scalars of a run, in file order."""
    return kh.scalar_series(run_dir)


def _halve_at_2(epoch, lr):
    return lr / 2 if epoch == 2 else lr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flavour", ["stock", "drop-in"])
def test_epoch_scalars_line_for_line_as_keras_in_the_same_fit(tmp_path, flavour):
    # The LR callbacks sit before both TensorBoards: ReduceLROnPlateau puts
    # the old rate into logs["learning_rate"] and then sets a new one.
    lib = keras.callbacks if flavour == "stock" else callbacks
    theirs, ours = str(tmp_path / "keras"), str(tmp_path / "ours")
    kh.seed(5)
    cbs = [
        lib.ReduceLROnPlateau(monitor="loss", min_delta=100, patience=1, factor=0.5),
        lib.LearningRateScheduler(_halve_at_2),
        keras.callbacks.TensorBoard(theirs),
        callbacks.TensorBoard(ours),
    ]
    history = kh.fit(kh.classifier(lr=0.04), cbs, epochs=5).history
    for run in ("train", "validation"):
        a, b = _series(os.path.join(theirs, run)), _series(os.path.join(ours, run))
        # Keras's tags, exactly; beside them only the fit's outcome scalars
        # (callback_events/*, for TensorBoard's HParams dashboard), in train.
        added = {f"callback_events/{name}" for name in conventions.OUTCOME_TAGS} if run == "train" else set()
        assert set(b) - set(a) == added, run
        assert set(a) <= set(b) and a, run
        for tag in a:
            assert [s for s, _ in b[tag]] == [s for s, _ in a[tag]], (run, tag)
            assert [v for _, v in b[tag]] == pytest.approx([v for _, v in a[tag]], rel=1e-6), (run, tag)
    rates = _series(os.path.join(ours, "train"))["epoch_learning_rate"]
    # One point per epoch: the rate each epoch ends with. The plateau halves
    # it at the end of epochs 1-4 (min_delta=100: no epoch improves after the
    # first), the schedule at the start of epoch 2.
    assert [s for s, _ in rates] == [0, 1, 2, 3, 4]
    assert len(rates) == len(history["loss"])
    assert [v for _, v in rates] == pytest.approx([0.04, 0.02, 0.005, 0.0025, 0.00125], rel=1e-6)


class _Summarizing(keras.layers.Layer):
    """Writes a tf.summary scalar from the model's own forward pass."""

    def call(self, x):
        import tensorflow as tf

        tf.summary.scalar("activation_sum", tf.reduce_sum(x))
        return x


def _summarizing_model() -> keras.Model:
    model = keras.Sequential(
        [keras.Input((64,)), _Summarizing(), keras.layers.Dense(10, activation="softmax")]
    )
    # Summary ops do not compile with XLA (as in Keras's own test).
    model.compile("adam", "sparse_categorical_crossentropy", jit_compile=False)
    return model


def _custom_tags(run_dir: str) -> dict[str, list[int]]:
    acc = kh.accumulate(run_dir)
    return {t: [e.step for e in acc.Tensors(t)] for t in acc.Tags()["tensors"] if "activation_sum" in t}


@pytest.mark.timeout(180)
def test_tf_summary_in_model_code_is_logged_with_batch_steps(tmp_path):
    steps, val_steps = 5, 2  # kh.fit: 5 train and 2 validation batches per epoch
    theirs, ours = str(tmp_path / "keras"), str(tmp_path / "ours")
    kh.seed(1)
    kh.fit(_summarizing_model(), [keras.callbacks.TensorBoard(theirs, update_freq=1)], epochs=2)
    kh.seed(1)
    model = _summarizing_model()
    kh.fit(model, [callbacks.TensorBoard(ours, update_freq=1)], epochs=2)
    for run in ("train", "validation"):
        keras_tags, our_tags = _custom_tags(os.path.join(theirs, run)), _custom_tags(os.path.join(ours, run))
        assert set(our_tags) == set(keras_tags) and len(our_tags) == 1, run
        # Keras freezes the step into the traced function (every point at
        # step 1); ours are the global batch counts Keras steps by.
        (keras_steps,) = keras_tags.values()
        assert set(keras_steps) == {1}
    (train_steps,) = _custom_tags(os.path.join(ours, "train")).values()
    assert train_steps == list(range(1, 2 * steps + 1))
    (validation_steps,) = _custom_tags(os.path.join(ours, "validation")).values()
    assert validation_steps == list(range(1, 2 * val_steps + 1))
    for run in ("train", "validation"):
        assert len(glob.glob(os.path.join(ours, run, "events.out.tfevents.*"))) == 1  # one file per run

    # The train function keeps the writer it was traced with: a second fit of
    # the same model (where Keras fails: "Resource ... does not exist") logs
    # into its own run, and a fit without TensorBoard writes nothing anywhere.
    again = str(tmp_path / "again")
    kh.fit(model, [callbacks.TensorBoard(again, update_freq=2)], epochs=1)
    (again_steps,) = _custom_tags(os.path.join(again, "train")).values()
    assert again_steps == [2, 4]  # every update_freq batches, as Keras records
    before = {p: os.path.getsize(p) for p in glob.glob(str(tmp_path / "*" / "*" / "events.out.tfevents.*"))}
    kh.fit(model, [], epochs=1)
    kh.fit(model, [callbacks.TensorBoard(str(tmp_path / "epochly"))], epochs=1)  # update_freq="epoch"
    after = {p: os.path.getsize(p) for p in glob.glob(str(tmp_path / "*" / "*" / "events.out.tfevents.*"))}
    assert {p: s for p, s in after.items() if p in before} == before
    assert _custom_tags(str(tmp_path / "epochly" / "train")) == {}


@pytest.mark.timeout(120)
def test_graph_written_once_per_model_and_run_for_training_only(tmp_path):
    logdir = str(tmp_path)
    model = kh.classifier()
    x, y = kh.digits()
    tb = callbacks.TensorBoard(logdir)
    model.evaluate(x, y, verbose=0, callbacks=[tb])
    model.predict(x, verbose=0, callbacks=[tb])
    assert not os.path.exists(tmp_path / "train")  # no training, no training graph
    for _ in range(2):
        kh.fit(model, [tb], epochs=1)
    model.evaluate(x, y, verbose=0, callbacks=[tb])
    model.predict(x, verbose=0, callbacks=[tb])
    kh.fit(model, [callbacks.TensorBoard(logdir)], epochs=1)  # another callback, same model and run
    train = _raw_events(str(tmp_path / "train"))
    assert len([e for e in train if e.graph_def]) == 1
    assert len([v for e in train for v in e.summary.value if v.tag == "keras"]) == 1
    assert not [e for e in _raw_events(str(tmp_path / "validation")) if e.graph_def]
    # A new model fitted into the same run is a new graph.
    kh.fit(kh.classifier(), [callbacks.TensorBoard(logdir)], epochs=1)
    assert len([e for e in _raw_events(str(tmp_path / "train")) if e.graph_def]) == 2


@pytest.mark.timeout(120)
def test_profile_batch_writes_the_graph_trace_like_keras(tmp_path):
    theirs, ours = str(tmp_path / "keras"), str(tmp_path / "ours")
    for cls, logdir in ((keras.callbacks.TensorBoard, theirs), (callbacks.TensorBoard, ours)):
        kh.seed(2)
        kh.fit(kh.classifier(), [cls(logdir, profile_batch=(2, 3), write_graph=False)], epochs=1)
    traced = {}
    for name, logdir in (("keras", theirs), ("ours", ours)):
        acc = kh.accumulate(os.path.join(logdir, "train"))
        tags = [t for t in acc.Tags()["tensors"] if not t.startswith("callback_events/")]
        traced[name] = {t: acc.SummaryMetadata(t).plugin_data.plugin_name for t in tags}
        assert glob.glob(os.path.join(logdir, "train", "plugins", "profile", "*", "*.xplane.pb"))
    assert (
        traced["ours"]
        == traced["keras"]
        == {
            "batch_3": "graph_run_metadata_graph",
            "epoch_loss": "scalars",
            "epoch_accuracy": "scalars",
            "epoch_learning_rate": "scalars",
        }
    )
    acc = kh.accumulate(os.path.join(ours, "train"))
    (trace,) = acc.Tensors("batch_3")
    assert trace.step == 3
    run_metadata = np.asarray(tensor_util.make_ndarray(trace.tensor_proto))
    assert run_metadata.size == 1 and len(run_metadata.item()) > 100  # a serialized RunMetadata with graphs
    assert len(glob.glob(os.path.join(ours, "train", "events.out.tfevents.*"))) == 1


@pytest.mark.timeout(120)
def test_tf_summary_writers_left_as_found_after_a_failed_fit(tmp_path):
    import tensorflow as tf

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("boom")

    model = _summarizing_model()
    with pytest.raises(RuntimeError, match="boom"):
        kh.fit(model, [callbacks.TensorBoard(str(tmp_path / "failed"), update_freq=1), Boom()], epochs=2)
    # No default writer, step or recording condition is left behind...
    assert tf.summary.experimental.get_step() is None
    assert not tf.summary.should_record_summaries()
    # ...and the next fit of the same model logs its summaries as usual.
    kh.fit(model, [callbacks.TensorBoard(str(tmp_path / "next"), update_freq=1)], epochs=1)
    (steps,) = _custom_tags(str(tmp_path / "next" / "train")).values()
    assert steps == [1, 2, 3, 4, 5]
    (failed,) = _custom_tags(str(tmp_path / "failed" / "train")).values()
    assert failed == [1, 2, 3, 4, 5]  # what the failed fit's first epoch wrote is in its run
