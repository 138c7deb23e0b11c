"""An Optuna study with optuna-integration's KerasPruningCallback: pruned trials are named as pruned.

Real Optuna, real pruning (a ThresholdPruner on val_loss), real fits. The
pruning callback raises `optuna.TrialPruned` in `on_epoch_end`, so
`on_train_end` never runs: the trial's `train_end` must still say "pruned",
at which epoch, with the pruner's message and the trial's number and
parameters; and the trial's parameters become its experiment's HParams
session, unless the user's own hparams callback writes one.
"""

from __future__ import annotations

import os

import keras_helpers as kh
import pytest

from tb_callbacks_plugin import callbacks
from tb_callbacks_plugin.eventfiles.hparams import read_hparams, read_sessions

optuna = pytest.importorskip("optuna")
optuna_integration = pytest.importorskip("optuna_integration")

# Trial 0 learns nothing (val_loss stays near ln 10 = 2.3) and is pruned at
# its second epoch (the pruner waits one); trial 1 is below the threshold.
TRIALS = [{"learning_rate": 1e-5, "units": 4}, {"learning_rate": 0.05, "units": 16}]
THRESHOLD = 2.0
EPOCHS = 3


def _objective(logdir: str, with_hparams_callback: bool = False):
    def objective(trial):
        lr = trial.suggest_float("learning_rate", 1e-6, 0.1, log=True)
        units = trial.suggest_int("units", 4, 16)
        kh.seed(0)
        log_dir = os.path.join(logdir, f"trial_{trial.number}")
        cbs = [
            callbacks.TensorBoard(log_dir),
            optuna_integration.KerasPruningCallback(trial, "val_loss"),
        ]
        if with_hparams_callback:
            from tensorboard.plugins.hparams import api as hp

            cbs.append(hp.KerasCallback(log_dir, {"lr": lr, "units": units, "mine": True}))
        history = kh.fit(kh.classifier(lr=lr, hidden=units), cbs, epochs=EPOCHS)
        return history.history["val_loss"][-1]

    return objective


def _study(logdir: str, **kwargs):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize", pruner=optuna.pruners.ThresholdPruner(upper=THRESHOLD, n_warmup_steps=1)
    )
    for params in TRIALS:
        study.enqueue_trial(params)
    study.optimize(_objective(logdir, **kwargs), n_trials=len(TRIALS))
    return study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("optuna") / "logs")
    return logdir, _study(logdir)


def test_the_study_pruned_the_first_trial(study):
    _, s = study
    assert [t.state for t in s.trials] == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]


def test_a_pruned_trial_ends_as_pruned_with_its_trial(study):
    logdir, _ = study
    (end,) = kh.events(logdir, "train_end", run="trial_0/train")
    assert end.data["reason"] == "pruned"
    assert end.epoch == 1 and end.data["last_epoch"] == 1
    assert end.data["pruner_message"] == "Trial was pruned at epoch 1."
    assert end.data["trial"] == {"tuner": "optuna", "id": "0", "number": 0, "params": TRIALS[0]}
    assert "exception" not in end.data and "error" not in end.data
    pruner = '(the pruner: "Trial was pruned at epoch 1.")'
    assert end.message == f"training pruned by the search at epoch 2 {pruner}"


def test_the_completed_trial_ends_as_completed(study):
    logdir, _ = study
    (begin,) = kh.events(logdir, "train_begin", run="trial_1/train")
    (end,) = kh.events(logdir, "train_end", run="trial_1/train")
    assert end.data["reason"] == "completed" and end.epoch == EPOCHS - 1
    # The trial is told at train_begin; an ending that is not the search's does not repeat it.
    assert begin.data["trial"] == {"tuner": "optuna", "id": "1", "number": 1, "params": TRIALS[1]}
    assert "trial" not in end.data


def test_every_epoch_before_the_prune_is_on_disk(study):
    logdir, _ = study
    series = kh.scalar_series(os.path.join(logdir, "trial_0", "validation"))
    # The pruning callback raised in epoch 1's on_epoch_end after ours wrote it.
    assert [step for step, _ in series["epoch_loss"]] == [0, 1]


def test_each_trial_is_an_hparams_session(study):
    logdir, _ = study
    assert read_hparams(logdir) == {"trial_0": TRIALS[0], "trial_1": TRIALS[1]}
    assert [s.run for s in read_sessions(logdir)] == ["trial_0", "trial_1"]


def test_the_users_own_hparams_callback_is_not_doubled(tmp_path):
    logdir = str(tmp_path / "logs")
    _study(logdir, with_hparams_callback=True)
    sessions = read_sessions(logdir)
    assert [s.run for s in sessions] == ["trial_0", "trial_1"]
    assert all(s.hparams["mine"] is True for s in sessions)
