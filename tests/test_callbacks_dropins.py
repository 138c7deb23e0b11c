"""The drop-in callbacks train exactly like their keras.callbacks originals and describe what they did."""

from __future__ import annotations

import inspect
import logging
import math
import os
import re
import warnings

import keras
import keras_helpers as kh
import numpy as np
import pytest

from tb_callbacks_plugin import callbacks

DROP_INS = [
    "EarlyStopping",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "BackupAndRestore",
]
STEPS = 5
EPOCHS = 8


@pytest.mark.parametrize("name", DROP_INS)
def test_subclass_with_same_signature(name):
    ours, theirs = getattr(callbacks, name), getattr(keras.callbacks, name)
    assert issubclass(ours, theirs) and issubclass(ours, callbacks.Callback)

    def params(cls):
        return [(p.name, p.default, p.kind) for p in inspect.signature(cls).parameters.values()]

    assert params(ours) == params(theirs)
    assert ours.__doc__ and "Args:" in ours.__doc__ and "Example:" in ours.__doc__


def halve_from_epoch_2(epoch, lr):
    return lr * 0.5 if epoch >= 2 else lr


def _callback_set(module, tmp, logdir=None):
    # Large min_delta: the monitored values never "improve" after epoch 0,
    # so every callback acts on a known schedule whatever the data does.
    cbs = [
        module.TerminateOnNaN(),
        module.LearningRateScheduler(halve_from_epoch_2),
        module.ReduceLROnPlateau(monitor="val_loss", min_delta=100, patience=2, factor=0.1),
        module.ModelCheckpoint(str(tmp / "best.keras"), monitor="val_accuracy", save_best_only=True),
        module.BackupAndRestore(str(tmp / "backup")),
        module.EarlyStopping(monitor="val_loss", min_delta=100, patience=4, restore_best_weights=True),
    ]
    if logdir is not None:
        cbs.append(callbacks.TensorBoard(logdir))
    return cbs


@pytest.fixture(scope="module")
def twin_fits(tmp_path_factory):
    out = {}
    for flavour, module in (("keras", keras.callbacks), ("ours", callbacks)):
        tmp = tmp_path_factory.mktemp(flavour)
        logdir = str(tmp / "logs") if flavour == "ours" else None
        kh.seed(11)
        model = kh.classifier(lr=0.02)
        history = kh.fit(model, _callback_set(module, tmp, logdir), epochs=EPOCHS)
        out[flavour] = (model, history.history, tmp, logdir)
    return out


@pytest.mark.timeout(120)
def test_same_history_and_weights_as_keras(twin_fits):
    model_k, hist_k, tmp_k, _ = twin_fits["keras"]
    model_o, hist_o, tmp_o, _ = twin_fits["ours"]
    assert hist_o.keys() == hist_k.keys()
    assert len(hist_k["loss"]) == 5  # EarlyStopping stopped after epoch 4
    for key in hist_k:
        np.testing.assert_array_equal(hist_o[key], hist_k[key], err_msg=key)
    for a, b in zip(model_k.get_weights(), model_o.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert os.path.exists(tmp_k / "best.keras") and os.path.exists(tmp_o / "best.keras")
    assert not os.path.exists(tmp_o / "backup")  # deleted at the end, as Keras does


@pytest.mark.timeout(60)
def test_drop_ins_report_their_actions_once(twin_fits):
    _, history, tmp, logdir = twin_fits["ours"]
    got = kh.events(logdir)
    assert [(e.kind, e.step, e.epoch, e.source) for e in got if e.kind != "checkpoint_saved"] == [
        ("train_begin", 0, 0, None),
        ("lr_change", 2 * STEPS, 2, "LearningRateScheduler"),
        ("lr_change", 3 * STEPS, 2, "ReduceLROnPlateau"),
        ("lr_change", 3 * STEPS, 3, "LearningRateScheduler"),
        ("lr_change", 4 * STEPS, 4, "LearningRateScheduler"),
        ("lr_change", 5 * STEPS, 4, "ReduceLROnPlateau"),
        ("early_stop", 5 * STEPS, 4, "EarlyStopping"),
        ("weights_restored", 5 * STEPS, 4, "EarlyStopping"),
        ("train_end", 5 * STEPS, 4, None),
    ]
    # Reported by the drop-ins themselves: none was (also) detected.
    assert not [e for e in got if "detected" in e.data]
    lrs = [(e.data["old"], e.data["new"]) for e in got if e.kind == "lr_change"]
    expected = [(0.02, 0.01), (0.01, 0.001), (0.001, 0.0005), (0.0005, 0.00025), (0.00025, 0.000025)]
    # float32 rates: 0.01 * 0.1 is 0.0009999999 there, not 0.001
    assert lrs == [(pytest.approx(o, rel=1e-6), pytest.approx(n, rel=1e-6)) for o, n in expected]
    assert np.allclose(history["learning_rate"], [0.02, 0.02, 0.01, 0.0005, 0.00025])

    sched, plateau = [e for e in got if e.kind == "lr_change"][:2]
    assert sched.message == "halve_from_epoch_2 at the start of epoch 3: learning rate 0.02 -> 0.01"
    assert sched.data["schedule"] == "halve_from_epoch_2"
    assert plateau.message.startswith("val_loss did not improve for 2 epochs (best ")
    assert plateau.message.endswith("): learning rate 0.01 -> 0.001")
    assert (
        plateau.data["monitor"] == "val_loss"
        and plateau.data["factor"] == 0.1
        and plateau.data["patience"] == 2
        and plateau.data["wait"] == 2
    )
    assert math.isclose(plateau.data["value"], history["val_loss"][2], rel_tol=1e-6)

    (stop,) = [e for e in got if e.kind == "early_stop"]
    assert re.fullmatch(
        # Epochs in messages as Keras's console prints them (1-based); fields 0-based.
        r"val_loss did not improve for 4 epochs \(best [0-9.]+ at epoch 1\): stopped at epoch 5",
        stop.message,
    )
    assert stop.data["best_epoch"] == 0 and stop.data["patience"] == 4 and stop.data["wait"] == 4
    assert math.isclose(stop.data["best"], history["val_loss"][0], rel_tol=1e-6)
    assert math.isclose(stop.data["value"], history["val_loss"][4], rel_tol=1e-6)
    (restored,) = [e for e in got if e.kind == "weights_restored"]
    assert restored.data["best_epoch"] == 0 and restored.message.startswith(
        "restored the weights from the end of epoch 1"
    )
    assert got[-1].data["reason"] == "early_stop"

    saves = [e for e in got if e.kind == "checkpoint_saved"]
    improved = [
        i for i, v in enumerate(history["val_accuracy"]) if v > max(history["val_accuracy"][:i], default=-1)
    ]
    assert [e.epoch for e in saves] == improved and [e.step for e in saves] == [
        (i + 1) * STEPS for i in improved
    ]
    assert all(e.data["filepath"] == str(tmp / "best.keras") and e.data["save_best_only"] for e in saves)
    assert (
        saves[0].message
        == f"val_accuracy improved to {saves[0].data['value']:.4g}: saved checkpoint {tmp / 'best.keras'}"
    )
    if len(saves) > 1:
        assert " improved from " in saves[1].message


@pytest.mark.timeout(60)
def test_batch_checkpoints(tmp_path):
    logdir = str(tmp_path / "logs")
    path = str(tmp_path / "ckpt" / "e{epoch}-b{batch}.weights.h5")
    cbs = [
        callbacks.ModelCheckpoint(path, save_weights_only=True, save_freq=3),
        callbacks.TensorBoard(logdir),
    ]
    kh.fit(kh.classifier(), cbs, epochs=2)
    saves = kh.events(logdir, "checkpoint_saved")
    assert [e.step for e in saves] == [3, 6, 9]
    assert [os.path.basename(e.data["filepath"]) for e in saves] == [
        "e1-b3.weights.h5",
        "e2-b1.weights.h5",
        "e2-b4.weights.h5",
    ]
    assert all(os.path.exists(e.data["filepath"]) for e in saves)


@pytest.mark.timeout(60)
def test_drop_ins_without_tensorboard_keep_events_silently(tmp_path, caplog):
    stopper = callbacks.EarlyStopping(monitor="loss", min_delta=100, patience=1)
    scheduler = callbacks.LearningRateScheduler(halve_from_epoch_2)
    caplog.set_level(logging.DEBUG, logger="tb_callbacks_plugin.callbacks")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kh.fit(kh.classifier(), [stopper, scheduler], epochs=6)
    assert [(e.kind, e.epoch, e.step) for e in stopper.events] == [("early_stop", 1, 2 * STEPS)]
    assert [(e.kind, e.epoch, e.step) for e in scheduler.events] == []
    # keras.callbacks.EarlyStopping warns nothing here: neither does ours.
    package = os.path.dirname(callbacks.__file__)
    assert [str(w.message) for w in caught if w.filename.startswith(package)] == []
    assert [str(w.message) for w in caught if "callbacks.TensorBoard" in str(w.message)] == []
    said = [r for r in caplog.records if "no callbacks.TensorBoard" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in said] == [
        (
            logging.DEBUG,
            "EarlyStopping logged a 'early_stop' event, but there is no callbacks.TensorBoard in this fit: "
            "events are kept in memory in EarlyStopping.events",
        )
    ]
