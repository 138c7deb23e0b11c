"""Train a few short Keras runs on scikit-learn's digits, each showing callback events.

    python demo/train.py --logdir logs
    tensorboard --logdir logs          # then open the "Callback Events" tab
    tb-callbacks summary logs

Runs (one experiment directory each, with Keras's train/ and validation/ runs):

- baseline:     ReduceLROnPlateau, EarlyStopping(restore_best_weights=True)
                and ModelCheckpoint: lr_change, checkpoint_saved, early_stop,
                weights_restored.
- lr_schedule:  LearningRateScheduler with an epoch table: lr_change at the
                table's epochs.
- diverging:    a learning-rate ramp that blows the loss up; TerminateOnNaN
                stops it: nan_terminated.
- resumed:      a fit interrupted at an epoch end, then resumed by
                BackupAndRestore: backup_restored.
- custom:       a user's callback (`callbacks.Callback.log_event`) marking
                accuracy milestones: kind "milestone".

The data (1,797 8x8 digit images) ships with scikit-learn: nothing is
downloaded. `--quick` trains fewer epochs on less data (for tests).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter hides the progress lines

try:
    from tb_callbacks_plugin import callbacks
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from tb_callbacks_plugin import callbacks

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tb_callbacks_plugin import read_events


@dataclass
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def load_data(quick: bool) -> Data:
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    # A small training set overfits within a few epochs, so that the
    # plateau/early-stopping callbacks have something to react to.
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, train_size=300 if quick else 500, test_size=300 if quick else 600, random_state=0, stratify=y
    )
    return Data(x_train, y_train, x_val, y_val)


def make_model(learning_rate: float, optimizer: str = "adam") -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    opt = keras.optimizers.Adam(learning_rate) if optimizer == "adam" else keras.optimizers.SGD(learning_rate)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model: keras.Model, data: Data, epochs: int, cbs: list, **kwargs) -> keras.callbacks.History:
    return model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        batch_size=32,
        epochs=epochs,
        callbacks=cbs,
        verbose=0,
        **kwargs,
    )


# ---------------------------------------------------------------- the runs


def run_baseline(run_dir: str, data: Data, quick: bool) -> None:
    model = make_model(3e-3)
    fit(
        model,
        data,
        epochs=40 if quick else 80,
        cbs=[
            callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=2, min_lr=1e-5),
            callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True),
            callbacks.ModelCheckpoint(
                os.path.join(run_dir, "checkpoints", "best.weights.h5"),
                monitor="val_loss",
                save_best_only=True,
                save_weights_only=True,
            ),
            callbacks.TensorBoard(log_dir=run_dir),
        ],
    )


# epoch -> learning rate from that epoch on
LR_TABLE = {0: 3e-3, 4: 1e-3, 8: 3e-4, 12: 1e-4}


def table_schedule(epoch: int, lr: float) -> float:
    return LR_TABLE[max(e for e in LR_TABLE if e <= epoch)]


def run_lr_schedule(run_dir: str, data: Data, quick: bool) -> None:
    model = make_model(LR_TABLE[0])
    fit(
        model,
        data,
        epochs=10 if quick else 16,
        cbs=[callbacks.LearningRateScheduler(table_schedule), callbacks.TensorBoard(log_dir=run_dir)],
    )


def lr_ramp(epoch: int, lr: float) -> float:
    return 0.01 * 10.0**epoch


def run_diverging(run_dir: str, data: Data, quick: bool) -> None:
    # An LR range test gone too far: plain SGD on a squared-error head, the
    # learning rate x10 per epoch, until the loss overflows.
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", metrics=["categorical_accuracy"])
    one_hot = Data(
        data.x_train,
        keras.utils.to_categorical(data.y_train, 10),
        data.x_val,
        keras.utils.to_categorical(data.y_val, 10),
    )
    fit(
        model,
        one_hot,
        epochs=12,
        cbs=[
            callbacks.LearningRateScheduler(lr_ramp),
            callbacks.TerminateOnNaN(),
            callbacks.TensorBoard(log_dir=run_dir),
        ],
    )


class Interrupt(keras.callbacks.Callback):
    """Stands for a crash or a preempted machine at the end of epoch `at_epoch`."""

    def __init__(self, at_epoch: int) -> None:
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError(f"simulated interruption after epoch {epoch}")


def run_resumed(run_dir: str, data: Data, quick: bool) -> None:
    epochs = 8 if quick else 12
    backup_dir = os.path.join(run_dir, "backup")
    with contextlib.suppress(RuntimeError):  # the simulated crash
        fit(
            make_model(1e-3),
            data,
            epochs=epochs,
            cbs=[
                callbacks.BackupAndRestore(backup_dir),
                Interrupt(at_epoch=epochs // 2),
                callbacks.TensorBoard(log_dir=run_dir),
            ],
        )
    # A new process would build the model again: BackupAndRestore puts back
    # the weights, the optimizer and the epoch to continue from.
    fit(
        make_model(1e-3),
        data,
        epochs=epochs,
        cbs=[callbacks.BackupAndRestore(backup_dir), callbacks.TensorBoard(log_dir=run_dir)],
    )


class Milestones(callbacks.Callback):
    """A user's callback: an event each time validation accuracy passes a threshold."""

    def __init__(self, thresholds=(0.8, 0.9, 0.95)) -> None:
        super().__init__()
        self.pending = sorted(thresholds)

    def on_epoch_end(self, epoch, logs=None):
        accuracy = float((logs or {}).get("val_accuracy", 0.0))
        while self.pending and accuracy >= self.pending[0]:
            threshold = self.pending.pop(0)
            self.log_event(
                "milestone",
                f"val_accuracy {accuracy:.3f} passed {threshold:.0%} at epoch {epoch + 1}",  # as Keras prints
                threshold=threshold,
                val_accuracy=accuracy,
            )


def run_custom(run_dir: str, data: Data, quick: bool) -> None:
    fit(
        make_model(3e-3),
        data,
        epochs=6 if quick else 12,
        cbs=[Milestones(), callbacks.TensorBoard(log_dir=run_dir)],
    )


RUNS: dict[str, tuple[Callable[[str, Data, bool], None], tuple[str, ...]]] = {
    # name: (function, event kinds it is there to show)
    "baseline": (run_baseline, ("lr_change", "checkpoint_saved", "early_stop", "weights_restored")),
    "lr_schedule": (run_lr_schedule, ("lr_change",)),
    "diverging": (run_diverging, ("nan_terminated",)),
    "resumed": (run_resumed, ("backup_restored",)),
    "custom": (run_custom, ("milestone",)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logdir", default="logs", help="where to write the runs (default: logs)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and less data (for tests)")
    parser.add_argument(
        "--only", action="append", choices=list(RUNS), help="train only this run (repeatable)"
    )
    parser.add_argument(
        "--served", action="store_true", help="no 'next:' hint (scripts/demo.sh serves the runs itself)"
    )
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    data = load_data(args.quick)
    names = args.only or list(RUNS)
    start = time.perf_counter()
    missing_any = False
    for i, name in enumerate(names, 1):
        run_dir = os.path.join(args.logdir, name)
        shutil.rmtree(run_dir, ignore_errors=True)  # a rerun starts clean
        keras.utils.set_random_seed(i)
        t = time.perf_counter()
        function, planned = RUNS[name]
        function(run_dir, data, args.quick)
        events = read_events(run_dir) if os.path.isdir(run_dir) else []
        kinds = Counter(e.kind for e in events)
        ends = [e.data.get("reason") for e in events if e.kind == "train_end"]
        missing = [k for k in planned if k not in kinds]
        missing_any |= bool(missing)
        shown = ", ".join(f"{k} x{n}" if n > 1 else k for k, n in sorted(kinds.items()))
        ended = "/".join(map(str, ends)) or "?"
        note = f"  MISSING: {', '.join(missing)}" if missing else ""
        took = time.perf_counter() - t
        print(
            f"[{i}/{len(names)}] {name:<12} {took:5.1f} s  ended: {ended}  events: {shown}{note}", flush=True
        )
    took = time.perf_counter() - start
    next_steps = f"; next: tensorboard --logdir {args.logdir}, tb-callbacks summary {args.logdir}"
    print(f"done in {took:.0f} s{'' if args.served else next_steps}", flush=True)
    return 1 if missing_any else 0


if __name__ == "__main__":
    sys.exit(main())
