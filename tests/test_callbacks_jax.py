"""callbacks on the JAX backend, in a subprocess with KERAS_BACKEND=jax: same files, no TensorFlow.

The subprocess runs in the JAX environment of scripts/backend_env.sh, where
TensorFlow is not installed; this process (TensorFlow) writes the same fit to
compare with.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import keras
import keras_helpers as kh
import pytest
from backend_envs import backend_python

from tb_callbacks_plugin import callbacks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")

# The same fit on either backend; prints what it can only know inside.
FIT = textwrap.dedent(
    """
    import json, sys
    import keras
    import keras_helpers as kh
    from tb_callbacks_plugin import callbacks

    def fit(logdir):
        kh.seed(3)
        model = kh.classifier(lr=0.01)

        def schedule(epoch, logs):
            if epoch == 1:
                model.optimizer.learning_rate = 0.005

        cbs = [
            keras.callbacks.LambdaCallback(on_epoch_begin=schedule),
            callbacks.TensorBoard(logdir, histogram_freq=1, write_images=True, update_freq="batch"),
            keras.callbacks.ReduceLROnPlateau(monitor="loss", min_delta=100, patience=2, factor=0.5),
            keras.callbacks.EarlyStopping(
                monitor="loss", min_delta=100, patience=3, restore_best_weights=True
            ),
            callbacks.TerminateOnNaN(),
        ]
        return kh.fit(model, cbs, epochs=8).history

    if __name__ == "__main__":
        history = fit(sys.argv[1])
        print(json.dumps({
            "backend": keras.backend.backend(),
            "tensorflow_imported": "tensorflow" in sys.modules,
            "epochs_run": len(history["loss"]),
        }))
    """
)

CRASH = textwrap.dedent(
    """
    import sys
    import keras
    import numpy as np
    import keras_helpers as kh
    from tb_callbacks_plugin import callbacks

    class Flaky(keras.utils.PyDataset):
        # The data pipeline fails in epoch 1 (inside the step function on JAX,
        # where the state is not on the model's variables).
        calls = 0

        def __len__(self):
            return 5

        def __getitem__(self, index):
            Flaky.calls += 1
            if Flaky.calls == 8:
                raise ValueError("corrupt shard")
            x, y = kh.digits()
            return x[index * 64 : (index + 1) * 64], y[index * 64 : (index + 1) * 64]

    model = kh.classifier()
    model.fit(Flaky(), epochs=3, verbose=0, callbacks=[callbacks.TensorBoard(sys.argv[1])])
    """
)


def _run(script, tmp_path, *args):
    path = tmp_path / "script.py"
    path.write_text(script)
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONPATH": os.pathsep.join([ROOT, TESTS]),
        "JAX_PLATFORMS": "cpu",
    }
    cmd = [backend_python("jax"), str(path), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)


def _events(logdir):
    return [(e.kind, e.step, e.epoch, e.source, sorted(e.data)) for e in kh.events(logdir)]


@pytest.mark.timeout(300)
def test_jax_backend_same_files_without_tensorflow(tmp_path):
    jax_dir, tf_dir = str(tmp_path / "jax"), str(tmp_path / "tf")
    done = _run(FIT, tmp_path, jax_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"backend": "jax", "tensorflow_imported": False, "epochs_run": 4}

    # The same fit here, on TensorFlow.
    namespace = {}
    exec(compile(FIT, "fit", "exec"), namespace)  # noqa: S102 - our own fit script
    assert keras.backend.backend() == "tensorflow"
    namespace["fit"](tf_dir)

    assert _events(jax_dir) == _events(tf_dir)
    kinds = [e[0] for e in _events(jax_dir)]
    assert kinds == [
        "train_begin",
        "lr_change",
        "lr_change",
        "early_stop",
        "weights_restored",
        "train_end",
    ]
    for run in ("train", "validation"):
        jax_acc, tf_acc = kh.accumulate(os.path.join(jax_dir, run)), kh.accumulate(os.path.join(tf_dir, run))

        def tags(acc):
            return {t for t in acc.Tags()["tensors"] if not t.startswith("callback_events/")}

        assert tags(jax_acc) == tags(tf_acc)
        for tag in tags(tf_acc):
            assert [e.step for e in jax_acc.Tensors(tag)] == [e.step for e in tf_acc.Tensors(tag)], tag
    assert not kh.accumulate(os.path.join(jax_dir, "train")).Tags()["graph"]  # op graph: TensorFlow only
    assert callbacks.TensorBoard  # imported on the TensorFlow side too


@pytest.mark.timeout(300)
def test_jax_data_pipeline_error_still_ends_the_run(tmp_path):
    logdir = str(tmp_path / "logs")
    done = _run(CRASH, tmp_path, logdir)
    assert done.returncode != 0 and "corrupt shard" in done.stderr
    got = kh.events(logdir)
    assert [e.kind for e in got] == ["train_begin", "train_end"]
    end = got[-1]
    assert end.data["reason"] == "interrupted" and end.epoch == 1 and end.step == 6
    assert end.data.get("exception", "ValueError") == "ValueError"
