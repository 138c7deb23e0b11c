"""A Ray Tune search with ASHA on a local cluster: the trials its scheduler stops are named as such.

Real Ray (`ray.init(num_cpus=2)`), Ray's own `Tuner`, ASHA, real fits in
Ray's worker processes. Ray stops a trial inside the report call (a
`SystemExit(0)` raised there by Ray's session) and may end the worker's
process right after: the trial's `train_end` must say
`stopped_by_scheduler`, and every earlier event and scalar must be on disk.
The trials run one at a time, so that ASHA's decisions do not depend on which
trial reaches a rung first: the first trial learns, the two after it do not,
and each is stopped at its first rung. A second search writes every trial to
`s3://` on a local S3 server (moto, as tests/test_remote.py runs it): the
reader, `summary` and `export` work from there.
"""

from __future__ import annotations

import os

import keras_helpers as kh
import pytest
import test_remote

from tb_callbacks_plugin import read_events, scalars_dataframe
from tb_callbacks_plugin.eventfiles.hparams import read_hparams

ray = pytest.importorskip("ray")
tune = pytest.importorskip("ray.tune")

EPOCHS = 3
RATES = [0.05, 1e-5, 2e-5]
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
# The local S3 server (moto) of the remote-storage tests, with the AWS settings it needs.
s3 = test_remote.s3


def train_fn(config, logdir):
    """The trainable: a fit per trial, reporting val_loss to Tune at each epoch's end."""
    import keras

    from tb_callbacks_plugin import callbacks

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            tune.report({"val_loss": float(logs["val_loss"])})

    kh.seed(0)
    log_dir = os.path.join(logdir, tune.get_context().get_trial_id())
    model = kh.classifier(lr=config["learning_rate"], hidden=config["model"]["units"])
    kh.fit(model, [callbacks.TensorBoard(log_dir), Report()], epochs=EPOCHS)


def _start_ray(attempts: int = 3, **kwargs) -> None:
    """`ray.init`, started afresh when the local node did not come up. Ray's
    raylet gives its metrics agent a fixed 15 s to write its port file and
    exits when it has not (ray-project/ray#65983): on a loaded machine the
    agent's imports alone can take longer, and a second node starts warm."""
    for attempt in range(attempts):
        try:
            ray.init(**kwargs)
            return
        except Exception:
            ray.shutdown()
            if attempt == attempts - 1:
                raise


@pytest.fixture(scope="module")
def cluster(s3):
    """A local Ray cluster whose workers reach the S3 server as this process does."""
    # Workers import this module's train_fn and keras_helpers by name.
    pythonpath = os.pathsep.join(p for p in (TESTS_DIR, os.environ.get("PYTHONPATH")) if p)
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    _start_ray(
        num_cpus=2,
        object_store_memory=80 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": pythonpath, "TF_CPP_MIN_LOG_LEVEL": "2", **aws}},
    )
    try:
        yield
    finally:
        ray.shutdown()


def _tune(logdir: str, rates: list[float], storage: str):
    from ray.tune.schedulers import ASHAScheduler

    tuner = tune.Tuner(
        tune.with_parameters(train_fn, logdir=logdir),
        param_space={"learning_rate": tune.grid_search(rates), "model": {"units": 8, "name": "dense"}},
        tune_config=tune.TuneConfig(
            scheduler=ASHAScheduler(
                metric="val_loss", mode="min", max_t=EPOCHS, grace_period=1, reduction_factor=2
            ),
            max_concurrent_trials=1,
        ),
        run_config=tune.RunConfig(storage_path=storage, name="asha", verbose=0),
    )
    return tuner.fit()


@pytest.fixture(scope="module")
def search(cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("ray")
    logdir = str(root / "logs")
    return logdir, _tune(logdir, RATES, str(root / "ray_results"))


@pytest.fixture(scope="module")
def s3_search(cluster, s3, tmp_path_factory):
    """The search with every trial writing to s3://: what is read, summarised and exported from there."""
    s3.client.create_bucket(Bucket="sweeps")
    logdir = "s3://sweeps/logs"
    return logdir, _tune(logdir, RATES[:2], str(tmp_path_factory.mktemp("ray_s3") / "ray_results"))


def test_a_trial_ray_stops_is_on_shared_storage_before_its_worker_is_killed(cluster, s3, tmp_path):
    """Tune's stop of a trial, then its worker killed at once: the trial's end is in the store already.

    The sequence Tune runs for a trial its scheduler stops, on a real Ray
    actor of Ray's own function trainable: `train` (the fit up to its first
    report), `stop` (Ray's cleanup wakes the training thread to raise in its
    report call, without joining it), then the actor's end, here `ray.kill`:
    Tune drops the actor, and the raylet's SIGKILL follows its SIGTERM by
    about 0.2 s, which is no time for the uploads of a fit's end to s3.
    """
    from ray.train._internal.storage import StorageContext
    from ray.tune.trainable.function_trainable import wrap_function

    s3.client.create_bucket(Bucket="killed")
    logdir = "s3://killed/logs"
    trainable = ray.remote(wrap_function(tune.with_parameters(train_fn, logdir=logdir)))
    storage = StorageContext(storage_path=str(tmp_path), experiment_dir_name="killed", trial_dir_name="trial")
    actor = trainable.remote(config={"learning_rate": 1e-5, "model": {"units": 8}}, storage=storage)
    assert ray.get(actor.train.remote())["val_loss"] > 0
    ray.get(actor.stop.remote())
    ray.kill(actor)
    (experiment, events), = _by_rate(logdir).values()
    assert [e.kind for e in events] == ["train_begin", "train_end"]
    assert events[-1].data["reason"] == "stopped_by_scheduler"
    # The validation run's flush, which goes before train_end, is there too.
    scalars = scalars_dataframe(logdir, runs=[f"{experiment}/validation"], tags=["epoch_loss"])
    assert scalars["step"].tolist() == [0]


def _by_rate(logdir):
    """learning rate -> (experiment, its train run's events)."""
    hparams = read_hparams(logdir)
    events = read_events(logdir)
    out = {}
    for experiment, params in hparams.items():
        out[params["learning_rate"]] = (experiment, [e for e in events if e.run == f"{experiment}/train"])
    return out


def test_ray_ran_every_trial_and_asha_stopped_the_bad_ones(search):
    _, results = search
    iterations = sorted(
        (r.config["learning_rate"], r.metrics["training_iteration"]) for r in results if r.metrics
    )
    assert iterations == [(1e-5, 1), (2e-5, 1), (0.05, EPOCHS)]


def test_each_trial_is_an_hparams_session_with_its_flattened_config(search):
    logdir, _ = search
    hparams = read_hparams(logdir)
    assert sorted(p["learning_rate"] for p in hparams.values()) == sorted(RATES)
    assert all(p["model/units"] == 8.0 and p["model/name"] == "dense" for p in hparams.values())


def test_a_stopped_trial_ends_as_stopped_by_scheduler(search):
    logdir, _ = search
    for rate in (1e-5, 2e-5):
        experiment, events = _by_rate(logdir)[rate]
        assert [e.kind for e in events] == ["train_begin", "train_end"]
        end = events[-1]
        assert end.data["reason"] == "stopped_by_scheduler", end
        assert end.epoch == 0 and end.message == "training stopped by the search's scheduler at epoch 1"
        assert end.data["trial"]["tuner"] == "ray" and end.data["trial"]["id"] == experiment
        assert end.data["trial"]["params"]["learning_rate"] == rate
        # The epoch's scalars were written before the report call stopped it.
        series = kh.scalar_series(os.path.join(logdir, experiment, "validation"))
        assert [step for step, _ in series["epoch_loss"]] == [0]


def test_the_trial_asha_kept_completed(search):
    logdir, _ = search
    _, events = _by_rate(logdir)[0.05]
    assert events[0].data["trial"]["tuner"] == "ray"
    assert events[-1].kind == "train_end" and events[-1].data["reason"] == "completed"
    assert events[-1].epoch == EPOCHS - 1


def test_a_search_on_shared_storage_is_read_summarised_and_exported_from_there(s3_search, tmp_path, capsys):
    from tb_callbacks_plugin.cli import main as cli

    logdir, _ = s3_search
    by_rate = _by_rate(logdir)
    assert set(by_rate) == {0.05, 1e-5}
    assert by_rate[1e-5][1][-1].data["reason"] == "stopped_by_scheduler"
    assert by_rate[0.05][1][-1].data["reason"] == "completed"
    assert cli.main(["summary", logdir]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2 trials: 1 completed, 1 stopped by scheduler"
    assert lines[2].split()[0] == by_rate[0.05][0]  # the trial that learned, best first
    duckdb = pytest.importorskip("duckdb")
    assert cli.main(["export", logdir, "-o", str(tmp_path / "out")]) == 0
    rows = duckdb.sql(
        f"""
        SELECT CAST(hparams->>'learning_rate' AS DOUBLE) AS lr, data_reason
        FROM read_parquet('{tmp_path}/out/events.parquet/*/*.parquet') WHERE kind = 'train_end' ORDER BY lr
        """
    ).fetchall()
    assert rows == [(1e-5, "stopped_by_scheduler"), (0.05, "completed")]
