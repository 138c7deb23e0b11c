"""`tb-callbacks events` prints why each callback acted; `plot --explain` draws it; both from real fits.

The `stall` experiment monitors `val_stall`, a metric a callback first in the
list writes into the epoch's logs from a script (so it stalls on known
epochs); Keras's TensorBoard writes it like any metric (`validation`,
`epoch_stall`). The `noval` experiment saves "best" checkpoints on
`val_loss` without validation data: its monitor was never written.
"""

from __future__ import annotations

import math
import os

import keras
import keras_helpers as kh
import pytest

from tb_callbacks_plugin import explain, read_events
from tb_callbacks_plugin.cli import explain_plot, loading
from tb_callbacks_plugin.cli import main as cli

STALL = [1.0, 0.8, 0.6, 0.595, 0.59, 0.7, 0.5, 0.4]
STOP_SENTENCE = (
    "val_stall did not improve on 0.6 (epoch 3) by more than 0.01 for 3 epochs (epochs 4-6): "
    "stopped at epoch 6; the weights of epoch 3 are restored"
)


class Scripted(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs["val_stall"] = STALL[epoch]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    from tb_callbacks_plugin import callbacks

    root = tmp_path_factory.mktemp("explain")
    logs = str(root / "logs")
    kh.seed(5)
    stall = [
        Scripted(),
        callbacks.ReduceLROnPlateau(monitor="val_stall", mode="min", patience=1, cooldown=1, factor=0.5),
        callbacks.EarlyStopping(
            monitor="val_stall", mode="min", min_delta=0.01, patience=3, restore_best_weights=True
        ),
        callbacks.TensorBoard(os.path.join(logs, "stall")),
    ]
    kh.fit(kh.classifier(), stall, epochs=len(STALL))
    kh.seed(5)
    noval = [
        callbacks.ModelCheckpoint(str(root / "b.keras"), monitor="val_loss", save_best_only=True),
        callbacks.TensorBoard(os.path.join(logs, "noval")),
    ]
    with pytest.warns(UserWarning, match="val_loss"):
        kh.fit(kh.classifier(), noval, epochs=2, validation_split=0.0)
    kh.seed(0)
    nan = [callbacks.TerminateOnNaN(), callbacks.TensorBoard(os.path.join(logs, "nan"), update_freq=1)]
    kh.fit(kh.diverging_regressor(), nan, epochs=3)
    return logs


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_events_table_prints_the_sentence(logdir, capsys):
    code, out, err = run_cli(capsys, "events", logdir, "--run", "stall", "--max-width", "0")
    assert code == 0, err
    header, *lines = out.splitlines()
    assert "WHY" in header.split()
    (stop_line,) = [line for line in lines if " early_stop " in line]
    assert STOP_SENTENCE in stop_line
    for event in read_events(logdir):
        if event.run == "stall/train" and event.kind == "lr_change":
            fields = {"kind": event.kind, "step": event.step, "epoch": event.epoch, "source": event.source}
            sentence = explain.explain({**fields, "data": event.data})["sentence"]
            assert any(sentence in line for line in lines), sentence


def test_plot_explain_draws_the_decisions_on_the_written_metric(logdir, capsys, tmp_path):
    png = tmp_path / "why.png"
    code, out, err = run_cli(capsys, "plot", logdir, "--run", "^stall/", "--explain", "-o", png)
    assert code == 0, err
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    assert STOP_SENTENCE in out
    # What was drawn: the series read back is the scripted one, and the marks sit on it.
    runs, events, metrics = loading.load(logdir, "^stall/", progress=False, scalars=True)
    items = explain_plot.explained(events, metrics, runs)
    (stop, series) = next((o, s) for o, s in items if o["kind"] == "early_stop")
    assert stop["metric_written"] is True
    assert [series[e] for e in sorted(series)] == pytest.approx(STALL[:6])
    assert stop["best"] == {"epoch": 2, "value": pytest.approx(series[2])}
    assert (
        stop["threshold"] == pytest.approx(0.59) and stop["window"] == [3, 5] and stop["restored_epoch"] == 2
    )
    cuts = [o for o, _ in items if o["kind"] == "lr_change"]
    assert cuts and all(c["window"] and c["cooldown"] == [c["epoch"] + 1, c["epoch"] + 1] for c in cuts)
    for cut in cuts:
        # ReduceLROnPlateau keeps no best_epoch: it is found in the series, where best was first reached.
        assert series[cut["best"]["epoch"]] == pytest.approx(cut["best"]["value"])


def test_plot_explain_says_when_the_monitor_was_not_written(logdir, capsys, tmp_path):
    png = tmp_path / "noval.png"
    code, out, err = run_cli(capsys, "plot", logdir, "--run", "^noval/", "--explain", "-o", png)
    assert code == 0, err
    assert png.exists()
    saves = [line for line in out.splitlines() if "checkpoint_saved" in line]
    assert saves and all("val_loss was not written to the logs" in line for line in saves)


def test_plot_explain_draws_a_nan_stop_on_the_batch_loss(logdir, capsys, tmp_path):
    png = tmp_path / "nan.png"
    code, out, err = run_cli(capsys, "plot", logdir, "--run", "^nan/", "--explain", "-o", png)
    assert code == 0, err
    runs, events, metrics = loading.load(logdir, "^nan/", progress=False, scalars=True)
    ((stop, series),) = [
        (o, s) for o, s in explain_plot.explained(events, metrics, runs) if o["kind"] == "nan_terminated"
    ]
    (event,) = [e for e in events if e.kind == "nan_terminated"]
    last, bad = stop["last_finite"], stop["non_finite"]
    assert (last["batch"], last["value"]) == (event.data["last_finite_batch"], event.data["last_finite_loss"])
    assert bad["step"] == event.step and f"at batch {event.data['batch']} of epoch" in stop["sentence"]
    # Drawn where the batch loss was written: the last finite value is the series' own at its step.
    assert series[last["step"]] == pytest.approx(last["value"], rel=1e-6)
    assert all(math.isfinite(series[s]) for s in series if s <= last["step"])
    assert stop["sentence"] in out


def test_plot_explain_wants_one_experiment(logdir, capsys, tmp_path):
    code, _, err = run_cli(capsys, "plot", logdir, "--explain", "-o", tmp_path / "x.png")
    assert code == 2 and "one experiment" in err and "noval" in err and "stall" in err and "nan" in err
