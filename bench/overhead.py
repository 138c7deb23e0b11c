"""Training overhead of callbacks.TensorBoard against keras.callbacks.TensorBoard and no callback.

One process, TensorFlow backend (keras.callbacks.TensorBoard needs it). A
small MLP on scikit-learn's digits is fitted bare, with Keras's TensorBoard
and with ours, at three settings (default, histogram_freq=1,
update_freq="batch"). Repetitions are interleaved (the order rotates each
repetition) so that drift of a shared machine hits every variant alike; each
repetition gives ratios against the reference fitted in the same repetition,
and the medians of those ratios are printed, for wall-clock and CPU time
(process CPU, all threads: the writer's thread counts).

The model is compiled once and its weights reset before every fit, so the
one-time tracing of the training step is outside the measurement while
everything a callback does per fit (opening writers, writing graphs) is in it.

    .venv/bin/python bench/overhead.py            # ~3 minutes on 2 cores
    .venv/bin/python bench/overhead.py --reps 21  # tighter medians
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from tb_callbacks_plugin import callbacks  # noqa: E402

SETTINGS = {
    "default": {},
    "histogram_freq=1": {"histogram_freq": 1},
    'update_freq="batch"': {"update_freq": "batch"},
}


def build_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=9, help="interleaved repetitions (default 9)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per fit (default 8)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    model = build_model()
    initial = model.get_weights()
    root = tempfile.mkdtemp(prefix="tbcb-bench-")

    variants = [("bare", None, None)]
    for setting, kwargs in SETTINGS.items():
        variants.append((setting, "keras", lambda d, kw=kwargs: keras.callbacks.TensorBoard(d, **kw)))
        variants.append((setting, "ours", lambda d, kw=kwargs: callbacks.TensorBoard(d, **kw)))

    def run(make, logdir):
        model.set_weights(initial)
        cbs = [make(logdir)] if make else []
        wall, cpu = time.perf_counter(), time.process_time()
        fit_args = {"epochs": args.epochs, "batch_size": args.batch_size, "validation_split": 0.2}
        model.fit(x, y, verbose=0, callbacks=cbs, **fit_args)
        return time.perf_counter() - wall, time.process_time() - cpu

    # Warm-up: traces the step functions and opens TensorFlow's summary machinery once.
    for _, _, make in variants:
        run(make, os.path.join(root, "warmup"))

    times = {(s, f): [] for s, f, _ in variants}
    steps_per_fit = args.epochs * int(np.ceil(len(x) * 0.8 / args.batch_size))
    print(f"{args.reps} interleaved repetitions of {len(variants)} fits of {steps_per_fit} steps", flush=True)
    for rep in range(args.reps):
        shift = rep % len(variants)
        for setting, flavour, make in variants[shift:] + variants[:shift]:
            logdir = os.path.join(root, f"{rep}-{flavour}-{setting}")
            times[setting, flavour].append(run(make, logdir))
            shutil.rmtree(logdir, ignore_errors=True)
        print(f"  repetition {rep + 1}/{args.reps} done", flush=True)
    shutil.rmtree(root, ignore_errors=True)

    bare = times["bare", None]

    def ratio(a, b, i):
        return statistics.median(x[i] / y[i] for x, y in zip(a, b, strict=True))

    def ms(samples, i):
        return 1000 * statistics.median(s[i] for s in samples)

    print(f"\nmedian bare fit: wall {ms(bare, 0):.0f} ms, CPU {ms(bare, 1):.0f} ms")
    header = (
        f"{'setting':<22}{'keras wall':>11}{'ours wall':>10}{'keras CPU':>10}{'ours CPU':>9}"
        f"{'ours/keras wall':>17}{'ours/keras CPU':>16}{'ours/bare wall':>16}{'keras/bare wall':>17}"
    )
    print(header)
    for setting in SETTINGS:
        k, o = times[setting, "keras"], times[setting, "ours"]
        print(
            f"{setting:<22}{ms(k, 0):>9.0f}ms{ms(o, 0):>8.0f}ms{ms(k, 1):>8.0f}ms{ms(o, 1):>7.0f}ms"
            f"{ratio(o, k, 0):>16.3f}x{ratio(o, k, 1):>15.3f}x"
            f"{ratio(o, bare, 0):>15.3f}x{ratio(k, bare, 0):>16.3f}x"
        )
    print("\nratios are medians of per-repetition ratios (same repetition, same machine state)")


if __name__ == "__main__":
    main()
