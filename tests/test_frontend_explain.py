"""Why a callback acted, drawn where it acted (issue 23): real Chromium, real `tensorboard` on both
loaders, and the offline report, on logdirs of real fits.

`stall`: val_loss never improves by min_delta=10, so ReduceLROnPlateau cuts
at epochs 1 and 3 (cooldown 2 in between) and EarlyStopping stops at epoch 3
with the weights of epoch 0 restored: known decisions from a real metric.
`noval`: save_best_only on val_loss without validation data: the monitor was
never written. Selecting (or hovering) an event draws its decision on the
chart of the metric it monitored and shows the sentence; the sentence is the
one tb_callbacks_plugin.explain gives for the event and series the routes
serve. Screenshots land in `test-output/frontend/explain-*`.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests import test_frontend_stories as stories  # noqa: E402
from tests.browser import CHROMIUM, available  # noqa: E402
from tests.needs import need  # noqa: E402
from tests.tb_server import tensorboard  # noqa: E402
from tests.test_frontend import Tab  # noqa: E402
from tests.test_frontend_stories import (  # noqa: E402
    _data,
    _fit,
    _model,
    chart_pixels,
    events_of,
    near_colour,
    runs_of,
    swatch_rgb,
)

pytestmark = pytest.mark.timeout(600)
browser = stories.browser  # the module-scoped headless Chromium of the stories' tests
SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "frontend"


@pytest.fixture(autouse=True, scope="module")
def _chromium():
    need(available(), f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    import keras

    from tb_callbacks_plugin import callbacks

    root = tmp_path_factory.mktemp("explain")
    keras.utils.set_random_seed(0)
    _fit(
        _model(),
        str(root / "stall"),
        8,
        [
            callbacks.ReduceLROnPlateau(monitor="val_loss", min_delta=10, patience=1, cooldown=2, factor=0.5),
            callbacks.EarlyStopping(monitor="val_loss", min_delta=10, patience=3, restore_best_weights=True),
        ],
    )
    x, y = _data()
    save = callbacks.ModelCheckpoint(str(root / "b.keras"), monitor="val_loss", save_best_only=True)
    with pytest.warns(UserWarning, match="val_loss"):
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[save, callbacks.TensorBoard(str(root / "noval"))])
    # Diverges within the first epoch; batch scalars written, so the NaN stop is drawn on batch_loss.
    diverge = [callbacks.TerminateOnNaN(), callbacks.TensorBoard(str(root / "diverged"), update_freq=1)]
    _model(1e9).fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=diverge)
    return root


@pytest.fixture(scope="module", params=[True, False], ids=["load_fast", "python_loader"])
def tb(request, logdir):
    with tensorboard(str(logdir), load_fast=request.param, tensorflow=False) as server:
        server.load_fast = request.param
        server.wait_for(lambda: {"stall/train", "noval/train", "diverged/train"} <= runs_of(server))
        server.wait_for(lambda: any(e["kind"] == "train_end" for e in events_of(server, "diverged/train")))
        server.wait_for(lambda: any(e["kind"] == "train_end" for e in events_of(server, "stall/train")))
        server.wait_for(lambda: len(validation_loss(server)["value"]) == 4, timeout=120)
        yield server


def validation_loss(server) -> dict:
    try:
        return server.plugin_json(f"scalars?run={quote('stall/validation')}&tag=epoch_loss")
    except Exception:  # noqa: BLE001 - not served yet
        return {"value": []}


def expected(server, kind: str) -> dict:
    """tb_callbacks_plugin.explain's answer for the stall event of `kind`, from what the routes serve."""
    from tb_callbacks_plugin.explain import explain

    (event,) = [
        e for e in events_of(server, "stall/train") if e["kind"] == kind and not e["data"].get("detected")
    ][:1]
    series = validation_loss(server)
    return explain(event, dict(zip(series["step"], series["value"], strict=True)))


def row(tab: Tab, kind: str, nth: int = 0):
    cell = tab.ui.locator("[data-col=kind]", has_text=re.compile(f"^{kind}$"))
    return tab.ui.locator(".table-viewport .grid-row", has=cell).nth(nth)


def open_stall(browser, server) -> Tab:
    tab = Tab(browser, server.base)
    tab.wait_ready()
    tab.ui.locator("input[aria-label='Filter runs by regular expression']").fill("^stall")
    tab.wait_ready()
    tab.ui.locator("label.segment[data-value=epoch]").click()  # x = epoch: marks sit at their epochs
    tab.wait_ready()
    tab.next_frame()
    return tab


def point_px(img: dict, card_y: str, x: float, y: float) -> tuple[int, int]:
    ymin, ymax = map(float, card_y.split(","))
    px = round(img["left"] + (x - img["min"]) / (img["max"] - img["min"]) * img["plotWidth"])
    py = round(img["top"] + (ymax - y) / (ymax - ymin) * img["plotHeight"])
    return px, py


def dot_pixels(tab: Tab, colour, point: dict) -> int:
    """Pixels of `colour` in a small box around `point` (epoch, value) on the epoch_loss chart."""
    img = chart_pixels(tab, "epoch_loss")
    card_y = tab.attr(".chart-card[data-tag=epoch_loss]", "data-y-scale")
    px, py = point_px(img, card_y, point["epoch"], point["value"])
    assert (
        img["left"] <= px <= img["left"] + img["plotWidth"]
        and img["top"] <= py <= img["top"] + img["plotHeight"]
    )
    r = round(4 * img["pr"])
    return near_colour(img, colour, range(px - r, px + r + 1), range(py - r, py + r + 1))


def shot(tab: Tab, name: str, load_fast: bool) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(
        path=str(SHOTS / f"explain-{name}-{'fast' if load_fast else 'python'}.png"), full_page=True
    )


def test_selecting_early_stop_draws_its_decision_on_val_loss(browser, tb):
    want = expected(tb, "early_stop")
    assert want["metric_written"] and want["window"] == [1, 3] and want["restored_epoch"] == 0
    tab = open_stall(browser, tb)
    card = tab.ui.locator(".chart-card[data-tag=epoch_loss]")
    colour = line_colours(card)["stall/validation"]
    before = dot_pixels(tab, colour, want["best"])
    assert card.locator(".chart-explain").is_hidden()
    row(tab, "early_stop").click()
    tab.ui.locator(".details .details-why").wait_for()
    tab.ui.locator("button", has_text="Reset zoom").click()  # the row click centred the charts on the stop
    tab.next_frame()
    assert tab.ui.locator(".details .details-why").inner_text() == want["sentence"]
    assert (
        "did not improve on" in want["sentence"]
        and "by more than 10 for 3 epochs (epochs 2-4)" in want["sentence"]
    )
    caption = card.locator(".chart-explain")
    caption.wait_for()
    assert caption.inner_text() == f"Why (early_stop, stall/train): {want['sentence']}"
    # The best value is a filled dot in the validation line's colour, where the line alone had a few pixels.
    after = dot_pixels(tab, colour, want["best"])
    assert after > before + 15, (before, after)
    shot(tab, "early-stop", tb.load_fast)
    tab.close()


def test_hovering_a_cut_draws_its_window_and_cooldown(browser, tb):
    want = expected(tb, "lr_change")
    assert want["window"] == [1, 1] and want["cooldown"] == [2, 3]
    tab = open_stall(browser, tb)
    card = tab.ui.locator(".chart-card[data-tag=epoch_loss]")
    over = card.locator(".u-over").bounding_box()
    img = chart_pixels(tab, "epoch_loss")
    x = over["x"] + (want["epoch"] - img["min"]) / (img["max"] - img["min"]) * over["width"]
    tab.page.mouse.move(x, over["y"] + over["height"] / 2)
    caption = card.locator(".chart-explain")
    caption.wait_for()
    assert caption.inner_text() == f"Why (lr_change, stall/train): {want['sentence']}"
    assert "cooldown epochs 3-4" in want["sentence"]
    shot(tab, "lr-change-hover", tb.load_fast)
    tab.page.mouse.move(over["x"] + over["width"] + 40, over["y"] - 40)  # away: nothing hovered or selected
    caption.wait_for(state="hidden")
    tab.close()


def column_pixels(tab: Tab, colour, tag: str, x: float) -> int:
    """Pixels of `colour` in the plot's columns at `x` (±1 px), top to bottom, on the chart of `tag`."""
    img = chart_pixels(tab, tag)
    px = round(img["left"] + (x - img["min"]) / (img["max"] - img["min"]) * img["plotWidth"])
    assert img["left"] <= px <= img["left"] + img["plotWidth"]
    top = round(img["top"])
    return near_colour(img, colour, range(px - 1, px + 2), range(top + 30, top + round(img["plotHeight"])))


def line_colours(card) -> dict:
    return {
        item.locator(".legend-run").inner_text(): swatch_rgb(
            item.locator(".legend-swatch").get_attribute("style")
        )
        for item in card.locator(".legend-item").all()
    }


def test_a_nan_stop_is_drawn_on_the_batch_loss(browser, tb):
    from tb_callbacks_plugin.explain import explain

    (event,) = [e for e in events_of(tb, "diverged/train") if e["kind"] == "nan_terminated"]
    want = explain(event)
    assert want["non_finite"]["step"] == event["step"] and want["last_finite"] is not None
    tab = Tab(browser, tb.base)
    tab.wait_ready()
    tab.ui.locator("input[aria-label='Filter runs by regular expression']").fill("^diverged")
    tab.wait_ready()
    tab.ui.locator(".sidebar .check-row", has_text="batch_loss").locator("input").check()
    tab.wait_ready()
    card = tab.ui.locator(".chart-card[data-tag=batch_loss]")
    card.wait_for()
    colour = line_colours(card)["diverged/train"]
    before = column_pixels(tab, colour, "batch_loss", want["non_finite"]["step"])
    row(tab, "nan_terminated").click()
    tab.ui.locator("button", has_text="Reset zoom").click()
    caption = card.locator(".chart-explain")
    caption.wait_for()
    assert caption.inner_text() == f"Why (nan_terminated, diverged/train): {want['sentence']}"
    assert tab.ui.locator(".details .details-why").inner_text() == want["sentence"]
    # The step that was not finite: a dashed line in the run's colour across the plot (the event's
    # own marker line there is in the kind's colour).
    after = column_pixels(tab, colour, "batch_loss", want["non_finite"]["step"])
    assert after > before + 20, (before, after)
    card.scroll_into_view_if_needed()
    shot(tab, "nan", tb.load_fast)
    tab.close()


def test_unwritten_monitor_is_said_not_drawn(browser, tb):
    tab = Tab(browser, tb.base)
    tab.wait_ready()
    tab.ui.locator("input[aria-label='Filter runs by regular expression']").fill("^noval")
    tab.wait_ready()
    row(tab, "checkpoint_saved").click()
    why = tab.ui.locator(".details .details-why")
    why.wait_for()
    assert why.inner_text().endswith("val_loss was not written to the logs: no curve to draw it on")
    assert tab.ui.locator(".chart-explain:visible").count() == 0
    shot(tab, "not-written", tb.load_fast)
    tab.close()


def test_the_report_carries_the_explanation_offline(browser, logdir, tmp_path):
    from tb_callbacks_plugin import read_events
    from tb_callbacks_plugin.cli import main as cli
    from tb_callbacks_plugin.explain import explain

    out = tmp_path / "report.html"
    assert cli.main(["report", str(logdir), "-o", str(out), "--no-progress"]) == 0
    (stop,) = [e for e in read_events(str(logdir)) if e.kind == "early_stop"]
    fields = {
        "kind": stop.kind,
        "step": stop.step,
        "epoch": stop.epoch,
        "source": stop.source,
        "data": stop.data,
    }
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("file://" + str(out))
    page.wait_for_function(
        "() => document.querySelector('.cbe-app')?.dataset.state === 'ready'", timeout=60_000
    )
    cell = page.locator("[data-col=kind]", has_text=re.compile("^early_stop$"))
    page.locator(".table-viewport .grid-row", has=cell).first.click()
    why = page.locator(".details .details-why")
    why.wait_for()
    # The sentence's numbers are the event's own; the report's series only adds what the event lacks.
    assert why.inner_text() == explain(fields)["sentence"]
    page.locator(".chart-card[data-tag=epoch_loss] .chart-explain").wait_for()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "explain-report.png"), full_page=True)
    assert errors == []
    context.close()
