"""Each trial's outcome beside its hyperparameters in TensorBoard's HParams dashboard.

A small search of real fits: an Optuna study (one trial pruned, one
completed with its rate cut and checkpoints written) and a plain trial with
TensorBoard's hparams callback that diverges (NaN). callbacks.TensorBoard
writes each fit's outcome as scalars `callback_events/<name>`; a real
`tensorboard` on both loaders answers the HParams plugin's own routes
(`experiment`, `session_groups`) with those scalars as metric columns of each
trial's session group, beside the hyperparameters. Keras's own tags are
untouched, and the tab's `tags` route (metric curves to chart) leaves the
outcome scalars out.
"""

from __future__ import annotations

import json
import os
import urllib.parse

import keras_helpers as kh
import pytest
from tb_server import tensorboard

from tb_callbacks_plugin import callbacks, conventions

optuna = pytest.importorskip("optuna")
optuna_integration = pytest.importorskip("optuna_integration")
hp = pytest.importorskip("tensorboard.plugins.hparams.api")

EPOCHS = 3
OUTCOME = {conventions.outcome_tag(name) for name in conventions.OUTCOME_TAGS}


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("dash")
    logdir = str(root / "logs")

    def objective(trial):
        lr = trial.suggest_float("learning_rate", 1e-6, 0.1, log=True)
        kh.seed(0)
        log_dir = os.path.join(logdir, f"optuna_{trial.number}")
        cbs = [
            callbacks.TensorBoard(log_dir),
            callbacks.ReduceLROnPlateau(monitor="loss", min_delta=100, patience=1, factor=0.5),
            callbacks.ModelCheckpoint(str(root / f"ckpt_{trial.number}.weights.h5"), save_weights_only=True),
            optuna_integration.KerasPruningCallback(trial, "val_loss"),
        ]
        return kh.fit(kh.classifier(lr=lr), cbs, epochs=EPOCHS).history["val_loss"][-1]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=2.0, n_warmup_steps=1))
    study.enqueue_trial({"learning_rate": 1e-5})  # learns nothing: pruned at epoch 1
    study.enqueue_trial({"learning_rate": 0.05})
    study.optimize(objective, n_trials=2)
    # A plain trial, its hyperparameters through TensorBoard's own callback.
    kh.seed(0)
    log_dir = os.path.join(logdir, "diverging")
    cbs = [
        callbacks.TensorBoard(log_dir),
        callbacks.TerminateOnNaN(),
        hp.KerasCallback(log_dir, {"learning_rate": 1e6}),
    ]
    kh.fit(kh.diverging_regressor(lr=1e6), cbs, epochs=EPOCHS)
    return logdir


# session group -> the outcome each must show: name -> value
EXPECTED = {
    # Pruned in epoch 1: one rate cut (epoch 1's end, before the pruner raised), two checkpoints.
    "optuna_0": {"ending": 3, "ended_early": 1, "end_epoch": 1, "lr_changes": 1, "checkpoints": 2},
    "optuna_1": {"ending": 0, "ended_early": 0, "end_epoch": 2, "lr_changes": 2, "checkpoints": 3},
    "diverging": {"ending": 2, "ended_early": 1, "end_epoch": 0, "lr_changes": 0, "checkpoints": 0},
}


def test_each_fit_wrote_its_outcome_scalars_described(logdir):
    for experiment, expected in EXPECTED.items():
        acc = kh.accumulate(os.path.join(logdir, experiment, "train"))
        series = kh.scalar_series(os.path.join(logdir, experiment, "train"))
        got = {tag: values for tag, values in series.items() if conventions.is_outcome_tag(tag)}
        assert set(got) == OUTCOME, experiment
        for name, value in expected.items():
            (point,) = got[conventions.outcome_tag(name)]
            assert point[1] == value, (experiment, name, point)
        assert acc.SummaryMetadata("callback_events/ending").summary_description.startswith(
            "How the fit ended: 0 completed, 1 early_stop, 2 nan, 3 pruned"
        )
        # The validation run and Keras's own tags are as Keras writes them.
        assert not any(
            conventions.is_outcome_tag(t)
            for t in kh.scalar_series(os.path.join(logdir, experiment, "validation"))
        )
    final = kh.scalar_series(os.path.join(logdir, "optuna_1", "train"))["callback_events/final_learning_rate"]
    assert final[0][1] == pytest.approx(0.05 / 4)


def _hparams(tb, route: str, request: dict) -> dict:
    query = urllib.parse.urlencode({"request": json.dumps(request)})
    return tb.get_json(f"/data/plugin/hparams/{route}?{query}")


def _metric_key(name: dict) -> tuple[str, str]:
    return name.get("group", ""), name["tag"]


@pytest.mark.parametrize("load_fast", [True, False])
def test_the_hparams_dashboard_shows_outcomes_beside_hyperparameters(logdir, load_fast):
    with tensorboard(logdir, load_fast=load_fast, tensorflow=False) as tb:

        def experiment():
            answer = _hparams(tb, "experiment", {"experimentName": "", "includeMetrics": True})
            metrics = {_metric_key(m["name"]) for m in answer.get("metricInfos", [])}
            return answer if {("train", t) for t in OUTCOME} <= metrics else None

        answer = tb.wait_for(experiment, timeout=90)
        assert {h["name"] for h in answer["hparamInfos"]} == {"learning_rate"}
        metrics = [m["name"] for m in answer["metricInfos"]]
        # Keras's own epoch metrics are columns too, as TensorBoard lists every scalar.
        assert {"group": "validation", "tag": "epoch_loss"} in metrics
        cols = [{"hparam": "learning_rate", "order": "ORDER_ASC", "includeInResult": True}] + [
            {"metric": m, "includeInResult": True} for m in metrics
        ]
        groups = _hparams(
            tb,
            "session_groups",
            {
                "experimentName": "",
                "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
                "colParams": cols,
                "startIndex": 0,
                "sliceSize": 100,
                "includeMetrics": True,
            },
        )["sessionGroups"]
        # A group is named by its group name (a hash of the hyperparameters for
        # hp.KerasCallback without a trial id), each session by its run.
        by_name = {session["name"]: g for g in groups for session in g["sessions"]}
        assert set(by_name) >= set(EXPECTED), sorted(by_name)
        for experiment, expected in EXPECTED.items():
            group = by_name[experiment]
            values = {_metric_key(v["name"]): v["value"] for v in group["metricValues"]}
            for name, value in expected.items():
                assert values[("train", conventions.outcome_tag(name))] == value, (
                    experiment,
                    name,
                    load_fast,
                )
        rates = {name: by_name[name]["hparams"]["learning_rate"] for name in EXPECTED}
        assert rates == {"optuna_0": 1e-5, "optuna_1": 0.05, "diverging": 1e6}
        # The tab's metric picker does not offer the outcome scalars.
        tags = tb.plugin_json("tags?run=optuna_1/train")
        offered = {t for run_tags in tags["runs"].values() for t in run_tags}
        assert "epoch_loss" in offered and not offered & OUTCOME
