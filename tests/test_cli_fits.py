"""Several fits into one log_dir: `summary`, `plot`, `events` and `events_dataframe`.

The notebook habit: two fits of one model (steps continue, Keras numbers
the epochs from 0 again), then a fresh model (steps restart at 0), all into
one log_dir. Golden outputs come from a logdir with fixed wall times (as in
test_cli.py; `UPDATE_GOLDEN=1` regenerates them for review); the last test
runs real fits and checks the summary against Keras's own History.
"""

from __future__ import annotations

import json
import os

import pytest

from tb_callbacks_plugin import EventWriter, events_dataframe, read_events
from tb_callbacks_plugin.cli import main as cli
from tests.test_cli import T0, check_golden, keras_scalar, run_cli

# (first step, val_loss per epoch, lr per epoch) of each fit; the numbers of issue 14.
FITS = [
    (0, [6.34, 5.04, 4.30, 3.90], [0.01] * 4),
    (40, [3.66, 3.53, 3.478, 3.561], [0.01, 0.01, 0.005, 0.005]),
    (0, [6.90, 5.55, 4.572], [0.02] * 3),
]
STEPS_PER_EPOCH = 10


def write_fits(logdir: str, name: str = "notebook") -> None:
    """Three fits as callbacks.TensorBoard writes them: a new writer per fit and run."""
    for index, (first, val_losses, lrs) in enumerate(FITS):
        t0 = T0 + 100 * index
        train = EventWriter(os.path.join(logdir, name, "train"))
        val = EventWriter(os.path.join(logdir, name, "validation"))
        train.write(
            "train_begin",
            first,
            "training started",
            epoch=0,
            source=None,
            wall_time=t0,
            epochs=len(val_losses),
            steps=STEPS_PER_EPOCH,
            initial_epoch=0,
        )
        for epoch, (val_loss, lr) in enumerate(zip(val_losses, lrs, strict=True)):
            t = t0 + epoch + 1
            step = first + (epoch + 1) * STEPS_PER_EPOCH
            train.write_summary(keras_scalar("epoch_loss", val_loss - 0.5), epoch, wall_time=t)
            train.write_summary(keras_scalar("epoch_learning_rate", lr), epoch, wall_time=t)
            train.write_epoch(epoch, step, wall_time=t)
            val.write_summary(keras_scalar("epoch_loss", val_loss), epoch, wall_time=t)
            if epoch and lr != lrs[epoch - 1]:
                train.write(
                    "lr_change",
                    step,
                    f"learning rate {lrs[epoch - 1]} -> {lr}",
                    epoch=epoch,
                    source="ReduceLROnPlateau",
                    wall_time=t + 0.1,
                    old=lrs[epoch - 1],
                    new=lr,
                )
        last = len(val_losses) - 1
        train.write(
            "train_end",
            first + len(val_losses) * STEPS_PER_EPOCH,
            "training completed",
            epoch=last,
            source=None,
            wall_time=t0 + len(val_losses) + 0.5,
            reason="completed",
        )
        train.close()
        val.close()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("fits") / "logs")
    write_fits(root)
    return root


def test_events_know_their_fit(logdir, capsys):
    events = read_events(logdir)
    begins = [e for e in events if e.kind == "train_begin"]
    assert sorted(e.fit for e in begins) == [0, 1, 2]
    for e in events:
        # An event belongs to the last fit that began before it.
        began = max(b.wall_time for b in begins if b.wall_time <= e.wall_time)
        assert e.fit == next(b.fit for b in begins if b.wall_time == began), e
    (lr,) = [e for e in events if e.kind == "lr_change"]
    assert lr.fit == 1
    frame = events_dataframe(logdir)
    assert frame["fit"].dtype == "int64"
    assert frame.groupby("fit").size().to_dict() == {0: 2, 1: 3, 2: 2}
    code, out, _ = run_cli(capsys, "events", logdir, "--format", "jsonl")
    assert code == 0
    assert [json.loads(line)["fit"] for line in out.splitlines()] == [e.fit for e in events]
    code, out, _ = run_cli(capsys, "events", logdir)
    assert out.splitlines()[0].split()[:3] == ["RUN", "FIT", "STEP"]
    check_golden("events_fits.txt", out)


def test_summary_has_a_line_per_fit(logdir, capsys):
    code, out, err = run_cli(capsys, "summary", logdir)
    assert code == 0, err
    check_golden("summary_fits.txt", out)
    code, out, _ = run_cli(capsys, "summary", logdir, "--format", "json")
    lines = json.loads(out)
    assert [line["fit"] for line in lines] == [0, 1, 2]
    for line, (_, val_losses, lrs) in zip(lines, FITS, strict=True):
        assert line["epochs"] == len(val_losses)
        assert line["best"] == pytest.approx(min(val_losses))
        assert line["best_epoch"] == val_losses.index(min(val_losses))
        assert line["final"] == pytest.approx(val_losses[-1])
        assert line["lr_changes"] == sum(a != b for a, b in zip(lrs, lrs[1:], strict=False))
        assert line["ended"] == "completed"


def test_summary_of_a_log_dir_passed_itself_names_it(logdir, capsys):
    code, out, _ = run_cli(capsys, "summary", os.path.join(logdir, "notebook"), "--format", "json")
    assert code == 0
    assert {line["experiment"] for line in json.loads(out)} == {"notebook"}


def _figure(logdir, tmp_path, monkeypatch, *argv):
    import matplotlib.figure

    saved = {}
    original = matplotlib.figure.Figure.savefig

    def keep(self, *args, **kwargs):
        saved["fig"] = self
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    assert cli.main(["plot", logdir, "-o", str(tmp_path / "fits.png"), *argv]) == 0
    return saved["fig"]


def _drawn(fig) -> dict:
    """Each panel's labelled lines as (x, y) lists: what the figure says, for a golden file."""
    out = {}
    for ax in fig.axes:
        if not ax.get_title():
            continue
        out[ax.get_title()] = {
            line.get_label(): [
                [float(x), round(float(y), 6)]
                for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
            ]
            for line in ax.get_lines()
            if not line.get_label().startswith("_")
        }
    return out


def test_plot_keeps_fits_apart_on_their_own_steps(logdir, tmp_path, monkeypatch):
    fig = _figure(logdir, tmp_path, monkeypatch)
    drawn = _drawn(fig)
    golden = [
        f"{title} | {label}: {json.dumps(points)}"
        for title, lines in drawn.items()
        for label, points in lines.items()
    ]
    check_golden("plot_fits.txt", "\n".join(golden) + "\n")
    loss = drawn["notebook · epoch_loss"]
    for fit, (first, val_losses, _) in enumerate(FITS):
        points = loss[f"validation · fit {fit}"]
        # Each fit at its own steps: fit 1 continues after fit 0, fit 2 restarts at 0.
        assert [x for x, _ in points] == [first + (e + 1) * STEPS_PER_EPOCH for e in range(len(val_losses))]
        assert [y for _, y in points] == pytest.approx(val_losses)
    # The learning rate steps down at the lr_change event's step, not an epoch early.
    (change,) = [e for e in read_events(logdir) if e.kind == "lr_change"]
    lr = drawn["notebook · epoch_learning_rate"]["train · fit 1"]
    drops = [(x, y) for (x, y), (_, before) in zip(lr[1:], lr, strict=False) if y < before]
    assert drops == [(float(change.step), pytest.approx(0.005))]
    assert all(y == pytest.approx(0.01) for x, y in lr if x < change.step)
    fig.savefig(tmp_path / "fits.png")
    shots = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test-output", "cli")
    os.makedirs(shots, exist_ok=True)
    fig.savefig(os.path.join(shots, "plot-repeated-fits.png"))


def test_summary_of_real_repeated_fits_matches_history(tmp_path, capsys):
    import keras
    import numpy as np

    from tb_callbacks_plugin import callbacks

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")

    def model():
        m = keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
        )
        m.compile(keras.optimizers.SGD(0.01), "mse")
        return m

    log_dir = str(tmp_path / "nb")
    histories = []
    first = model()
    for m, epochs in ((first, 3), (first, 2), (model(), 3)):
        h = m.fit(
            x,
            y,
            validation_split=0.25,
            epochs=epochs,
            batch_size=32,
            verbose=0,
            callbacks=[callbacks.TensorBoard(log_dir)],
        )
        histories.append(h.history["val_loss"])
    code, out, err = run_cli(capsys, "summary", str(tmp_path), "--format", "json")
    assert code == 0, err
    lines = json.loads(out)
    assert [line["fit"] for line in lines] == [0, 1, 2]
    for line, val_loss in zip(lines, histories, strict=True):
        assert line["epochs"] == len(val_loss)
        assert line["best"] == pytest.approx(min(val_loss), rel=1e-5)
        assert line["final"] == pytest.approx(val_loss[-1], rel=1e-5)
    begins = sorted(
        (e for e in read_events(str(tmp_path)) if e.kind == "train_begin"), key=lambda e: e.wall_time
    )
    batches = -(-192 // 32)  # 256 samples, a quarter held out for validation
    # The second fit of the same model continues its steps; the fresh model restarts at 0.
    assert [e.step for e in begins] == [0, 3 * batches, 0]
    assert [e.fit for e in begins] == [0, 1, 2]
