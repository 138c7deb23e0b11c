"""The learning-rate line is the rate each epoch trained with, in every callback order (issue 18).

Keras's TensorBoard logs `epoch_learning_rate` of epoch e as the rate during
e when it runs before ReduceLROnPlateau, and as the rate after that epoch's
cut when it runs after it. Real fits with `callbacks.TensorBoard` first and
last, under ReduceLROnPlateau (acts in on_epoch_end) and LearningRateScheduler
(acts in on_epoch_begin), and a probe callback that reads the optimizer's
rate in every batch: what `plot` draws (the figure's line), what the report
draws and what the tab draws on a real `tensorboard` (both loaders) (the
chart's legend read under the pointer, in Chromium) equal the probe's rates.
On the epoch axis, each lr_change marker sits where the line steps (the end
of the epoch before the new rate's first epoch), whichever callback acted:
a LearningRateScheduler's event carries the epoch about to begin.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tb_callbacks_plugin import read_events, scalars_dataframe  # noqa: E402
from tb_callbacks_plugin.cli import main as cli  # noqa: E402
from tests.browser import running_browser  # noqa: E402
from tests.tb_server import tensorboard  # noqa: E402
from tests.test_cli_fits import _figure as plot_figure  # noqa: E402
from tests.test_frontend import Tab  # noqa: E402

pytestmark = pytest.mark.timeout(600)

EPOCHS = 5
STEPS = 4  # per epoch
# experiment -> (scheduler, TensorBoard first in the list)
ORDERS = {
    "reduce_first": ("reduce", True),
    "reduce_last": ("reduce", False),
    "schedule_first": ("schedule", True),
    "schedule_last": ("schedule", False),
}
RATES = "trained_rates.json"


def _fit(log_dir: str, scheduler: str, tensorboard_first: bool) -> list[float]:
    """One real fit; returns the rate the optimizer trained each epoch with."""
    import keras
    import numpy as np

    from tb_callbacks_plugin import callbacks

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16 * STEPS, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    seen: dict[int, set[float]] = {}

    class Probe(keras.callbacks.Callback):
        """The rate each batch of each epoch trained with."""

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            seen.setdefault(self.epoch, set()).add(rate)

    if scheduler == "reduce":
        # Halves the rate at the end of every epoch from epoch 1 on: no loss ever improves by 10.
        acting = callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=10, factor=0.5)
    else:
        acting = callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 * 0.5**epoch)
    board = callbacks.TensorBoard(log_dir)
    order = [board, acting] if tensorboard_first else [acting, board]
    model.fit(x, y, epochs=EPOCHS, batch_size=16, verbose=0, callbacks=[*order, Probe()])
    assert all(len(rates) == 1 for rates in seen.values()), seen  # one rate per epoch
    return [next(iter(seen[e])) for e in range(EPOCHS)]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lr_line")
    trained = {name: _fit(str(root / name), *how) for name, how in ORDERS.items()}
    (root.parent / f"{root.name}-{RATES}").write_text(json.dumps(trained))
    return root


def trained_of(logdir: Path) -> dict[str, list[float]]:
    return json.loads((logdir.parent / f"{logdir.name}-{RATES}").read_text())


def epoch_ends(logdir: Path, experiment: str) -> list[int]:
    """The global step at which each epoch ended (the one fit's train_begin step + k * steps)."""
    (begin,) = [e for e in read_events(str(logdir / experiment)) if e.kind == "train_begin"]
    return [begin.step + (k + 1) * begin.data["steps"] for k in range(EPOCHS)]


def pointer_xs(ends: list[int]) -> list[float]:
    """Where to read each epoch's rate on a step axis: inside the epoch (before the first end for epoch 0)."""
    return [ends[0] - STEPS / 2] + [(a + b) / 2 for a, b in zip(ends, ends[1:], strict=False)]


def test_the_fits_show_what_the_chart_must_not_trust(logdir):
    """The case is real: identical training and events, one halving apart in the recorded scalar."""
    trained = trained_of(logdir)
    halved = [0.01, 0.01, 0.005, 0.0025, 0.00125]
    assert trained["reduce_first"] == trained["reduce_last"] == pytest.approx(halved)
    scheduled = [0.01 * 0.5**e for e in range(EPOCHS)]
    assert trained["schedule_first"] == trained["schedule_last"] == pytest.approx(scheduled)

    def changes(name):
        return [
            (e.step, e.data["old"], e.data["new"])
            for e in read_events(str(logdir / name))
            if e.kind == "lr_change"
        ]

    assert changes("reduce_first") == changes("reduce_last") and len(changes("reduce_first")) == 4
    assert changes("schedule_first") == changes("schedule_last") and len(changes("schedule_first")) == 4
    frame = scalars_dataframe(str(logdir), tags=["epoch_learning_rate"]).sort_values("step")
    recorded = {name: list(frame[frame["run"] == f"{name}/train"]["value"]) for name in ORDERS}
    assert recorded["reduce_first"] == pytest.approx(trained["reduce_first"])
    # TensorBoard after the cut: each epoch's scalar is the rate after its end (the next epoch's).
    after = trained["reduce_first"]
    assert recorded["reduce_last"] == pytest.approx(after[1:] + [after[-1] / 2])


def _polyline_at(xs: list[float], ys: list[float], x: float) -> float:
    """The line's height at x (its first point's left of it)."""
    if x <= xs[0]:
        return ys[0]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False):
        if x0 <= x <= x1 and x1 > x0:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    raise AssertionError(f"no line at x={x}")


@pytest.mark.parametrize("experiment", list(ORDERS))
def test_plot_draws_the_rate_each_epoch_trained_with(logdir, tmp_path, monkeypatch, experiment):
    fig = plot_figure(str(logdir), tmp_path, monkeypatch, "--run", f"^{experiment}/", "--no-progress")
    (ax,) = [a for a in fig.axes if a.get_title().endswith("epoch_learning_rate")]
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "train"]
    xs, ys = list(map(float, line.get_xdata())), list(map(float, line.get_ydata()))
    ends = epoch_ends(logdir, experiment)
    drawn = [_polyline_at(xs, ys, x) for x in pointer_xs(ends)]
    assert drawn == pytest.approx(trained_of(logdir)[experiment], rel=1e-6)
    # The recorded points (the dots) are at the epochs' ends, with the rate that epoch trained with.
    (dots,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("_") and ln.get_marker() == "."]
    assert list(map(float, dots.get_xdata())) == ends
    assert list(map(float, dots.get_ydata())) == pytest.approx(trained_of(logdir)[experiment], rel=1e-6)
    # The lr_change lines stand where the rate line steps (vertical segments), and nowhere else within it.
    steps = [xs[i] for i in range(1, len(xs)) if xs[i] == xs[i - 1] and ys[i] != ys[i - 1]]
    trained = trained_of(logdir)[experiment]
    assert steps == [ends[e] for e in range(EPOCHS - 1) if trained[e + 1] != trained[e]]
    (marks,) = [c for c in ax.collections if c.get_label() == "_line_lr_change"]
    marked = sorted({float(segment[0][0]) for segment in marks.get_segments()})
    assert [x for x in marked if x < xs[-1]] == steps, (marked, steps)


def hover_rates(page, card, xs: list[float]) -> list[float]:
    """The LR chart's legend value with the pointer at each x (step axis), as a person reads it."""
    card.scroll_into_view_if_needed()
    over = card.locator(".u-over").bounding_box()
    lo, hi = map(float, card.get_attribute("data-x-scale").split(","))
    out = []
    for x in xs:
        page.mouse.move(over["x"] + (x - lo) / (hi - lo) * over["width"], over["y"] + over["height"] / 2)
        page.wait_for_timeout(50)  # the legend follows the pointer on uPlot's next cursor update
        out.append(float(card.locator(".legend-value").first.inner_text()))
    return out


def markers_at_the_steps(page, root, experiment: str, trained: list[float]) -> list[float]:
    """On the epoch axis, the lr_change marker under the pointer at each corner of the rate line.

    Asserts that each corner (where the line steps from one epoch's rate to
    the next's) has an lr_change marker whose `new` is the rate the next
    epoch trained with, as a person reads it in the tooltip; returns the
    corners' x. `root` is the tab's frame (or the report's page).
    """
    root.locator("label.segment[data-value=epoch]").click()
    kinds = root.locator(".side-section", has_text="Event kinds").locator(".check-row")
    for i in range(kinds.count()):
        if "lr_change" not in kinds.nth(i).inner_text():
            kinds.nth(i).locator("input").uncheck()
    card = root.locator(".chart-card[data-tag=epoch_learning_rate]")
    item = card.locator(".legend-item").first

    def corners() -> list[float]:
        text = item.get_attribute("data-corners") or ""
        return sorted({float(x) for x in text.split(",") if x})

    # The epoch axis is drawn once the corners are epochs (on the step axis they are steps >= STEPS).
    deadline = 100
    while not (corners() and max(corners()) < EPOCHS - 1 + 1e-9 and card.get_attribute("data-x-scale")):
        deadline -= 1
        assert deadline, (experiment, corners())
        page.wait_for_timeout(100)
    page.wait_for_timeout(200)
    found = corners()
    card.scroll_into_view_if_needed()
    over = card.locator(".u-over").bounding_box()
    lo, hi = map(float, card.get_attribute("data-x-scale").split(","))
    tooltip = root.locator(".tooltip")
    for x in found:
        page.mouse.move(over["x"] + (x - lo) / (hi - lo) * over["width"], over["y"] + over["height"] / 2)
        page.wait_for_timeout(80)
        assert tooltip.is_visible(), f"{experiment}: no event marker where the rate line steps (x={x})"
        assert tooltip.locator(".kind-title").inner_text().strip() == "lr_change", experiment
        new = float(tooltip.locator(".data-list dt:text-is('new') + dd").inner_text())
        # The line steps at the end of epoch x to the rate epoch x + 1 trained with: the marker's too.
        assert x == int(x) and new == pytest.approx(trained[int(x) + 1], rel=1e-3), (experiment, x, new)
    page.mouse.move(0, 0)
    # A corner at the end of each epoch whose next epoch trained with another rate, and only there.
    assert found == [e for e in range(EPOCHS - 1) if trained[e + 1] != trained[e]], (experiment, found)
    return found


@pytest.fixture(scope="module")
def browser():
    yield from running_browser()


def test_report_draws_the_rate_each_epoch_trained_with(logdir, tmp_path, browser):
    trained = trained_of(logdir)
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        for experiment in ORDERS:
            out = tmp_path / f"{experiment}.html"
            argv = ["report", str(logdir), "-o", str(out), "--run", f"^{experiment}/", "--no-progress"]
            assert cli.main(argv) == 0
            page = context.new_page()
            page.goto(f"file://{out}")
            page.wait_for_function(
                "() => document.querySelector('.cbe-app')?.dataset.state === 'ready'",
                polling=100,
                timeout=60_000,
            )
            card = page.locator(".chart-card[data-tag=epoch_learning_rate]")
            drawn = hover_rates(page, card, pointer_xs(epoch_ends(logdir, experiment)))
            assert drawn == pytest.approx(trained[experiment], rel=1e-3), experiment
            markers_at_the_steps(page, page, experiment, trained[experiment])
            page.close()
    finally:
        context.close()


@pytest.mark.parametrize("load_fast", [True, False], ids=["load_fast", "python_loader"])
def test_tab_draws_the_rate_each_epoch_trained_with(logdir, browser, load_fast):
    trained = trained_of(logdir)
    with tensorboard(str(logdir), load_fast=load_fast, start_timeout=180, tensorflow=False) as server:

        def loaded() -> bool:
            for name in ORDERS:
                series = server.plugin_json(f"scalars?run={name}/train&tag=epoch_learning_rate")
                assert len(series["value"]) == EPOCHS, name
                events = server.plugin_json(f"events?run={name}/train")["events"]
                assert [e["kind"] for e in events].count("train_end") == 1, name
            return True

        server.wait_for(loaded, timeout=180)
        for experiment in ORDERS:
            tab = Tab(browser, server.base)
            try:
                tab.wait_ready()
                runs = tab.ui.locator("input[aria-label='Filter runs by regular expression']")
                runs.fill(f"^{experiment}/")
                tab.wait_ready()
                tab.next_frame()
                card = tab.ui.locator(".chart-card[data-tag=epoch_learning_rate]")
                drawn = hover_rates(tab.page, card, pointer_xs(epoch_ends(logdir, experiment)))
                assert drawn == pytest.approx(trained[experiment], rel=1e-3), experiment
                markers_at_the_steps(tab.page, tab.ui, experiment, trained[experiment])
                assert tab.errors == []
            finally:
                tab.close()
