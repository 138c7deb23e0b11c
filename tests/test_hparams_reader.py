"""read_hparams: each experiment's hyperparameters from files TensorBoard's hparams API wrote in real fits.

The files come from `tensorboard.plugins.hparams.api` (its Keras callback,
which KerasTuner uses, and `hp.hparams` under a default writer), beside
`callbacks.TensorBoard`; the reader must agree with TensorBoard's own parse of
the same records and must not need TensorFlow.
"""

from __future__ import annotations

import os
import subprocess
import sys

import keras_helpers as kh
import pytest

from tb_callbacks_plugin import callbacks
from tb_callbacks_plugin.eventfiles.hparams import read_hparams, read_sessions

tf = pytest.importorskip("tensorflow")
hp = pytest.importorskip("tensorboard.plugins.hparams.api")

TRIALS = {
    "trial_a": {"learning_rate": 0.01, "units": 8, "optimizer": "adam", "dropout": False},
    "trial_b": {"learning_rate": 0.1, "units": 16, "optimizer": "sgd", "dropout": True},
}


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """A logdir of two trials through hp.KerasCallback, a third through hp.hparams in its train run."""
    logdir = str(tmp_path_factory.mktemp("search") / "logs")
    for name, params in TRIALS.items():
        kh.seed(0)
        log_dir = os.path.join(logdir, name)
        model = kh.classifier(
            lr=params["learning_rate"], optimizer=params["optimizer"], hidden=params["units"]
        )
        kh.fit(
            model,
            [callbacks.TensorBoard(log_dir), hp.KerasCallback(log_dir, params, trial_id=name)],
            epochs=2,
        )
    # A user writing the session record through the default writer of a run
    # of its own: the session is "trial_c/train", its experiment "trial_c".
    with tf.summary.create_file_writer(os.path.join(logdir, "trial_c", "train")).as_default():
        hp.hparams({"learning_rate": 0.5, "units": 4})
    return logdir


def test_each_experiment_has_its_hyperparameters(search):
    assert read_hparams(search) == {
        "trial_a": {"dropout": False, "learning_rate": 0.01, "optimizer": "adam", "units": 8.0},
        "trial_b": {"dropout": True, "learning_rate": 0.1, "optimizer": "sgd", "units": 16.0},
        "trial_c": {"learning_rate": 0.5, "units": 4.0},
    }


def test_sessions_name_their_run_and_group(search):
    sessions = read_sessions(search)
    assert [(s.run, s.experiment, s.group_name) for s in sessions] == [
        ("trial_a", "trial_a", "trial_a"),
        ("trial_b", "trial_b", "trial_b"),
        ("trial_c/train", "trial_c", sessions[2].group_name),
    ]
    assert sessions[2].group_name  # hp.hparams without a trial id names the group by a hash
    # The Keras callback writes when the fit begins: before the fit's last event.
    ends = {e.run: e.wall_time for e in kh.events(search, "train_end", run="trial_a/train")}
    assert sessions[0].wall_time < ends["trial_a/train"]


def test_agrees_with_tensorboards_own_parse(search):
    """TensorBoard's EventAccumulator and hparams metadata read the same record the same way."""
    from tensorboard.plugins.hparams import metadata as hp_metadata

    acc = kh.accumulate(os.path.join(search, "trial_b"))
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = hp_metadata.parse_session_start_info_plugin_data(content)
    theirs = {k: getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()}
    assert read_hparams(search)["trial_b"] == theirs


def test_runs_limit_what_is_read(search):
    assert read_hparams(search, runs=["trial_b", "trial_b/train", "trial_b/validation"]) == {
        "trial_b": {"dropout": True, "learning_rate": 0.1, "optimizer": "sgd", "units": 16.0}
    }
    assert read_hparams(search, runs=["trial_a/train", "trial_a/validation"]) == {}


def test_a_later_session_of_one_experiment_wins(search, tmp_path):
    """Two fits into one log_dir, each with its session record: the last one's values."""
    logdir = str(tmp_path / "logs")
    for lr in (0.01, 0.02):
        kh.seed(0)
        kh.fit(kh.classifier(lr=lr), [hp.KerasCallback(logdir, {"learning_rate": lr})], epochs=1)
    assert [s.hparams for s in read_sessions(logdir)] == [{"learning_rate": 0.01}, {"learning_rate": 0.02}]
    assert read_hparams(logdir) == {".": {"learning_rate": 0.02}}


def test_reads_without_importing_tensorflow(search):
    code = (
        "import sys\n"
        "from tb_callbacks_plugin.eventfiles.hparams import read_hparams\n"
        f"h = read_hparams({search!r})\n"
        "assert h['trial_a']['optimizer'] == 'adam', h\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_logdir_without_hparams_has_none(search):
    # trial_a/train holds callbacks.TensorBoard's scalars and events only.
    assert read_hparams(os.path.join(search, "trial_a", "train")) == {}
