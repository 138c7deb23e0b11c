"""Two processes fitting into one log_dir at once: each fit is its own writer's file, not a time window.

Two real Keras fits on TensorFlow, in two processes, interleaved for real:
at each epoch's end each process writes a file and waits for the other's,
so every epoch after the first of the process that began first ends after
the other began.
Told apart by time, the first fit's later events would count in the second
(a fit with no train_end, another with two). Checked in the reader, the
summary, `plot` (each fit's own line from its own file), and the tab as a
person reads it (each event's fit in its details, in Chromium) on a real
TensorBoard with both loaders and in the report; the tab cannot split metric
points (TensorBoard merges both writers' points of a tag) and says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tb_callbacks_plugin import events_dataframe
from tb_callbacks_plugin.cli import main as cli
from tests.browser import running_browser
from tests.tb_server import tensorboard
from tests.test_cli_fits import _figure as plot_figure
from tests.test_frontend import Tab

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EPOCHS = 3
pytestmark = pytest.mark.timeout(600)

CHILD = r"""
import os, sys, time
name, other, log_dir, gates = sys.argv[1:5]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[5])))
import keras
from tb_callbacks_plugin import callbacks
import keras_helpers

class Gate(callbacks.Callback):
    # Each epoch ends only once the other process ended the same epoch.
    def on_epoch_end(self, epoch, logs=None):
        self.log_event("gate", f"{name} ended epoch {epoch}", epoch=epoch, who=name)
        open(os.path.join(gates, f"{name}-{epoch}"), "w").close()
        deadline = time.monotonic() + 240
        while not os.path.exists(os.path.join(gates, f"{other}-{epoch}")):
            if time.monotonic() > deadline:
                sys.exit("the other process never ended epoch %d" % epoch)
            time.sleep(0.02)

keras_helpers.seed(0)
model = keras_helpers.classifier(lr=0.01, optimizer="sgd")
keras_helpers.fit(model, [callbacks.TensorBoard(log_dir), Gate()], epochs=int(sys.argv[6]))
print("DONE", flush=True)
"""


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrent")
    gates = root / "gates"
    gates.mkdir()
    log_dir = root / "logs" / "shared"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, KERAS_BACKEND="tensorflow")
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, me, other, str(log_dir), str(gates), __file__, str(EPOCHS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    try:
        outputs = [proc.communicate(timeout=500)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0 and "DONE" in output, output[-3000:]
    return root / "logs"


def test_each_fit_is_one_process(logdir):
    frame = events_dataframe(logdir)
    train = frame[frame.run == "shared/train"]
    assert sorted(train.fit.unique().tolist()) == [0, 1]
    begins = train[train.kind == "train_begin"].sort_values("wall_time")
    gates = train[train.kind == "gate"]
    # Interleaved for real: the later fit began before the earlier one's second
    # epoch ended (its first gate is logged before it waits, so may come first).
    assert begins.wall_time.iloc[1] < gates[gates.epoch >= 1].wall_time.min()
    for fit, events in train.groupby("fit"):
        kinds = events.kind.value_counts().to_dict()
        assert kinds.get("train_begin") == 1 and kinds.get("train_end") == 1, (fit, kinds)
        (end,) = events[events.kind == "train_end"].data.tolist()
        assert end["reason"] == "completed"
        fit_gates = events[events.kind == "gate"]
        assert len(fit_gates) == EPOCHS and fit_gates.data.map(lambda d: d["who"]).nunique() == 1, fit
        assert sorted(fit_gates.epoch.tolist()) == list(range(EPOCHS))


def test_summary_has_one_completed_fit_per_process(logdir, capsys):
    assert cli.main(["summary", str(logdir), "--format", "json"]) == 0
    lines = json.loads(capsys.readouterr().out)
    assert len(lines) == 2, lines
    for line in lines:
        # Each process's fit ended once, as it did: no fit without an end, none with two.
        assert line["ended"] == "completed", line
        # Each fit's own metric points and epoch ends, not the other process's.
        assert line["epochs"] == EPOCHS and line["best"] is not None and line["final"] is not None, line


def test_plot_draws_each_process_fit_from_its_own_file(logdir, tmp_path, monkeypatch):
    fig = plot_figure(str(logdir), tmp_path, monkeypatch, "--no-progress")
    (ax,) = [a for a in fig.axes if a.get_title() == "shared · epoch_loss"]
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    frame = events_dataframe(logdir)
    for fit in (0, 1):
        line = lines[f"train · fit {fit}"]
        # Every epoch of each fit at that fit's own epoch ends (its own file's epoch records).
        own = frame[(frame.run == "shared/train") & (frame.fit == fit)]
        ends = own[own.kind == "gate"]
        (begin,) = own[own.kind == "train_begin"].itertuples()
        steps = begin.data["steps"]
        expected = [float(begin.step + (epoch + 1) * steps) for epoch in sorted(ends.epoch)]
        assert list(map(float, line.get_xdata())) == expected, (fit, list(line.get_xdata()))


def epoch_end_steps(logdir) -> dict[int, tuple[float, float]]:
    """Fit -> the global steps of its first and last epoch ends, from its train_begin."""
    frame = events_dataframe(logdir)
    out = {}
    for begin in frame[(frame.run == "shared/train") & (frame.kind == "train_begin")].itertuples():
        steps = begin.data["steps"]
        out[begin.fit] = (float(begin.step + steps), float(begin.step + EPOCHS * steps))
    return out


def fits_shown(page, root) -> dict[str, list[tuple[str, str | None]]]:
    """Fit -> (kind, who) of each event in the table, as its details panel names its fit."""
    rows = root.locator(".table-viewport .grid-row")
    out: dict[str, list[tuple[str, str | None]]] = {}
    for i in range(rows.count()):
        rows.nth(i).click()
        details = root.locator(".details")
        details.wait_for()
        page.wait_for_timeout(30)
        kind = details.locator(".kind-title").inner_text().strip()
        fit = details.locator(".fields dt:text-is('Fit') + dd").inner_text()
        who = details.locator(".data-list dt:text-is('who') + dd")
        out.setdefault(fit, []).append((kind, who.inner_text() if who.count() else None))
    return out


def check_tab(page, root, *, points_known: dict[int, tuple[float, float]] | None) -> None:
    """`points_known`: fit -> the steps of its first and last epoch end, where each point's fit is known."""
    shown = fits_shown(page, root)
    assert sorted(shown) == ["0", "1"], shown
    whos = set()
    for fit, events in shown.items():
        kinds = [kind for kind, _ in events]
        # Each process's fit: its own begin, end and every epoch's gate, none of the other's.
        assert kinds.count("train_begin") == 1 and kinds.count("train_end") == 1, (fit, events)
        gates = {who for kind, who in events if kind == "gate"}
        assert kinds.count("gate") == EPOCHS and len(gates) == 1, (fit, events)
        whos |= gates
    assert whos == {"a", "b"}
    card = root.locator(".chart-card[data-tag=epoch_loss]")
    notes = card.locator(".chart-notes").inner_text()
    legend = card.locator(".legend-run").all_inner_texts()
    if points_known:
        # The report read each point's file: each fit's own line, every epoch of it.
        assert "at the same time" not in notes and "shared/train · fits 0+1" not in legend, (notes, legend)
        for fit, (first, last) in points_known.items():
            item = card.locator(".legend-item", has_text=f"shared/train · fit {fit}")
            assert item.count() == 1, legend
            # From its first epoch's end to its last's (the x axis is the step).
            drawn = (float(item.get_attribute("data-x0")), float(item.get_attribute("data-x1")))
            assert drawn == (first, last), (fit, drawn)
        return
    # TensorBoard's series carry no file: the points cannot be told apart; said, and drawn as one line.
    assert "shared/train: fits 0 and 1 were running at the same time" in notes, notes
    assert "shared/train · fits 0+1" in legend, legend


@pytest.fixture(scope="module")
def browser():
    yield from running_browser()


@pytest.mark.parametrize("load_fast", [True, False], ids=["load_fast", "python_loader"])
def test_tab_tells_each_process_fit_by_its_writer(logdir, browser, load_fast):
    count = len(events_dataframe(logdir).query("run == 'shared/train'"))
    with tensorboard(str(logdir), load_fast=load_fast, start_timeout=180, tensorflow=False) as server:

        def loaded() -> bool:
            runs = {r["run"]: r["count"] for r in server.plugin_json("runs")["runs"]}
            served = server.plugin_json("scalars?run=shared/train&tag=epoch_loss")
            return runs.get("shared/train") == count and len(served["value"]) > 0

        server.wait_for(loaded, timeout=180)
        tab = Tab(browser, server.base)
        try:
            tab.wait_ready()
            check_tab(tab.page, tab.ui, points_known=None)
        finally:
            tab.close()


def test_report_tells_each_process_fit_by_its_writer(logdir, tmp_path, browser):
    out = tmp_path / "report.html"
    assert cli.main(["report", str(logdir), "-o", str(out), "--no-progress"]) == 0
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"file://{out}")
        page.wait_for_function(
            "() => document.querySelector('.cbe-app')?.dataset.state === 'ready'", polling=100, timeout=60_000
        )
        check_tab(page, page, points_known=epoch_end_steps(logdir))
    finally:
        context.close()
