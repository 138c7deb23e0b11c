"""A KerasTuner RandomSearch with callbacks.TensorBoard, on TensorFlow and on JAX.

On TensorFlow KerasTuner finds the callback by its class name `TensorBoard`,
rewrites its log_dir to `<log_dir>/<trial_id>/execution0` and adds
TensorBoard's hparams callback beside it: each trial is an experiment of its
own with its HParams session (KerasTuner's, not doubled by ours). On JAX it
leaves log_dir alone: every trial is another fit of one run directory, told
apart by its train_begin's trial and an HParams session per fit. The JAX
half runs this file in a subprocess with KERAS_BACKEND=jax, in the
environment with TensorFlow and JAX (scripts/backend_env.sh tf-jax: .venv
has no JAX).
"""

from __future__ import annotations

import os
import subprocess

import keras
import keras_helpers as kh
import pytest
from backend_envs import backend_python

from tb_callbacks_plugin import events_dataframe, read_events
from tb_callbacks_plugin.eventfiles.fits import fit_of, fit_starts
from tb_callbacks_plugin.eventfiles.hparams import read_hparams, read_sessions

keras_tuner = pytest.importorskip("keras_tuner")

BACKEND = keras.backend.backend()
EPOCHS = 2


def _search(root: str) -> tuple[str, object]:
    from tb_callbacks_plugin import callbacks

    def build(hp):
        units = hp.Choice("units", [4, 16])
        lr = hp.Choice("learning_rate", [1e-5, 0.05])
        return kh.classifier(lr=lr, hidden=units)

    kh.seed(0)
    logdir = os.path.join(root, "logs")
    tuner = keras_tuner.RandomSearch(
        build,
        objective="val_loss",
        max_trials=2,
        seed=1,
        directory=os.path.join(root, "kt"),
        project_name="search",
        overwrite=True,
    )
    x, y = kh.digits()
    tuner.search(
        x,
        y,
        epochs=EPOCHS,
        validation_split=0.25,
        batch_size=kh.BATCH,
        verbose=0,
        callbacks=[callbacks.TensorBoard(logdir), callbacks.EarlyStopping(monitor="val_loss", patience=5)],
    )
    return logdir, tuner


def _trial_params(tuner) -> dict[str, dict]:
    return {t.trial_id: dict(t.hyperparameters.values) for t in tuner.oracle.trials.values()}


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    return _search(str(tmp_path_factory.mktemp("kt")))


@pytest.mark.skipif(BACKEND != "tensorflow", reason="KerasTuner rewrites log_dir on TensorFlow only")
def test_on_tensorflow_each_trial_is_its_own_experiment(search):
    logdir, tuner = search
    params = _trial_params(tuner)
    assert len(params) == 2
    experiments = {f"{trial_id}/execution0": p for trial_id, p in params.items()}
    runs = {e.run for e in read_events(logdir)}
    assert runs == {f"{experiment}/train" for experiment in experiments}
    # KerasTuner's hparams callback wrote each session; ours did not double it.
    sessions = read_sessions(logdir)
    assert [s.run for s in sessions] == sorted(experiments)
    assert [s.group_name for s in sessions] == sorted(params)
    assert read_hparams(logdir) == {e: {k: float(v) for k, v in p.items()} for e, p in experiments.items()}


@pytest.mark.skipif(BACKEND != "tensorflow", reason="KerasTuner rewrites log_dir on TensorFlow only")
def test_on_tensorflow_each_fit_names_its_trial(search):
    logdir, tuner = search
    params = _trial_params(tuner)
    for trial_id, p in params.items():
        (begin,) = kh.events(logdir, "train_begin", run=f"{trial_id}/execution0/train")
        assert begin.data["trial"] == {
            "tuner": "keras_tuner",
            "id": trial_id,
            "params": {k: float(v) for k, v in p.items()},
        }
        (end,) = kh.events(logdir, "train_end", run=f"{trial_id}/execution0/train")
        assert end.data["reason"] == "completed"


@pytest.mark.skipif(BACKEND != "jax", reason="run by test_on_jax_trials_are_fits_of_one_run_dir")
def test_jax_trials_are_told_apart(search):
    logdir, tuner = search
    params = _trial_params(tuner)
    frame = events_dataframe(logdir)
    assert set(frame.run) == {"train"}  # KerasTuner left log_dir alone: one run dir
    begins = frame[frame.kind == "train_begin"].sort_values("wall_time")
    assert list(begins.fit) == [0, 1]
    trial_ids = [d["trial"]["id"] for d in begins.data]
    assert sorted(trial_ids) == sorted(params)
    # One HParams session per fit, in the log_dir itself, each of its fit's trial.
    starts = fit_starts(read_events(logdir))
    sessions = read_sessions(logdir)
    assert [s.run for s in sessions] == [".", "."]
    for session in sessions:
        trial_id = trial_ids[fit_of(session.wall_time, starts)]
        assert session.hparams == {k: float(v) for k, v in params[trial_id].items()}


@pytest.mark.skipif(BACKEND != "tensorflow", reason="starts the JAX run from the TensorFlow one")
@pytest.mark.timeout(900)
def test_on_jax_trials_are_fits_of_one_run_dir():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KERAS_"))}
    env.update({"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""})
    done = subprocess.run(
        [backend_python("tf-jax"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", __file__],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        env=env,
        capture_output=True,
        text=True,
        timeout=850,
    )
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "1 passed" in report and "failed" not in report, report
